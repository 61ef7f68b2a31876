package sigma

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// compileRegex validates a value of the re modifier and compiles it with Go's
// regexp package (RE2 syntax). The specification allows a PCRE subset; PCRE
// features RE2 lacks (lookaround, backreferences, atomic groups, possessive
// quantifiers, \Z, \G, ...) are reported with an explanation.
//
// maxCost bounds the size of the compiled program: counted repetitions such
// as x{1000} multiply it, and a few kilobytes of them would otherwise cost
// seconds and hundreds of megabytes to compile. budget is what remains of
// the caller's total; the cost is returned so that it can be charged.
func compileRegex(src, flags string, maxLen, maxCost, budget int) (*Regex, int, error) {
	if len(src) > maxLen {
		return nil, 0, fmt.Errorf("regular expression is too long: %d bytes (limit %d)", len(src), maxLen)
	}
	full := src
	if flags != "" {
		full = "(?" + flags + ")" + src
	}
	tree, err := syntax.Parse(full, syntax.Perl)
	if err != nil {
		return nil, 0, explainRegexError(err)
	}
	cost := regexCost(tree, maxCost)
	if cost > maxCost {
		return nil, 0, fmt.Errorf("regular expression is too complex: its repetitions expand to more than %d instructions", maxCost)
	}
	if cost > budget {
		return nil, 0, errors.New("the regular expressions of the file are too large in total")
	}
	re, err := regexp.Compile(full)
	if err != nil {
		return nil, 0, explainRegexError(err)
	}
	return &Regex{Source: src, Flags: flags, Re: re}, cost, nil
}

// regexCost estimates the number of instructions of the compiled program,
// saturating just above limit.
func regexCost(re *syntax.Regexp, limit int) int {
	sum := func(subs []*syntax.Regexp) int {
		n := 1
		for _, s := range subs {
			n += regexCost(s, limit)
			if n > limit {
				return limit + 1
			}
		}
		return n
	}
	switch re.Op {
	case syntax.OpLiteral:
		return max(len(re.Rune), 1)
	case syntax.OpRepeat:
		times := re.Max
		if times < re.Min {
			times = re.Min + 1 // x{n,} is n copies and a star
		}
		sub := sum(re.Sub)
		if times > 0 && sub > limit/times {
			return limit + 1
		}
		return sub*max(times, 1) + 1
	default:
		return sum(re.Sub)
	}
}

// explainRegexError turns a regexp/syntax error into a message that names the
// unsupported PCRE feature when there is one.
func explainRegexError(err error) error {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("invalid regular expression: %v", err)
	}
	expr := se.Expr
	switch se.Code {
	case syntax.ErrInvalidNamedCapture:
		if strings.HasPrefix(expr, "(?<=") || strings.HasPrefix(expr, "(?<!") {
			return fmt.Errorf("invalid regular expression: lookbehind %q is not supported (PCRE-only feature)", clip(expr, 20))
		}
	case syntax.ErrInvalidPerlOp:
		switch {
		case strings.HasPrefix(expr, "(?=") || strings.HasPrefix(expr, "(?!"):
			return fmt.Errorf("invalid regular expression: lookahead %q is not supported (PCRE-only feature)", expr)
		case strings.HasPrefix(expr, "(?<=") || strings.HasPrefix(expr, "(?<!"):
			return fmt.Errorf("invalid regular expression: lookbehind %q is not supported (PCRE-only feature)", expr)
		case strings.HasPrefix(expr, "(?>"):
			return fmt.Errorf("invalid regular expression: atomic group %q is not supported (PCRE-only feature)", expr)
		case strings.HasPrefix(expr, "(?("):
			return fmt.Errorf("invalid regular expression: conditional group %q is not supported (PCRE-only feature)", expr)
		case strings.HasPrefix(expr, "(?R") || strings.HasPrefix(expr, "(?0") || strings.HasPrefix(expr, "(?&"):
			return fmt.Errorf("invalid regular expression: recursion %q is not supported (PCRE-only feature)", expr)
		}
		return fmt.Errorf("invalid regular expression: group syntax %q is not supported (use the re modifier's i, m and s flags for options)", expr)
	case syntax.ErrInvalidEscape:
		if len(expr) == 2 && expr[1] >= '1' && expr[1] <= '9' || strings.HasPrefix(expr, `\k`) || strings.HasPrefix(expr, `\g`) {
			return fmt.Errorf("invalid regular expression: backreference %q is not supported (PCRE-only feature)", expr)
		}
		return fmt.Errorf("invalid regular expression: escape sequence %q is not supported", expr)
	case syntax.ErrInvalidRepeatOp:
		if strings.HasSuffix(expr, "+") {
			return fmt.Errorf("invalid regular expression: possessive quantifier %q is not supported (PCRE-only feature)", expr)
		}
	}
	return fmt.Errorf("invalid regular expression: %s: %q", se.Code, expr)
}
