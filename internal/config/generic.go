package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/secret"
)

// reflectValue is a leaf whose value is a Go struct, slice or map with
// `yaml` tags, decoded and printed by reflection: the notification
// receivers, the routing tree and the time intervals. Their types live
// next to the code that uses them; this decoder gives them the same
// strictness as the rest of the file.
//
// Supported: string, bool, int, time.Duration, secret.Secret (as <key> or
// <key>_file in a struct), pointers, structs, slices and maps with string
// keys of any of these. A struct whose pointer has a Validate() error
// method is checked by validation, at its line, with its key path.
type reflectValue struct{ p reflect.Value } // a pointer to the value

func reflectLeaf(ptr any) reflectValue { return reflectValue{reflect.ValueOf(ptr)} }

func (v reflectValue) decode(d *loader, key string, n *yaml.Node) {
	target := v.p.Elem()
	d.decodeValue(key, n, target)
	// A list or mapping at the top is never nil, so that it prints as
	// [] or {} and parses back the same.
	switch target.Kind() {
	case reflect.Slice:
		if target.IsNil() {
			target.Set(reflect.MakeSlice(target.Type(), 0, 0))
		}
	case reflect.Map:
		if target.IsNil() {
			target.Set(reflect.MakeMap(target.Type()))
		}
	}
}

func (v reflectValue) set(string) error { return errNoEnv }

func (v reflectValue) node() *yaml.Node {
	target := v.p.Elem()
	if n := encodeValue(target); n != nil {
		return n
	}
	if target.Kind() == reflect.Map || target.Kind() == reflect.Struct {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
	}
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
}

// envless marks values that cannot come from the environment.
func (reflectValue) envless() {}

var (
	secretType   = reflect.TypeFor[secret.Secret]()
	durationType = reflect.TypeFor[time.Duration]()
)

// structField is one field of a struct as the file names it.
type structField struct {
	key    string
	index  int
	secret bool // accepts <key>_file too
}

var fieldCache sync.Map // reflect.Type -> []structField

// fieldsOf lists the yaml-tagged fields of struct type t.
func fieldsOf(t reflect.Type) []structField {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]structField)
	}
	var out []structField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		out = append(out, structField{key: name, index: i, secret: f.Type == secretType})
	}
	fieldCache.Store(t, out)
	return out
}

func structKeys(fields []structField) []string {
	var out []string
	for _, f := range fields {
		out = append(out, f.key)
		if f.secret {
			out = append(out, f.key+"_file")
		}
	}
	return out
}

// decodeValue decodes n into v (settable), reporting problems under key.
func (d *loader) decodeValue(key string, n *yaml.Node, v reflect.Value) {
	d.src[key] = source{line: n.Line, col: n.Column}
	t := v.Type()
	switch {
	case t == secretType:
		switch {
		case isNull(n):
			v.SetString("")
		case n.Kind == yaml.ScalarNode:
			v.SetString(n.Value)
		default:
			d.atNode(n, key, "expected a string, got %s", kindName(n)) // never the value: it is a secret
		}
		return
	case t == durationType:
		durValue{v.Addr().Interface().(*time.Duration)}.decode(d, key, n)
		return
	}
	switch t.Kind() {
	case reflect.String:
		if s, ok := d.scalarText(key, n, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		boolValue{v.Addr().Interface().(*bool)}.decode(d, key, n)
	case reflect.Int:
		intValue{v.Addr().Interface().(*int)}.decode(d, key, n)
	case reflect.Pointer:
		d.decodePointer(key, n, v)
	case reflect.Slice:
		d.decodeSlice(key, n, v)
	case reflect.Map:
		d.decodeMap(key, n, v)
	case reflect.Struct:
		d.decodeStruct(key, n, v)
	default:
		panic(fmt.Sprintf("config: cannot decode a %s (at %s)", t, key))
	}
}

// decodePointer decodes into a new value. Null is nil, except for a
// pointer to a struct, where it is the struct with every key unset (so
// that `log:` with nothing after it is a log receiver with defaults).
func (d *loader) decodePointer(key string, n *yaml.Node, v reflect.Value) {
	elem := v.Type().Elem()
	if isNull(n) {
		if elem.Kind() == reflect.Struct {
			v.Set(reflect.New(elem))
		} else {
			v.SetZero()
		}
		return
	}
	p := reflect.New(elem)
	d.decodeValue(key, n, p.Elem())
	v.Set(p)
}

func (d *loader) decodeSlice(key string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.atNode(n, key, "expected a list, got %s", describeSafe(n, v.Type().Elem()))
		d.bad[key] = true
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		item = deref(item)
		k := key + "[" + strconv.Itoa(i) + "]"
		if v.Type().Elem().Kind() == reflect.String && v.Type().Elem() != secretType && item.Kind == yaml.ScalarNode && !isNull(item) && item.Value == "" {
			d.atNode(item, k, "empty entry")
			continue
		}
		d.decodeValue(k, item, out.Index(i))
	}
	v.Set(out)
}

