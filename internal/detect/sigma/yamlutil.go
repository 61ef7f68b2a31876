package sigma

import (
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// deref follows alias nodes to the node they stand for. checkTree has made
// sure that alias chains are finite.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 1000; i++ {
		n = n.Alias
	}
	return n
}

// kindName describes a node for error messages.
func kindName(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		case "!!str", "!!timestamp":
			return "a string"
		}
		return "a scalar tagged " + n.ShortTag()
	}
	return "an unexpected YAML node"
}

// treeInfo is the size of a YAML subtree with aliases expanded.
type treeInfo struct {
	nodes  int
	height int
}

// checkTree enforces MaxNodes and MaxDepth on a document with every alias
// expanded, without ever expanding one: sizes are memoised per node, so an
// alias bomb ("billion laughs") costs time linear in the text. Recursive
// aliases are rejected.
func (p *parser) checkTree(root *yaml.Node) bool {
	memo := map[*yaml.Node]treeInfo{}
	active := map[*yaml.Node]bool{}
	limit := p.lim.MaxNodes
	var measure func(n *yaml.Node) (treeInfo, bool)
	measure = func(n *yaml.Node) (treeInfo, bool) {
		if n == nil {
			return treeInfo{}, true
		}
		if ti, ok := memo[n]; ok {
			return ti, true
		}
		if active[n] {
			p.errorf(n, "recursive YAML alias: a node contains an alias to itself")
			return treeInfo{}, false
		}
		active[n] = true
		defer delete(active, n)
		var ti treeInfo
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				p.errorf(n, "YAML alias *%s has no anchor", n.Value)
				return treeInfo{}, false
			}
			t, ok := measure(n.Alias)
			if !ok {
				return treeInfo{}, false
			}
			ti = t
		} else {
			ti.nodes = 1
			for _, c := range n.Content {
				t, ok := measure(c)
				if !ok {
					return treeInfo{}, false
				}
				ti.nodes = min(ti.nodes+t.nodes, limit+1) // saturate
				ti.height = max(ti.height, t.height+1)
			}
		}
		memo[n] = ti
		return ti, true
	}
	ti, ok := measure(root)
	if !ok {
		return false
	}
	if ti.nodes > limit {
		p.blameSize(root, memo)
		return false
	}
	if ti.height+1 > p.lim.MaxDepth {
		p.blameDepth(root, memo, 1)
		return false
	}
	return true
}

// blameSize reports the node at which a depth-first walk crosses MaxNodes.
func (p *parser) blameSize(root *yaml.Node, memo map[*yaml.Node]treeInfo) {
	count := 0
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n.Kind == yaml.AliasNode {
			count += memo[n].nodes
			if count > p.lim.MaxNodes {
				p.errorf(n, "alias *%s expands the document beyond %d YAML nodes (alias bomb?)", n.Value, p.lim.MaxNodes)
				return true
			}
			return false
		}
		count++
		if count > p.lim.MaxNodes {
			p.errorf(n, "document has more than %d YAML nodes", p.lim.MaxNodes)
			return true
		}
		for _, c := range n.Content {
			if walk(c) {
				return true
			}
		}
		return false
	}
	if !walk(root) {
		p.errorf(root, "document has more than %d YAML nodes", p.lim.MaxNodes)
	}
}

// blameDepth reports the first node nested deeper than MaxDepth.
func (p *parser) blameDepth(n *yaml.Node, memo map[*yaml.Node]treeInfo, depth int) bool {
	if n.Kind == yaml.AliasNode {
		if depth+memo[n].height > p.lim.MaxDepth {
			p.errorf(n, "alias *%s nests the document deeper than %d levels", n.Value, p.lim.MaxDepth)
			return true
		}
		return false
	}
	if depth > p.lim.MaxDepth {
		p.errorf(n, "YAML nesting is too deep (limit %d levels)", p.lim.MaxDepth)
		return true
	}
	for _, c := range n.Content {
		if p.blameDepth(c, memo, depth+1) {
			return true
		}
	}
	return false
}

// pair is one key/value entry of a YAML mapping.
type pair struct {
	key *yaml.Node // scalar
	val *yaml.Node // alias-resolved
}

// mapPairs returns the entries of mapping n in order. It reports non-scalar
// keys, merge keys and duplicate keys, and leaves those entries out.
func (p *parser) mapPairs(n *yaml.Node) []pair {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	seen := map[string]*yaml.Node{}
	out := make([]pair, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "mapping key must be a scalar, got %s", kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			p.errorf(k, "YAML merge keys (<<) are not supported")
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			p.errorf(k, "duplicate key %q (first defined at %s)", k.Value, nodePos(prev))
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{key: k, val: v})
	}
	return out
}

// isString reports whether n is a scalar the specification treats as a
// string. Unquoted dates resolve to !!timestamp and count as strings.
func isString(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!str" || n.ShortTag() == "!!timestamp")
}

// str returns the string value of n, reporting an error naming what when n
// is not a string.
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if !isString(n) {
		p.errorf(n, "%s must be a string, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// strList returns the strings of list n. When single is true a lone string
// is accepted as a one-element list.
func (p *parser) strList(n *yaml.Node, what string, single bool) ([]string, bool) {
	n = deref(n)
	if single && isString(n) {
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a list of strings, got %s", what, kindName(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, c := range n.Content {
		s, good := p.str(c, what+" entry")
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

// plain converts a YAML node into plain Go values (string, int64, float64,
// bool, nil, []any, map[string]any) for custom attributes.
func plain(n *yaml.Node) any {
	n = deref(n)
	switch n.Kind {
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			out = append(out, plain(c))
		}
		return out
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[deref(n.Content[i]).Value] = plain(n.Content[i+1])
		}
		return out
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b
			}
		case "!!int":
			if num, ok := scalarNumber(n); ok {
				if num.IsInt {
					return num.Int
				}
				return num.Float
			}
		case "!!float":
			if num, ok := scalarNumber(n); ok {
				return num.Float
			}
		}
		return n.Value
	}
	return nil
}

// scalarNumber decodes an !!int or !!float scalar.
func scalarNumber(n *yaml.Node) (Number, bool) {
	switch n.ShortTag() {
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return Number{Text: strconv.FormatInt(i, 10), Int: i, Float: float64(i), IsInt: true}, true
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return Number{Text: strconv.FormatUint(u, 10), Float: float64(u)}, true
		}
		return Number{}, false
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return Number{}, false
		}
		return Number{Text: strconv.FormatFloat(f, 'g', -1, 64), Float: f}, true
	}
	return Number{}, false
}
