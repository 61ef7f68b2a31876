// Package jsondoc parses JSON into a flat array of nodes that can be reused
// between documents, and reads values out of it by key, index or dotted path
// without building maps.
//
// A Doc keeps a reference to the bytes it parsed and hands out strings that
// point into them, so the caller must not modify the input after Parse. In
// exchange, reading an unescaped string, number or key allocates nothing.
package jsondoc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Kind is the JSON type of a value.
type Kind uint8

// The kinds of JSON values. Missing is the kind of a value that is absent.
const (
	Missing Kind = iota
	Null
	False
	True
	Number
	String
	Object
	Array
)

var kindNames = [...]string{"missing", "null", "false", "true", "number", "string", "object", "array"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Limits bound what Parse accepts. The zero value of a field means the
// default.
type Limits struct {
	MaxDepth int // nesting of objects and arrays; default 128
	MaxNodes int // values in one document; default 16 million
}

// DefaultMaxDepth is the nesting depth Parse accepts by default.
const DefaultMaxDepth = 128

const defaultMaxNodes = 16 << 20

// node is one value. Objects hold their members as alternating key and value
// nodes directly after themselves; next is the index just past the subtree.
type node struct {
	start, end uint32 // byte range of the value in src, quotes included
	next       uint32
	n          uint32 // members or elements of a container
	kind       Kind
	esc        bool // a string with backslash escapes
}

// Doc is a parsed JSON document. The zero value is ready for Parse, and a Doc
// may be reused: Parse overwrites the previous document.
type Doc struct {
	src    []byte
	nodes  []node
	limits Limits
}

// SyntaxError reports invalid JSON and where it was found.
type SyntaxError struct {
	Offset int // byte offset into the input
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// ErrTrailing is wrapped by the error Parse returns when a complete value is
// followed by more non-space input, as in JSON Lines.
var ErrTrailing = errors.New("data after the end of the JSON value")

// SetLimits sets the bounds used by later calls to Parse.
func (d *Doc) SetLimits(l Limits) { d.limits = l }

// Parse parses src, which must hold exactly one JSON value with optional
// surrounding white space. src must not be modified while the Doc or any
// string read from it is in use.
func (d *Doc) Parse(src []byte) error {
	if len(src) > 1<<32-2 {
		return &SyntaxError{Offset: 0, Msg: "input larger than 4 GiB"}
	}
	d.src = src
	d.nodes = d.nodes[:0]
	// Size the node array once from the input: cloud log records average
	// 16 to 30 bytes per value, so this rarely grows.
	if want := len(src)/12 + 16; cap(d.nodes) < want {
		d.nodes = make([]node, 0, want)
	}
	p := parser{d: d, src: src, maxDepth: d.limits.MaxDepth, maxNodes: d.limits.MaxNodes}
	if p.maxDepth <= 0 {
		p.maxDepth = DefaultMaxDepth
	}
	if p.maxNodes <= 0 {
		p.maxNodes = defaultMaxNodes
	}
	p.skipSpace()
	if p.pos >= len(src) {
		d.nodes = d.nodes[:0]
		return &SyntaxError{Offset: p.pos, Msg: "empty input"}
	}
	if err := p.value(0); err != nil {
		d.nodes = d.nodes[:0]
		return err
	}
	p.skipSpace()
	if p.pos < len(src) {
		d.nodes = d.nodes[:0]
		return fmt.Errorf("%w (byte %d)", ErrTrailing, p.pos)
	}
	return nil
}

// Root returns the top-level value, or a Missing value if the last Parse
// failed.
func (d *Doc) Root() Value {
	if len(d.nodes) == 0 {
		return Value{}
	}
	return Value{d: d, i: 0}
}

// Source returns the bytes the Doc was parsed from.
func (d *Doc) Source() []byte { return d.src }

type parser struct {
	d        *Doc
	src      []byte
	pos      int
	maxDepth int
	maxNodes int
}

func (p *parser) fail(msg string) error { return &SyntaxError{Offset: p.pos, Msg: msg} }

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) push(k Kind, start int) (int, error) {
	if len(p.d.nodes) >= p.maxNodes {
		return 0, p.fail(fmt.Sprintf("more than %d values in one document", p.maxNodes))
	}
	p.d.nodes = append(p.d.nodes, node{kind: k, start: uint32(start)})
	return len(p.d.nodes) - 1, nil
}

func (p *parser) value(depth int) error {
	if p.pos >= len(p.src) {
		return p.fail("unexpected end of input")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.string()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", True)
	case c == 'f':
		return p.literal("false", False)
	case c == 'n':
		return p.literal("null", Null)
	default:
		return p.fail(fmt.Sprintf("unexpected character %q", c))
	}
}

func (p *parser) literal(word string, k Kind) error {
	if len(p.src)-p.pos < len(word) || string(p.src[p.pos:p.pos+len(word)]) != word {
		return p.fail("invalid literal, want " + word)
	}
	i, err := p.push(k, p.pos)
	if err != nil {
		return err
	}
	p.pos += len(word)
	p.finish(i)
	return nil
}

func (p *parser) finish(i int) {
	nd := &p.d.nodes[i]
	nd.end = uint32(p.pos)
	nd.next = uint32(len(p.d.nodes))
}

func (p *parser) object(depth int) error {
	if depth > p.maxDepth {
		return p.fail(fmt.Sprintf("nesting deeper than %d levels", p.maxDepth))
	}
	i, err := p.push(Object, p.pos)
	if err != nil {
		return err
	}
	p.pos++
	p.skipSpace()
	n := 0
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		p.finish(i)
		return nil
	}
	for {
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return p.fail("expected a string key in object")
		}
		if err := p.string(); err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return p.fail("expected ':' after object key")
		}
		p.pos++
		p.skipSpace()
		if err := p.value(depth); err != nil {
			return err
		}
		n++
		p.skipSpace()
		if p.pos >= len(p.src) {
			return p.fail("unexpected end of input in object")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case '}':
			p.pos++
			p.d.nodes[i].n = uint32(n)
			p.finish(i)
			return nil
		default:
			return p.fail("expected ',' or '}' in object")
		}
	}
}

