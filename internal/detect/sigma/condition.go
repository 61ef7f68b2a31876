package sigma

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Condition is one parsed condition of a detection. A detection with a list
// of conditions matches when any of them matches.
type Condition struct {
	Source string // the condition as written
	Expr   Expr
	Pos    Position // position of the condition string in the file
}

// Expr is a node of a condition syntax tree: *OrExpr, *AndExpr, *NotExpr,
// *IdentExpr or *OfExpr. String renders it fully parenthesised.
type Expr interface {
	String() string
	// Column is the 1-based column (in characters) of the node in the
	// condition string.
	Column() int
	exprNode()
}

// OrExpr matches when any argument matches.
type OrExpr struct {
	Args []Expr
	Col  int
}

// AndExpr matches when every argument matches.
type AndExpr struct {
	Args []Expr
	Col  int
}

// NotExpr negates X.
type NotExpr struct {
	X   Expr
	Col int
}

// IdentExpr refers to one search identifier.
type IdentExpr struct {
	Name  string
	Index int // index into Detection.Identifiers
	Col   int
}

// OfExpr is "1 of pattern", "N of pattern", "all of pattern" or the same
// with "them" (every identifier not starting with "_").
type OfExpr struct {
	All     bool   // "all of": every identifier in Indices must match
	Count   int    // otherwise at least Count of them must match (1 for "1 of")
	Pattern string // the identifier pattern, "" for them
	Them    bool
	Indices []int // matching identifiers, in detection order; never empty
	Col     int
}

func (e *OrExpr) exprNode()    {}
func (e *AndExpr) exprNode()   {}
func (e *NotExpr) exprNode()   {}
func (e *IdentExpr) exprNode() {}
func (e *OfExpr) exprNode()    {}

// Column implements Expr.
func (e *OrExpr) Column() int { return e.Col }

// Column implements Expr.
func (e *AndExpr) Column() int { return e.Col }

// Column implements Expr.
func (e *NotExpr) Column() int { return e.Col }

// Column implements Expr.
func (e *IdentExpr) Column() int { return e.Col }

// Column implements Expr.
func (e *OfExpr) Column() int { return e.Col }

func joinExprs(args []Expr, op string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = a.String()
	}
	return "(" + strings.Join(parts, " "+op+" ") + ")"
}

func (e *OrExpr) String() string    { return joinExprs(e.Args, "or") }
func (e *AndExpr) String() string   { return joinExprs(e.Args, "and") }
func (e *NotExpr) String() string   { return "not " + e.X.String() }
func (e *IdentExpr) String() string { return e.Name }
func (e *OfExpr) String() string {
	q := strconv.Itoa(e.Count)
	if e.All {
		q = "all"
	}
	target := e.Pattern
	if e.Them {
		target = "them"
	}
	return q + " of " + target
}

// ConditionError is a problem in a condition string.
type ConditionError struct {
	Col int // 1-based column in the condition string
	Msg string
}

func (e *ConditionError) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

// ParseCondition parses a condition against the given search identifier
// names (in detection order) using DefaultLimits. Identifier indices in the
// result refer to positions in names. Errors are *ConditionError.
func ParseCondition(src string, names []string) (Expr, error) {
	e, err := parseCondition(src, names, DefaultLimits)
	if err != nil {
		return nil, err
	}
	return e, nil
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokLParen
	tokRParen
	tokWord
	tokPipe
)

type token struct {
	kind tokKind
	text string
	off  int // byte offset
}

// condParser is a recursive descent parser for conditions. Precedence, from
// loosest to tightest: or, and, not, "x of", parentheses.
type condParser struct {
	src      string
	toks     []token
	pos      int
	names    []string
	depth    int
	maxDepth int
}

