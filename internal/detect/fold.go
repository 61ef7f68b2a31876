package detect

import (
	"strings"
	"unicode/utf8"
)

// Case-insensitive comparison without allocation for ASCII text, which is
// nearly all cloud log data. Patterns are stored lower-cased; the event's
// text is folded byte by byte as it is compared. Non-ASCII text falls back
// to full Unicode folding.

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

// hasPrefixFold reports whether s starts with the lower-cased ASCII p.
func hasPrefixFold(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if lowerASCII(s[i]) != p[i] {
			return false
		}
	}
	return true
}

// indexFold returns the index of the lower-cased ASCII p in s, folding s, or
// -1.
func indexFold(s, p string) int {
	if len(p) == 0 {
		return 0
	}
	first := p[0]
	upper := first
	if 'a' <= first && first <= 'z' {
		upper = first - ('a' - 'A')
	}
	for i := 0; i+len(p) <= len(s); i++ {
		c := s[i]
		if c != first && c != upper {
			continue
		}
		if hasPrefixFold(s[i:], p) {
			return i
		}
	}
	return -1
}

func (p foldPattern) equal(s string) bool {
	if p.ascii && isASCII(s) {
		return len(s) == len(p.lower) && hasPrefixFold(s, p.lower)
	}
	return strings.ToLower(s) == p.lower
}

func (p foldPattern) prefixOf(s string) bool {
	if p.ascii && isASCII(s) {
		return hasPrefixFold(s, p.lower)
	}
	return strings.HasPrefix(strings.ToLower(s), p.lower)
}

func (p foldPattern) suffixOf(s string) bool {
	if p.ascii && isASCII(s) {
		return len(s) >= len(p.lower) && hasPrefixFold(s[len(s)-len(p.lower):], p.lower)
	}
	return strings.HasSuffix(strings.ToLower(s), p.lower)
}

func (p foldPattern) within(s string) bool {
	if p.ascii && isASCII(s) {
		return indexFold(s, p.lower) >= 0
	}
	return strings.Contains(strings.ToLower(s), p.lower)
}

// glob matches a Sigma wildcard pattern: "*" any run, "?" one character.
// Literal parts are stored folded unless the match is case-sensitive.
type glob struct {
	parts []globPart
	cased bool
}

type globPart struct {
	star bool   // "*" before this part
	lit  string // literal text; "?" is stored as the single rune '\x00' marker in qmarks
	q    []bool // per byte of lit: matches any one character
}

// matchGlob reports whether s matches g, with backtracking over stars.
func (g *glob) match(s string) bool {
	if !g.cased {
		if isASCII(s) {
			return g.matchFrom(s, 0, true)
		}
		s = strings.ToLower(s)
	}
	return g.matchFrom(s, 0, false)
}

func (g *glob) matchFrom(s string, part int, fold bool) bool {
	if part == len(g.parts) {
		return s == ""
	}
	p := g.parts[part]
	if !p.star {
		n, ok := p.matchAt(s, fold)
		return ok && g.matchFrom(s[n:], part+1, fold)
	}
	if part == len(g.parts)-1 && p.lit == "" {
		return true // a trailing "*"
	}
	for i := 0; i <= len(s); {
		if n, ok := p.matchAt(s[i:], fold); ok && g.matchFrom(s[i+n:], part+1, fold) {
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
func (p globPart) matchAt(s string, fold bool) (int, bool) {
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
		c := s[i]
		if fold {
			c = lowerASCII(c)
		}
		if c != p.lit[j] {
			return 0, false
		}
		i++
	}
	return i, true
}