func (d *loader) decodeMap(key string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		d.atNode(n, key, "expected a mapping, got %s", describeSafe(n, v.Type().Elem()))
		d.bad[key] = true
		return
	}
	out := reflect.MakeMap(v.Type())
	for _, p := range d.pairs(n, key) {
		name := p.key.Value
		if name == "" {
			d.atNode(p.key, key, "empty key")
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decodeValue(join(key, name), p.val, elem)
		out.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), elem)
	}
	v.Set(out)
}

// decodeStruct decodes the keys of mapping n into the fields of struct v;
// keys not given keep their value. Null keeps every field.
func (d *loader) decodeStruct(key string, n *yaml.Node, v reflect.Value) {
	fields := fieldsOf(v.Type())
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.atNode(n, key, "expected a mapping with keys %s, got %s", strings.Join(structKeys(fields), ", "), describe(n))
		d.bad[key] = true
		return
	}
	before := d.calls
	secretForm := map[string]*yaml.Node{}
	for _, p := range d.pairs(n, key) {
		name := p.key.Value
		var f *structField
		viaFile := false
		for i := range fields {
			if fields[i].key == name {
				f = &fields[i]
			} else if fields[i].secret && fields[i].key+"_file" == name {
				f, viaFile = &fields[i], true
			}
		}
		if f == nil {
			d.unknownStructKey(p.key, key, structKeys(fields))
			continue
		}
		full := join(key, f.key)
		if f.secret {
			if first, dup := secretForm[f.key]; dup {
				d.atNode(p.key, key, "give %s or %s_file, not both (the other is at line %d)", f.key, f.key, first.Line)
				continue
			}
			secretForm[f.key] = p.key
		}
		fv := v.Field(f.index)
		if viaFile {
			path, ok := d.scalarText(full+"_file", p.val, "a file name")
			if !ok {
				continue
			}
			s, err := d.readSecret(path)
			if err != nil {
				d.atNode(p.val, full+"_file", "%v", err)
				continue
			}
			fv.SetString(s.Reveal())
			d.src[full] = source{line: p.val.Line, col: p.val.Column, viaFile: true, secretFile: path}
			continue
		}
		d.decodeValue(full, p.val, fv)
	}
	if d.calls > before {
		d.bad[key] = true
	}
}

