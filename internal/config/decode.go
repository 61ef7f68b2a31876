package config

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/suggest"
)

// loader carries one load: the problems found so far, where each key's
// value came from, and how secret files are read.
type loader struct {
	problems
	src        map[string]source
	bad        map[string]bool // structs in which decoding found a problem
	readSecret func(path string) (Secret, error)
}

func newLoader(file string) *loader {
	return &loader{
		problems:   problems{file: file, seen: map[string]bool{}},
		src:        map[string]source{},
		bad:        map[string]bool{},
		readSecret: readSecretFile,
	}
}

// pair is one entry of a YAML mapping, both nodes alias-resolved.
type pair struct{ key, val *yaml.Node }

// document decodes the root of a parsed file into fields.
func (d *loader) document(root *yaml.Node, fields []field) {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == 0 {
		return // an empty file or one with only comments
	}
	d.section(deref(root), "", fields)
}

// section decodes mapping n, whose dotted path is path, into fields.
func (d *loader) section(n *yaml.Node, path string, fields []field) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.atNode(n, path, "expected a mapping with keys %s, got %s", strings.Join(keyNames(fields), ", "), describe(n))
		return
	}
	if path != "" {
		// Where the section is, for problems with keys of it that the file
		// left at their defaults.
		d.src[path] = source{line: n.Line, col: n.Column}
	}
	secretForm := map[string]*yaml.Node{} // secret key -> the first form seen
	for _, p := range d.pairs(n, path) {
		f, viaFile := lookup(fields, p.key.Value)
		if f == nil {
			d.unknownKey(p.key, path, fields)
			continue
		}
		full := join(path, f.key)
		if f.sub != nil {
			d.section(p.val, full, f.sub)
			continue
		}
		sv, isSecret := f.val.(secretValue)
		if isSecret {
			if first, dup := secretForm[f.key]; dup {
				d.atNode(p.key, path, "give %s or %s_file, not both (the other is at line %d)", f.key, f.key, first.Line)
				continue
			}
			secretForm[f.key] = p.key
		}
		if viaFile {
			if file, ok := sv.decodeFile(d, full+"_file", p.val); ok {
				d.src[full] = source{line: p.val.Line, col: p.val.Column, viaFile: true, secretFile: file}
			}
			continue
		}
		f.val.decode(d, full, p.val)
		d.src[full] = source{line: p.val.Line, col: p.val.Column}
	}
}

// lookup finds the field for key. viaFile is true when key is the
// <key>_file form of a secret.
func lookup(fields []field, key string) (f *field, viaFile bool) {
	for i := range fields {
		if fields[i].key == key {
			return &fields[i], false
		}
		if _, ok := fields[i].val.(secretValue); ok && fields[i].key+"_file" == key {
			return &fields[i], true
		}
	}
	return nil, false
}

// keyNames lists the keys a mapping of fields accepts.
func keyNames(fields []field) []string {
	var out []string
	for _, f := range fields {
		out = append(out, f.key)
		if _, ok := f.val.(secretValue); ok {
			out = append(out, f.key+"_file")
		}
	}
	return out
}

// unknownKey reports key k, which no field of path accepts.
func (d *loader) unknownKey(k *yaml.Node, path string, fields []field) {
	valid := keyNames(fields)
	what := "unknown top-level key " + quoteKey(k.Value)
	if path != "" {
		what = "unknown key " + quoteKey(k.Value) + " in " + path
	}
	if s := closest(k.Value, valid); s != "" {
		what += fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.atNode(k, "", "%s; valid keys: %s", what, strings.Join(valid, ", "))
}

// pairs returns the entries of mapping n: its own keys in order, then those
// brought in by YAML merge keys (<<) that it does not set itself. It reports
// duplicate and non-scalar keys and leaves them out.
func (d *loader) pairs(n *yaml.Node, path string) []pair {
	seen := map[string]*yaml.Node{}
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.atNode(k, path, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(v, path)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.atNode(k, path, "duplicate key %s (first at line %d)", quoteKey(k.Value), first.Line)
			continue
		}
		seen[k.Value] = k
		own = append(own, pair{k, v})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key
			own = append(own, p)
		}
	}
	return own
}

// merge returns the entries a merge key's value brings in: one mapping, or
// a list of mappings where earlier ones win.
func (d *loader) merge(v *yaml.Node, path string) []pair {
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range v.Content {
			item = deref(item)
			if item.Kind != yaml.MappingNode {
				d.atNode(item, path, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(item))
				continue
			}
			out = append(out, d.pairs(item, path)...)
		}
		return out
	}
	d.atNode(v, path, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(v))
	return nil
}

// scalarText returns the text of scalar n; null gives "". Anything else is
// reported as not being want.
func (d *loader) scalarText(key string, n *yaml.Node, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.atNode(n, key, "expected %s, got %s", want, kindName(n))
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	return n.Value, true
}

// deref follows alias nodes to the node they stand for. checkTree has made
// sure alias chains end.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < MaxDepth; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// kindName names the kind of n, without its value.
func kindName(n *yaml.Node) string {
	switch {
	case n == nil || isNull(n):
		return "nothing (null)"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!bool":
		return "a boolean"
	case "!!int", "!!float":
		return "a number"
	}
	return "a string"
}

// describe names the kind of n and, for a scalar, its value (shortened).
// Never use it on a secret.
func describe(n *yaml.Node) string {
	k := kindName(n)
	if n == nil || n.Kind != yaml.ScalarNode || isNull(n) {
		return k
	}
	v := n.Value
	if len(v) > 40 {
		i := 40
		for i > 0 && !utf8.RuneStart(v[i]) {
			i--
		}
		v = v[:i] + "…"
	}
	return fmt.Sprintf("%s %q", k, v)
}

// quoteKey quotes a key for a message, shortening a long one.
func quoteKey(k string) string {
	if len(k) > 60 {
		i := 60
		for i > 0 && !utf8.RuneStart(k[i]) {
			i--
		}
		k = k[:i] + "…"
	}
	return fmt.Sprintf("%q", k)
}

// closest returns the candidate nearest to s, if it is near enough to be
// what the user meant.
func closest(s string, candidates []string) string {
	if len(s) > 64 {
		return ""
	}
	best, bestDist := "", 0
	for _, c := range candidates {
		if strings.EqualFold(s, c) {
			return c
		}
		dist := editDistance(strings.ToLower(s), strings.ToLower(c))
		if best == "" || dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if bestDist <= max(1, min(3, len(best)/3)) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int { return suggest.Distance(a, b) }
