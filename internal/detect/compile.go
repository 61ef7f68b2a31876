package detect

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
	"github.com/vigil-sec/vigil/internal/event"
)

// A compiled rule is a tree of nodes evaluated against one event. Selections
// are evaluated at most once per event and rule, however often the
// condition names them.

type node interface {
	eval(c *evalCtx) bool
}

type orNode []node
type andNode []node
type notNode struct{ x node }
type identNode int // index into the rule's selections
type ofNode struct {
	idents []int
	need   int // identifiers that must match
}

func (n orNode) eval(c *evalCtx) bool {
	for _, x := range n {
		if x.eval(c) {
			return true
		}
	}
	return false
}

func (n andNode) eval(c *evalCtx) bool {
	for _, x := range n {
		if !x.eval(c) {
			return false
		}
	}
	return true
}

func (n notNode) eval(c *evalCtx) bool { return !n.x.eval(c) }

func (n identNode) eval(c *evalCtx) bool { return c.selection(int(n)) }

func (n ofNode) eval(c *evalCtx) bool {
	got := 0
	for i, id := range n.idents {
		if c.selection(id) {
			got++
			if got >= n.need {
				return true
			}
		}
		if got+len(n.idents)-i-1 < n.need {
			return false
		}
	}
	return false
}

// selection is a search identifier: any branch, each branch all its items.
type selection [][]*item