// unknownStructKey reports key k, which the struct at path does not have.
func (d *loader) unknownStructKey(k *yaml.Node, path string, valid []string) {
	what := "unknown key " + quoteKey(k.Value) + " in " + path
	if s := closest(k.Value, valid); s != "" {
		what += fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.atNode(k, "", "%s; valid keys: %s", what, strings.Join(valid, ", "))
}

// describeSafe is describe, without the value when it would be a secret.
func describeSafe(n *yaml.Node, elem reflect.Type) string {
	if elem == secretType {
		return kindName(n)
	}
	return describe(n)
}

// encodeValue renders v for Redacted, or nil for an unset value (a nil
// pointer, slice or map) and, inside structs, a zero scalar.
func encodeValue(v reflect.Value) *yaml.Node {
	t := v.Type()
	switch {
	case t == secretType:
		if v.String() == "" {
			return strNode("")
		}
		return strNode(redacted)
	case t == durationType:
		return strNode(formatDuration(time.Duration(v.Int())))
	}
	switch t.Kind() {
	case reflect.String:
		return strNode(v.String())
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case reflect.Int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return encodeValue(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if k := t.Elem().Kind(); v.Len() == 0 || k == reflect.String || k == reflect.Int || k == reflect.Bool {
			n.Style = yaml.FlowStyle // a list of scalars reads best on one line
		}
		for i := range v.Len() {
			n.Content = append(n.Content, encodeValue(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			n.Content = append(n.Content, strNode(k.String()), encodeValue(v.MapIndex(k)))
		}
		return n
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, f := range fieldsOf(t) {
			fv := v.Field(f.index)
			if fv.Kind() != reflect.Pointer && fv.Kind() != reflect.Slice && fv.Kind() != reflect.Map && fv.Kind() != reflect.Struct && fv.IsZero() {
				continue
			}
			if c := encodeValue(fv); c != nil {
				n.Content = append(n.Content, strNode(f.key), c)
			}
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle
		}
		return n
	}
	panic(fmt.Sprintf("config: cannot print a %s", t))
}

// validator is a configuration struct that checks itself.
type validator interface{ Validate() error }

// fieldPather is an error about one field of a struct, relative to it.
type fieldPather interface{ FieldPath() string }

// validateValue runs Validate on every struct in v, children first,
// skipping structs in which decoding found a problem.
func (l *loader) validateValue(key string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			l.validateValue(key, v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			l.validateValue(key+"["+strconv.Itoa(i)+"]", v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			l.validateValue(join(key, k.String()), v.MapIndex(k))
		}
	case reflect.Struct:
		for _, f := range fieldsOf(v.Type()) {
			l.validateValue(join(key, f.key), v.Field(f.index))
		}
		if l.bad[key] {
			return // its own problems are reported; Validate would only add noise
		}
		if !v.CanAddr() {
			cp := reflect.New(v.Type())
			cp.Elem().Set(v)
			v = cp.Elem()
		}
		if val, ok := v.Addr().Interface().(validator); ok {
			if err := val.Validate(); err != nil {
				l.reportAt(key, err, secretsIn(v))
			}
		}
	}
}

// reportAt reports err, from the value at key, one problem per joined
// error, each placed at the field it names when it names one. Secrets of
// the value are masked, should a message quote one.
func (l *loader) reportAt(key string, err error, secrets []string) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			l.reportAt(key, e, secrets)
		}
		return
	}
	if fp, ok := err.(fieldPather); ok && fp.FieldPath() != "" {
		if inner := errors.Unwrap(err); inner != nil {
			l.reportAt(joinPath(key, fp.FieldPath()), inner, secrets)
			return
		}
	}
	msg := err.Error()
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	msg = strings.Join(strings.Fields(msg), " ")
	l.atPath(key, "%s", msg)
}

// atPath reports a problem with the value at path, placed at the nearest
// enclosing key that the file set.
func (l *loader) atPath(path, format string, args ...any) {
	place := path
	for !l.isSet(place) {
		i := strings.LastIndexAny(place, ".[")
		if i <= 0 {
			break
		}
		place = place[:i]
	}
	src, ok := l.src[place]
	l.atSource(src, ok, path, format, args...)
}

// joinPath appends a relative field path ("name", "items[2]", "[1]").
func joinPath(key, rel string) string {
	if strings.HasPrefix(rel, "[") {
		return key + rel
	}
	return join(key, rel)
}

// secretsIn returns the non-empty secrets in v.
func secretsIn(v reflect.Value) []string {
	var out []string
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		if depth > MaxDepth {
			return
		}
		if v.Type() == secretType {
			if s := v.String(); s != "" {
				out = append(out, s)
			}
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), depth+1)
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), depth+1)
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k), depth+1)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i), depth+1)
				}
			}
		}
	}
	walk(v, 0)
	// Longest first, so that a secret containing another is masked whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}
