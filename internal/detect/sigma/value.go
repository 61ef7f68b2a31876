package sigma

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// SegmentKind is the kind of one piece of a string pattern.
type SegmentKind uint8

// Segment kinds.
const (
	SegLiteral     SegmentKind = iota // Text matched literally
	SegAnyString                      // "*": any run of characters, possibly empty
	SegAnyChar                        // "?": exactly one character
	SegPlaceholder                    // "%Text%": placeholder, only with the expand modifier
)

// Segment is one piece of a Pattern.
type Segment struct {
	Kind SegmentKind
	Text string // literal text or placeholder name
}

// Pattern is a Sigma string value split into literal text and wildcards,
// with the escape sequences of the specification already resolved. Adjacent
// literals are merged, so a pattern without wildcards has at most one
// segment. The empty pattern matches only the empty string.
type Pattern []Segment

// IsLiteral reports whether p contains no wildcard or placeholder.
func (p Pattern) IsLiteral() bool {
	for _, s := range p {
		if s.Kind != SegLiteral {
			return false
		}
	}
	return true
}

// Literal returns the text of a literal pattern (see IsLiteral).
func (p Pattern) Literal() string {
	var b strings.Builder
	for _, s := range p {
		if s.Kind == SegLiteral {
			b.WriteString(s.Text)
		}
	}
	return b.String()
}

// HasPlaceholders reports whether p contains a placeholder segment.
func (p Pattern) HasPlaceholders() bool {
	for _, s := range p {
		if s.Kind == SegPlaceholder {
			return true
		}
	}
	return false
}

