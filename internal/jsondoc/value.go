package jsondoc

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Value is one value inside a Doc. The zero Value is Missing. A Value is valid
// until the Doc it came from is parsed again.
type Value struct {
	d *Doc
	i uint32
}

func (v Value) node() *node { return &v.d.nodes[v.i] }

// Kind returns the JSON type of v.
func (v Value) Kind() Kind {
	if v.d == nil {
		return Missing
	}
	return v.node().kind
}

// Exists reports whether v is present (it may be null).
func (v Value) Exists() bool { return v.d != nil }

// Raw returns the JSON text of v, shared with the Doc's input.
func (v Value) Raw() []byte {
	if v.d == nil {
		return nil
	}
	n := v.node()
	return v.d.src[n.start:n.end]
}

// Len returns the number of members of an object or elements of an array.
func (v Value) Len() int {
	if v.d == nil {
		return 0
	}
	return int(v.node().n)
}

// Str returns the text of a scalar: the unescaped content of a string, the
// literal text of a number, "true", "false" or "null". Objects, arrays and
// missing values give "". Strings without escapes share the Doc's memory.
func (v Value) Str() string {
	if v.d == nil {
		return ""
	}
	n := v.node()
	switch n.kind {
	case String:
		body := v.d.src[n.start+1 : n.end-1]
		if !n.esc {
			return bytesString(body)
		}
		return unescape(body)
	case Number, True, False, Null:
		return bytesString(v.d.src[n.start:n.end])
	}
	return ""
}

// Float returns the numeric value of a number, or of a string holding a
// number.
func (v Value) Float() (float64, bool) {
	switch v.Kind() {
	case Number, String:
		f, err := strconv.ParseFloat(v.Str(), 64)
		return f, err == nil
	}
	return 0, false
}

// Int returns the value of an integer number, or of a string holding one.
func (v Value) Int() (int64, bool) {
	switch v.Kind() {
	case Number, String:
		i, err := strconv.ParseInt(v.Str(), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// Bool returns the value of true or false.
func (v Value) Bool() (value, ok bool) {
	switch v.Kind() {
	case True:
		return true, true
	case False:
		return false, true
	}
	return false, false
}

// Get returns the member of an object with the given key, or Missing.
func (v Value) Get(key string) Value {
	if v.Kind() != Object {
		return Value{}
	}
	nodes := v.d.nodes
	end := nodes[v.i].next
	for k := v.i + 1; k < end; {
		val := nodes[k].next
		if v.keyEquals(k, key) {
			return Value{d: v.d, i: val}
		}
		k = nodes[val].next
	}
	return Value{}
}

// Path is shorthand for following keys one after another: v.Path("a", "b")
// is v.Get("a").Get("b").
func (v Value) Path(keys ...string) Value {
	for _, k := range keys {
		v = v.Get(k)
	}
	return v
}

// Index returns element i of an array, or Missing.
func (v Value) Index(i int) Value {
	if v.Kind() != Array || i < 0 || i >= v.Len() {
		return Value{}
	}
	k := v.i + 1
	for ; i > 0; i-- {
		k = v.d.nodes[k].next
	}
	return Value{d: v.d, i: k}
}

// Elements calls fn for each element of an array in order until fn returns
// false.
func (v Value) Elements(fn func(i int, e Value) bool) {
	if v.Kind() != Array {
		return
	}
	nodes := v.d.nodes
	end := nodes[v.i].next
	for k, i := v.i+1, 0; k < end; k, i = nodes[k].next, i+1 {
		if !fn(i, Value{d: v.d, i: k}) {
			return
		}
	}
}

// Members calls fn for each member of an object in order until fn returns
// false.
func (v Value) Members(fn func(key string, val Value) bool) {
	if v.Kind() != Object {
		return
	}
	nodes := v.d.nodes
	end := nodes[v.i].next
	for k := v.i + 1; k < end; {
		val := nodes[k].next
		if !fn(Value{d: v.d, i: k}.Str(), Value{d: v.d, i: val}) {
			return
		}
		k = nodes[val].next
	}
}

// keyEquals compares the key node k with key without allocating for
// unescaped keys.
func (v Value) keyEquals(k uint32, key string) bool {
	n := &v.d.nodes[k]
	body := v.d.src[n.start+1 : n.end-1]
	if !n.esc {
		return bytesString(body) == key
	}
	return unescape(body) == key
}

// Find calls fn for every value at the dotted path below v until fn returns
// false. Arrays met on the way, and an array at the end of the path, are
// walked element by element, so "resources.ARN" visits the ARN of every
// resource. A key that itself contains dots matches the corresponding part
// of the path. An empty path visits v itself.
func (v Value) Find(path string, fn func(Value) bool) {
	v.find(path, fn)
}

// First returns the first value Find would visit, or Missing.
func (v Value) First(path string) Value {
	var out Value
	v.find(path, func(x Value) bool { out = x; return false })
	return out
}

func (v Value) find(rest string, fn func(Value) bool) bool {
	switch v.Kind() {
	case Missing:
		return true
	case Array:
		nodes := v.d.nodes
		end := nodes[v.i].next
		for k := v.i + 1; k < end; k = nodes[k].next {
			if !(Value{d: v.d, i: k}).find(rest, fn) {
				return false
			}
		}
		return true
	case Object:
		if rest == "" {
			return fn(v)
		}
		nodes := v.d.nodes
		end := nodes[v.i].next
		for k := v.i + 1; k < end; {
			val := nodes[k].next
			if tail, ok := v.keyPrefix(k, rest); ok {
				if !(Value{d: v.d, i: val}).find(tail, fn) {
					return false
				}
			}
			k = nodes[val].next
		}
		return true
	default:
		if rest == "" {
			return fn(v)
		}
		return true
	}
}

// keyPrefix reports whether the key node k is the whole of path or the part
// of it before a dot, and returns what follows.
func (v Value) keyPrefix(k uint32, path string) (string, bool) {
	n := &v.d.nodes[k]
	if n.esc {
		key := unescape(v.d.src[n.start+1 : n.end-1])
		return cutKey(path, key)
	}
	// Cheap rejections first: most keys differ in length at a dot
	// boundary or in their first byte.
	klen := int(n.end - n.start - 2)
	if klen == 0 || klen > len(path) || (klen < len(path) && path[klen] != '.') || v.d.src[n.start+1] != path[0] {
		return "", false
	}
	if bytesString(v.d.src[n.start+1:n.end-1]) != path[:klen] {
		return "", false
	}
	if klen == len(path) {
		return "", true
	}
	return path[klen+1:], true
}

// cutKey reports whether key is the whole of path or the part of it before
// a dot, and returns what follows.
func cutKey(path, key string) (string, bool) {
	if key == "" || !strings.HasPrefix(path, key) {
		return "", false
	}
	if len(path) == len(key) {
		return "", true
	}
	if path[len(key)] == '.' {
		return path[len(key)+1:], true
	}
	return "", false
}

// unescape decodes the body of a JSON string that the parser has validated.
func unescape(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch b[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := rune(hex4(b[i+1 : i+5]))
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' && isHex4(b[i+3:i+7]) {
					r2 := rune(hex4(b[i+3 : i+7]))
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, b[i])
		}
	}
	return string(out)
}

func hex4(b []byte) int {
	n := 0
	for _, c := range b[:4] {
		n <<= 4
		switch {
		case c >= '0' && c <= '9':
			n |= int(c - '0')
		case c >= 'a' && c <= 'f':
			n |= int(c-'a') + 10
		default:
			n |= int(c-'A') + 10
		}
	}
	return n
}