func (s selection) eval(c *evalCtx) bool {
	for _, branch := range s {
		ok := true
		for _, it := range branch {
			if !it.eval(c) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// compiler turns one parsed rule into nodes, using the mapping of every
// source the rule reads.
type compiler struct {
	opts    *Options
	file    string
	sources []string
	fields  map[string]int // native field slots shared by all rules, by paths
	regexes *int           // regular expressions compiled so far, for memo keys
}

func (cp *compiler) errorf(pos sigma.Position, format string, args ...any) error {
	return &sigma.Error{File: cp.file, Line: pos.Line, Col: pos.Col, Msg: fmt.Sprintf(format, args...)}
}

func (cp *compiler) detection(d *sigma.Detection) (node, []selection, error) {
	sels := make([]selection, len(d.Identifiers))
	for i, id := range d.Identifiers {
		s, err := cp.selection(id)
		if err != nil {
			return nil, nil, err
		}
		sels[i] = s
	}
	var conds orNode
	for _, c := range d.Conditions {
		n, err := cp.expr(c.Expr)
		if err != nil {
			return nil, nil, err
		}
		conds = append(conds, n)
	}
	if len(conds) == 1 {
		return conds[0], sels, nil
	}
	return conds, sels, nil
}

func (cp *compiler) expr(e sigma.Expr) (node, error) {
	switch e := e.(type) {
	case *sigma.OrExpr:
		out := make(orNode, 0, len(e.Args))
		for _, a := range e.Args {
			n, err := cp.expr(a)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	case *sigma.AndExpr:
		out := make(andNode, 0, len(e.Args))
		for _, a := range e.Args {
			n, err := cp.expr(a)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	case *sigma.NotExpr:
		x, err := cp.expr(e.X)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case *sigma.IdentExpr:
		return identNode(e.Index), nil
	case *sigma.OfExpr:
		need := e.Count
		if e.All {
			need = len(e.Indices)
		}
		return ofNode{idents: e.Indices, need: need}, nil
	}
	return nil, fmt.Errorf("unsupported condition node %T", e)
}

func (cp *compiler) selection(id *sigma.SearchIdentifier) (selection, error) {
	out := make(selection, 0, len(id.Branches))
	for _, b := range id.Branches {
		branch := make([]*item, 0, len(b.Items))
		for _, it := range b.Items {
			ci, err := cp.item(it)
			if err != nil {
				return nil, err
			}
			branch = append(branch, ci)
		}
		// The items of a branch are linked with AND, so cheap ones go first
		// and the expensive ones run only if those match.
		sort.SliceStable(branch, func(i, j int) bool { return branch[i].cost() < branch[j].cost() })
		out = append(out, branch)
	}
	return out, nil
}

// nativeAliases are native fields that decoders copy unchanged into an
// envelope field, per source. Reading the envelope saves a walk through
// the record, and these fields are in nearly every rule.
var nativeAliases = map[string]map[string]string{
	event.SourceCloudTrail: {"eventName": "action", "eventSource": "service"},
	event.SourceGCPAudit:   {"protoPayload.methodName": "action", "protoPayload.serviceName": "service"},
}

// NativeAliases returns, per source, the native fields the engine reads from
// the envelope instead, and the envelope field for each. Decoders must copy
// these fields unchanged; a test of the decoders holds them to it.
func NativeAliases() map[string]map[string]string { return nativeAliases }

// fieldRef resolves a rule's field name to the envelope or to native paths.
func (cp *compiler) fieldRef(name string, pos sigma.Position) (fieldRef, error) {
	if rest, ok := strings.CutPrefix(name, event.EnvelopePrefix); ok {
		if rest == "resources" {
			return fieldRef{name: name, resources: true, id: cp.slot("\x00resources")}, nil
		}
		g := event.EnvelopeGetter(rest)
		if g == nil {
			return fieldRef{}, cp.errorf(pos, "unknown envelope field %q: use one of vigil.%s or vigil.resources",
				name, strings.Join(event.EnvelopeFieldNames(), ", vigil."))
		}
		return fieldRef{name: name, envelope: g, action: rest == "action", id: cp.slot("\x00" + rest)}, nil
	}
	if len(cp.sources) == 1 {
		if env, ok := nativeAliases[cp.sources[0]][name]; ok {
			return fieldRef{name: name, envelope: event.EnvelopeGetter(env), action: env == "action", id: cp.slot("\x00" + env)}, nil
		}
	}
	f := fieldRef{name: name}
	seen := map[string]bool{}
	for _, src := range cp.sources {
		for _, p := range cp.opts.FieldMapping.paths(src, name) {
			if !seen[p] {
				seen[p] = true
				f.paths = append(f.paths, p)
			}
		}
	}
	if len(cp.sources) == 0 {
		f.paths = []string{name}
	}
	f.id = cp.slot(strings.Join(f.paths, "\x00"))
	return f, nil
}

// slot returns the scratch slot of a field, by a key naming its paths or
// envelope field.
func (cp *compiler) slot(key string) int {
	id, ok := cp.fields[key]
	if !ok {
		id = len(cp.fields)
		cp.fields[key] = id
	}
	return id
}

// item compiles one field item or keyword item.
func (cp *compiler) item(it *sigma.Item) (*item, error) {
	out := &item{neq: it.Neq, all: it.All}
	if it.Field == "" {
		out.keyword = true
	} else {
		f, err := cp.fieldRef(it.Field, it.Pos)
		if err != nil {
			return nil, err
		}
		out.field = f
	}
	if it.Match == sigma.MatchExists {
		if out.keyword {
			return nil, cp.errorf(it.Pos, "the exists modifier needs a field")
		}
		out.exists = -1
		if len(it.Values) == 1 && it.Values[0].Bool {
			out.exists = 1
		}
		return out, nil
	}
	for _, v := range it.Values {
		ms, err := cp.values(it, v)
		if err != nil {
			return nil, err
		}
		if v.Kind == sigma.KindNull {
			out.hasNull = true
			continue
		}
		out.values = append(out.values, ms...)
	}
	return out, nil
}

// values compiles one rule value into matchers; a value with several
// alternatives (windash, base64offset, expand) gives several.
func (cp *compiler) values(it *sigma.Item, v *sigma.Value) ([]matcher, error) {
	switch v.Kind {
	case sigma.KindNull:
		return nil, nil
	case sigma.KindNumber:
		kind := it.Match
		if kind != sigma.MatchLT && kind != sigma.MatchLTE && kind != sigma.MatchGT && kind != sigma.MatchGTE {
			kind = sigma.MatchEquals
		}
		if it.TimePart == sigma.TimeNone && kind == sigma.MatchEquals {
			// An equality on a number also matches its text, as in
			// "errorCode: 7" against the string "7".
			return []matcher{&numMatcher{kind: kind, n: v.Number.Float}, newStrMatcher(sigma.Pattern{{Kind: sigma.SegLiteral, Text: v.Number.Text}}, sigma.MatchEquals, true)}, nil
		}
		return []matcher{&numMatcher{kind: kind, n: v.Number.Float, part: it.TimePart}}, nil
	case sigma.KindBool:
		return []matcher{boolMatcher(v.Bool)}, nil
	case sigma.KindRegex:
		*cp.regexes++
		return []matcher{regexMatcher{re: v.Regex, id: int32(*cp.regexes)}}, nil
	case sigma.KindCIDR:
		return []matcher{cidrMatcher(v.CIDR)}, nil
	case sigma.KindFieldRef:
		other, err := cp.fieldRef(v.FieldRef, v.Pos)
		if err != nil {
			return nil, err
		}
		return []matcher{&refMatcher{kind: it.Match, other: other, cased: it.Cased}}, nil
	}
	var out []matcher
	for _, p := range v.Patterns {
		expanded, err := cp.expand(p, v.Pos)
		if err != nil {
			return nil, err
		}
		for _, q := range expanded {
			out = append(out, newStrMatcher(q, it.Match, it.Cased))
		}
	}
	return out, nil
}

// expand replaces placeholders with every combination of their configured
// values.
func (cp *compiler) expand(p sigma.Pattern, pos sigma.Position) ([]sigma.Pattern, error) {
	if !p.HasPlaceholders() {
		return []sigma.Pattern{p}, nil
	}
	out := []sigma.Pattern{nil}
	for _, s := range p {
		if s.Kind != sigma.SegPlaceholder {
			for i := range out {
				out[i] = append(out[i], s)
			}
			continue
		}
		vals, ok := cp.opts.Placeholders[s.Text]
		if !ok || len(vals) == 0 {
			return nil, cp.errorf(pos, "placeholder %%%s%% has no values: set detect.placeholders.%s in the configuration", s.Text, s.Text)
		}
		var next []sigma.Pattern
		for _, prefix := range out {
			for _, val := range vals {
				q := append(append(sigma.Pattern{}, prefix...), sigma.Segment{Kind: sigma.SegLiteral, Text: val})
				next = append(next, q)
			}
		}
		if len(next) > 4096 {
			return nil, cp.errorf(pos, "placeholders expand into more than 4096 alternatives")
		}
		out = next
	}
	return out, nil
}