// String renders p in Sigma syntax, escaping where needed: parsing the result
// (with expand if p has placeholders) gives p back.
func (p Pattern) String() string {
	ph := p.HasPlaceholders()
	var b strings.Builder
	for _, s := range p {
		switch s.Kind {
		case SegAnyString:
			b.WriteByte('*')
		case SegAnyChar:
			b.WriteByte('?')
		case SegPlaceholder:
			b.WriteString("%" + s.Text + "%")
		default:
			for i := 0; i < len(s.Text); i++ {
				c := s.Text[i]
				if c == '*' || c == '?' || c == '\\' || (ph && c == '%') {
					b.WriteByte('\\')
				}
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// appendLit appends literal text to p, merging it with a trailing literal.
func (p Pattern) appendLit(s string) Pattern {
	if s == "" {
		return p
	}
	if n := len(p); n > 0 && p[n-1].Kind == SegLiteral {
		p[n-1].Text += s
		return p
	}
	return append(p, Segment{Kind: SegLiteral, Text: s})
}

// parsePattern splits a Sigma string into a pattern. The backslash escapes
// "*", "?" and itself (and "%" when expand is set); any other backslash is a
// plain character. So `\*` is a literal star, `\\*` a backslash followed by
// a wildcard, `\\\*` a backslash and a literal star, and three or four
// backslashes both stand for two. With expand, "%name%" is a placeholder.
func parsePattern(s string, expand bool) (Pattern, error) {
	var p Pattern
	var lit strings.Builder
	flush := func() {
		p = p.appendLit(lit.String())
		lit.Reset()
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\' || (expand && s[i+1] == '%')):
			lit.WriteByte(s[i+1])
			i++
		case c == '*' || c == '?':
			flush()
			k := SegAnyString
			if c == '?' {
				k = SegAnyChar
			}
			p = append(p, Segment{Kind: k})
		case c == '%' && expand:
			end := strings.IndexByte(s[i+1:], '%')
			if end < 0 {
				return nil, errors.New("unterminated placeholder: missing closing '%' (escape a plain percent sign as \\%)")
			}
			name := s[i+1 : i+1+end]
			if name == "" {
				return nil, errors.New("empty placeholder name \"%%\" (escape a plain percent sign as \\%)")
			}
			flush()
			p = append(p, Segment{Kind: SegPlaceholder, Text: name})
			i += end + 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return p, nil
}

// ValueKind is the type of a Value.
type ValueKind uint8

// Value kinds.
const (
	KindString   ValueKind = iota // Patterns holds the alternatives
	KindNumber                    // Number
	KindBool                      // Bool
	KindNull                      // null: the field is null (or absent, depending on the engine)
	KindRegex                     // Regex
	KindCIDR                      // CIDR
	KindFieldRef                  // FieldRef: compare with the value of another field of the event
)

var valueKindNames = [...]string{"string", "number", "bool", "null", "regex", "cidr", "fieldref"}

// String names the kind.
func (k ValueKind) String() string {
	if int(k) < len(valueKindNames) {
		return valueKindNames[k]
	}
	return fmt.Sprintf("ValueKind(%d)", uint8(k))
}

// Number is a numeric value. Text is a canonical decimal form; IsInt tells
// whether Int is exact. Float is always set.
type Number struct {
	Text  string
	Int   int64
	Float float64
	IsInt bool
}

// Regex is a validated regular expression with its Sigma flags.
type Regex struct {
	Source string // the expression as written in the rule
	Flags  string // subset of "ims", in that order
	// Re is Source compiled by Go's regexp package with Flags applied.
	Re *regexp.Regexp
}

// Value is one value of an item, after every value-transforming modifier has
// been applied.
type Value struct {
	Kind ValueKind
	// Raw is the scalar as written in the rule.
	Raw string
	// Patterns are the alternatives of a KindString value, linked with OR:
	// windash and base64offset expand one written value into several.
	Patterns []Pattern
	Number   Number
	Bool     bool
	Regex    *Regex
	CIDR     netip.Prefix // masked
	FieldRef string
	Pos      Position
}

// windashChars are the characters the windash modifier makes interchangeable:
// hyphen-minus, slash, en dash, em dash and horizontal bar.
var windashChars = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

func isWindash(r rune) bool {
	return r == '-' || r == '/' || r == '\u2013' || r == '\u2014' || r == '\u2015'
}

// windashSlots counts the dash characters in the literal segments of p.
func windashSlots(p Pattern) int {
	n := 0
	for _, s := range p {
		if s.Kind != SegLiteral {
			continue
		}
		for i := 0; i < len(s.Text); {
			r, size := utf8.DecodeRuneInString(s.Text[i:])
			if isWindash(r) {
				n++
			}
			i += size
		}
	}
	return n
}

// windash returns every permutation of the dash characters in the literal
// segments of p, at most limit patterns.
func windash(p Pattern, limit int) ([]Pattern, error) {
	slots := windashSlots(p)
	total := 1
	for range slots {
		total *= len(windashChars)
		if total > limit {
			return nil, fmt.Errorf("windash expands the value into more than %d alternatives (%d dash characters)", limit, slots)
		}
	}
	out := make([]Pattern, 0, total)
	var b strings.Builder
	for n := 0; n < total; n++ {
		// Digit i (base 5) of n picks the variant of dash i; the first
		// dash varies slowest.
		div := total
		q := make(Pattern, 0, len(p))
		for _, s := range p {
			if s.Kind != SegLiteral {
				q = append(q, s)
				continue
			}
			b.Reset()
			for i := 0; i < len(s.Text); {
				r, size := utf8.DecodeRuneInString(s.Text[i:])
				if isWindash(r) {
					div /= len(windashChars)
					b.WriteString(windashChars[(n/div)%len(windashChars)])
				} else {
					b.WriteString(s.Text[i : i+size])
				}
				i += size
			}
			q = append(q, Segment{Kind: SegLiteral, Text: b.String()})
		}
		out = append(out, q)
	}
	return out, nil
}

// utf16Encode encodes the literal segments of p as UTF-16 in the given byte
// order, keeping wildcards; bom prepends a little-endian byte order mark.
func utf16Encode(p Pattern, bigEndian, bom bool) Pattern {
	var q Pattern
	if bom {
		q = q.appendLit("\xff\xfe")
	}
	for _, s := range p {
		if s.Kind != SegLiteral {
			q = append(q, s)
			continue
		}
		units := utf16.Encode([]rune(s.Text))
		b := make([]byte, 0, 2*len(units))
		for _, u := range units {
			if bigEndian {
				b = append(b, byte(u>>8), byte(u))
			} else {
				b = append(b, byte(u), byte(u>>8))
			}
		}
		q = q.appendLit(string(b))
	}
	return q
}

// base64Encode encodes a literal pattern.
func base64Encode(p Pattern) (Pattern, error) {
	if !p.IsLiteral() {
		return nil, errors.New("base64 cannot encode a value with wildcards (escape them as \\* and \\?)")
	}
	return Pattern(nil).appendLit(base64.StdEncoding.EncodeToString([]byte(p.Literal()))), nil
}

// base64Offset returns the three encodings of a literal pattern that can be
// found inside a longer base64 string, one per byte offset of the value in
// the encoded data. Characters influenced by the unknown surrounding bytes
// are cut off; empty results are dropped.
func base64Offset(p Pattern) ([]Pattern, error) {
	if !p.IsLiteral() {
		return nil, errors.New("base64offset cannot encode a value with wildcards (escape them as \\* and \\?)")
	}
	v := []byte(p.Literal())
	var out []Pattern
	for off := 0; off < 3; off++ {
		buf := make([]byte, off, off+len(v))
		buf = append(buf, v...)
		enc := base64.StdEncoding.EncodeToString(buf)
		// Leading characters that depend on the off unknown bytes before
		// the value.
		start := [3]int{0, 2, 3}[off]
		// Trailing characters that depend on unknown bytes after the value,
		// with the padding.
		end := len(enc) - [3]int{0, 3, 2}[len(buf)%3]
		if end > start {
			out = append(out, Pattern(nil).appendLit(enc[start:end]))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("base64offset: value is too short to give a stable encoding")
	}
	return out, nil
}

// parseCIDR parses an IPv4 or IPv6 network in CIDR notation.
func parseCIDR(s string) (netip.Prefix, error) {
	pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		if _, addrErr := netip.ParseAddr(s); addrErr == nil {
			return netip.Prefix{}, fmt.Errorf("cidr value %q has no prefix length (write e.g. %s/32)", s, s)
		}
		return netip.Prefix{}, fmt.Errorf("invalid cidr value %q: expected an IPv4 or IPv6 network such as 10.0.0.0/8", s)
	}
	return pfx.Masked(), nil
}