func parseCondition(src string, names []string, lim Limits) (Expr, *ConditionError) {
	lim = lim.withDefaults()
	if len(src) > lim.MaxConditionLength {
		return nil, &ConditionError{Col: 1, Msg: fmt.Sprintf("condition is too long: %d bytes (limit %d)", len(src), lim.MaxConditionLength)}
	}
	if !utf8.ValidString(src) {
		return nil, &ConditionError{Col: 1, Msg: "condition is not valid UTF-8"}
	}
	cp := &condParser{src: src, names: names, maxDepth: lim.MaxConditionDepth}
	cp.lex()
	for _, t := range cp.toks {
		if t.kind == tokPipe {
			return nil, cp.errAt(t, "aggregation expressions (\"| count() by ...\") were removed in Sigma v2: express them as a correlation rule (event_count, value_count, ...)")
		}
		if t.kind == tokWord && strings.EqualFold(t.text, "near") {
			return nil, cp.errAt(t, "the near operator was removed in Sigma v2: express it as a temporal correlation rule")
		}
	}
	if len(cp.toks) == 1 {
		return nil, &ConditionError{Col: 1, Msg: "empty condition"}
	}
	e, err := cp.parseOr()
	if err != nil {
		return nil, err
	}
	if t := cp.peek(); t.kind != tokEOF {
		if t.kind == tokRParen {
			return nil, cp.errAt(t, "unbalanced parentheses: unexpected \")\"")
		}
		return nil, cp.errAt(t, fmt.Sprintf("expected \"and\", \"or\" or end of condition, found %s", describe(t)))
	}
	return e, nil
}

func (cp *condParser) lex() {
	s := cp.src
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r):
			i += size
		case r == '(':
			cp.toks = append(cp.toks, token{kind: tokLParen, text: "(", off: i})
			i++
		case r == ')':
			cp.toks = append(cp.toks, token{kind: tokRParen, text: ")", off: i})
			i++
		case r == '|':
			cp.toks = append(cp.toks, token{kind: tokPipe, text: "|", off: i})
			i++
		default:
			j := i
			for j < len(s) {
				r, size := utf8.DecodeRuneInString(s[j:])
				if unicode.IsSpace(r) || r == '(' || r == ')' || r == '|' {
					break
				}
				j += size
			}
			cp.toks = append(cp.toks, token{kind: tokWord, text: s[i:j], off: i})
			i = j
		}
	}
	cp.toks = append(cp.toks, token{kind: tokEOF, off: len(s)})
}

func (cp *condParser) col(t token) int { return utf8.RuneCountInString(cp.src[:t.off]) + 1 }

func (cp *condParser) errAt(t token, msg string) *ConditionError {
	return &ConditionError{Col: cp.col(t), Msg: msg}
}

func (cp *condParser) peek() token { return cp.toks[cp.pos] }

func (cp *condParser) next() token {
	t := cp.toks[cp.pos]
	if t.kind != tokEOF {
		cp.pos++
	}
	return t
}

// isKeyword reports whether t is the keyword kw (case-insensitive).
func isKeyword(t token, kw string) bool { return t.kind == tokWord && strings.EqualFold(t.text, kw) }

func isReserved(w string) bool {
	switch strings.ToLower(w) {
	case "and", "or", "not", "of", "them", "all":
		return true
	}
	return false
}

func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "end of condition"
	case tokLParen, tokRParen:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func (cp *condParser) parseOr() (Expr, *ConditionError) {
	first := cp.peek()
	x, err := cp.parseAnd()
	if err != nil {
		return nil, err
	}
	args := []Expr{x}
	for isKeyword(cp.peek(), "or") {
		cp.next()
		y, err := cp.parseAnd()
		if err != nil {
			return nil, err
		}
		args = append(args, y)
	}
	if len(args) == 1 {
		return x, nil
	}
	return &OrExpr{Args: args, Col: cp.col(first)}, nil
}

func (cp *condParser) parseAnd() (Expr, *ConditionError) {
	first := cp.peek()
	x, err := cp.parseUnary()
	if err != nil {
		return nil, err
	}
	args := []Expr{x}
	for isKeyword(cp.peek(), "and") {
		cp.next()
		y, err := cp.parseUnary()
		if err != nil {
			return nil, err
		}
		args = append(args, y)
	}
	if len(args) == 1 {
		return x, nil
	}
	return &AndExpr{Args: args, Col: cp.col(first)}, nil
}

func (cp *condParser) enter(t token) *ConditionError {
	cp.depth++
	if cp.depth > cp.maxDepth {
		return cp.errAt(t, fmt.Sprintf("condition is nested too deeply (limit %d levels)", cp.maxDepth))
	}
	return nil
}

