package detect

import (
	"strings"
	"unicode/utf8"
)

// Sigma matches case-insensitively unless told otherwise. Patterns are
// stored lower-cased, and each field value is lower-cased once per event
// (see Scratch.lowerText), so matching itself is a plain comparison.

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldPattern is a pattern literal prepared for case-insensitive matching.
type foldPattern struct {
	lower string // strings.ToLower of the literal
	ascii bool   // the literal is ASCII
}

func newFoldPattern(s string) foldPattern {
	return foldPattern{lower: strings.ToLower(s), ascii: isASCII(s)}
}

// glob matches a Sigma wildcard pattern: "*" any run, "?" one character.
// Literal parts are stored folded unless the match is case-sensitive.
type glob struct {
	parts []globPart
	cased bool
}

type globPart struct {
	star bool   // "*" before this part
	lit  string // literal text, with a placeholder byte for each "?"
	q    []bool // per byte of lit: true where "?" matches any one character
}

// match reports whether s matches g. For a case-insensitive glob, s must
// already be lower-cased.
func (g *glob) match(s string) bool { return g.matchFrom(s, 0) }

func (g *glob) matchFrom(s string, part int) bool {
	if part == len(g.parts) {
		return s == ""
	}
	p := g.parts[part]
	if !p.star {
		n, ok := p.matchAt(s)
		return ok && g.matchFrom(s[n:], part+1)
	}
	if part == len(g.parts)-1 && p.lit == "" {
		return true // a trailing "*"
	}
	for i := 0; i <= len(s); {
		if n, ok := p.matchAt(s[i:]); ok && g.matchFrom(s[i+n:], part+1) {
			return true
		}
		if i == len(s) {
			break
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return false
}

// matchAt matches the literal (with "?" positions) at the start of s and
// returns how many bytes of s it used.
func (p globPart) matchAt(s string) (int, bool) {
	i := 0
	for j := 0; j < len(p.lit); j++ {
		if i >= len(s) {
			return 0, false
		}
		if p.q[j] {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			continue
		}
		if s[i] != p.lit[j] {
			return 0, false
		}
		i++
	}
	return i, true
}