func (p *parser) array(depth int) error {
	if depth > p.maxDepth {
		return p.fail(fmt.Sprintf("nesting deeper than %d levels", p.maxDepth))
	}
	i, err := p.push(Array, p.pos)
	if err != nil {
		return err
	}
	p.pos++
	p.skipSpace()
	n := 0
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		p.finish(i)
		return nil
	}
	for {
		if err := p.value(depth); err != nil {
			return err
		}
		n++
		p.skipSpace()
		if p.pos >= len(p.src) {
			return p.fail("unexpected end of input in array")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case ']':
			p.pos++
			p.d.nodes[i].n = uint32(n)
			p.finish(i)
			return nil
		default:
			return p.fail("expected ',' or ']' in array")
		}
	}
}

func (p *parser) string() error {
	i, err := p.push(String, p.pos)
	if err != nil {
		return err
	}
	p.pos++
	src := p.src
	esc, high := false, false
	for {
		// Fast scan over plain bytes, eight at a time.
		for p.pos+8 <= len(src) {
			x := binary.LittleEndian.Uint64(src[p.pos:])
			if special(x) != 0 {
				break
			}
			p.pos += 8
		}
		for p.pos < len(src) {
			c := src[p.pos]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			if c >= 0x80 {
				high = true
			}
			p.pos++
		}
		if p.pos >= len(src) {
			return p.fail("unterminated string")
		}
		switch c := src[p.pos]; {
		case c == '"':
			p.pos++
			if high && !utf8.Valid(src[p.d.nodes[i].start+1:p.pos-1]) {
				p.pos = int(p.d.nodes[i].start)
				return p.fail("invalid UTF-8 in string")
			}
			p.d.nodes[i].esc = esc
			p.finish(i)
			return nil
		case c == '\\':
			esc = true
			if p.pos+1 >= len(src) {
				return p.fail("unterminated escape")
			}
			switch src[p.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.pos += 2
			case 'u':
				if len(src)-p.pos < 6 || !isHex4(src[p.pos+2:p.pos+6]) {
					return p.fail(`invalid \u escape`)
				}
				p.pos += 6
			default:
				return p.fail(fmt.Sprintf("invalid escape \\%c", src[p.pos+1]))
			}
		default:
			return p.fail("control character in string")
		}
	}
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special returns a non-zero value when any byte of x is a quote, a
// backslash, a control character or a non-ASCII byte.
func special(x uint64) uint64 {
	quote := x ^ (ones * '"')
	back := x ^ (ones * '\\')
	zeroQuote := (quote - ones) &^ quote
	zeroBack := (back - ones) &^ back
	control := (x - ones*0x20) &^ x
	return (zeroQuote | zeroBack | control | x) & highs
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (p *parser) number() error {
	i, err := p.push(Number, p.pos)
	if err != nil {
		return err
	}
	src := p.src
	if src[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(src) && src[p.pos] == '0':
		p.pos++
	case p.pos < len(src) && src[p.pos] >= '1' && src[p.pos] <= '9':
		for p.pos < len(src) && src[p.pos] >= '0' && src[p.pos] <= '9' {
			p.pos++
		}
	default:
		return p.fail("invalid number")
	}
	if p.pos < len(src) && src[p.pos] == '.' {
		p.pos++
		if !p.digits() {
			return p.fail("invalid number: no digits after '.'")
		}
	}
	if p.pos < len(src) && (src[p.pos] == 'e' || src[p.pos] == 'E') {
		p.pos++
		if p.pos < len(src) && (src[p.pos] == '+' || src[p.pos] == '-') {
			p.pos++
		}
		if !p.digits() {
			return p.fail("invalid number: no digits in exponent")
		}
	}
	p.finish(i)
	return nil
}

func (p *parser) digits() bool {
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	return p.pos > start
}

// bytesString returns a string that shares memory with b.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