func (cp *condParser) parseUnary() (Expr, *ConditionError) {
	t := cp.peek()
	if isKeyword(t, "not") {
		cp.next()
		if err := cp.enter(t); err != nil {
			return nil, err
		}
		x, err := cp.parseUnary()
		cp.depth--
		if err != nil {
			return nil, err
		}
		return &NotExpr{X: x, Col: cp.col(t)}, nil
	}
	return cp.parsePrimary()
}

func (cp *condParser) parsePrimary() (Expr, *ConditionError) {
	t := cp.next()
	switch t.kind {
	case tokEOF:
		return nil, cp.errAt(t, "unexpected end of condition: expected a search identifier, \"not\", \"(\" or \"x of\"")
	case tokRParen:
		return nil, cp.errAt(t, "unexpected \")\": expected a search identifier, \"not\", \"(\" or \"x of\"")
	case tokLParen:
		if err := cp.enter(t); err != nil {
			return nil, err
		}
		x, err := cp.parseOr()
		cp.depth--
		if err != nil {
			return nil, err
		}
		if c := cp.next(); c.kind != tokRParen {
			if c.kind == tokEOF {
				return nil, cp.errAt(t, "unbalanced parentheses: \"(\" is never closed")
			}
			return nil, cp.errAt(c, fmt.Sprintf("expected \")\", found %s", describe(c)))
		}
		return x, nil
	}
	// A word.
	if isKeyword(cp.peek(), "of") {
		return cp.parseOf(t)
	}
	if isReserved(t.text) {
		return nil, cp.errAt(t, fmt.Sprintf("unexpected keyword %q: expected a search identifier", t.text))
	}
	if strings.Contains(t.text, "*") {
		return nil, cp.errAt(t, fmt.Sprintf("wildcard identifier %q is only allowed after \"1 of\" or \"all of\"", t.text))
	}
	for i, n := range cp.names {
		if n == t.text {
			return &IdentExpr{Name: t.text, Index: i, Col: cp.col(t)}, nil
		}
	}
	return nil, cp.errAt(t, fmt.Sprintf("unknown search identifier %q", t.text))
}

// parseOf parses "<quantifier> of <target>"; q is the quantifier token.
func (cp *condParser) parseOf(q token) (Expr, *ConditionError) {
	cp.next() // "of"
	e := &OfExpr{Col: cp.col(q)}
	if strings.EqualFold(q.text, "all") {
		e.All = true
	} else {
		n, err := strconv.Atoi(q.text)
		if err != nil || n < 1 || strings.HasPrefix(q.text, "+") {
			return nil, cp.errAt(q, fmt.Sprintf("invalid quantifier %q: expected \"1 of\", \"all of\" or a positive count", q.text))
		}
		e.Count = n
	}
	target := cp.next()
	if target.kind != tokWord || isReserved(target.text) && !strings.EqualFold(target.text, "them") {
		return nil, cp.errAt(target, fmt.Sprintf("expected a search identifier pattern or \"them\" after \"of\", found %s", describe(target)))
	}
	if strings.EqualFold(target.text, "them") {
		e.Them = true
		for i, n := range cp.names {
			if !strings.HasPrefix(n, "_") {
				e.Indices = append(e.Indices, i)
			}
		}
		if len(e.Indices) == 0 {
			return nil, cp.errAt(target, "\"them\" matches no search identifier (identifiers starting with \"_\" are excluded)")
		}
	} else {
		e.Pattern = target.text
		for i, n := range cp.names {
			if globMatch(target.text, n) {
				e.Indices = append(e.Indices, i)
			}
		}
		if len(e.Indices) == 0 {
			return nil, cp.errAt(target, fmt.Sprintf("pattern %q matches no search identifier", target.text))
		}
	}
	if !e.All && e.Count > len(e.Indices) {
		return nil, cp.errAt(q, fmt.Sprintf("\"%d of %s\" can never match: only %d search identifiers match", e.Count, target.text, len(e.Indices)))
	}
	return e, nil
}

// globMatch matches name against pattern, where "*" stands for any run of
// characters and every other character matches itself.
func globMatch(pattern, name string) bool {
	// Iterative matcher with single-star backtracking: linear time.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
