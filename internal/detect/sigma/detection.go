package sigma

import (
	"fmt"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Detection is the detection section of a rule, or the filter section of a
// filter: named search identifiers and the conditions that combine them.
type Detection struct {
	// Identifiers are the search identifiers in source order. Condition
	// nodes refer to them by index.
	Identifiers []*SearchIdentifier
	// Conditions holds one entry per condition; a list of conditions is
	// linked with OR.
	Conditions []*Condition
	Pos        Position
}

// Lookup returns the index of the search identifier called name.
func (d *Detection) Lookup(name string) (int, bool) {
	for i, id := range d.Identifiers {
		if id.Name == name {
			return i, true
		}
	}
	return -1, false
}

// SearchIdentifier is a named selection. It matches when any of its
// branches matches.
type SearchIdentifier struct {
	Name     string
	Branches []*Branch
	Pos      Position
}

// Branch is a conjunction: it matches when every item matches. A mapping
// gives one branch; a list of mappings gives one branch per mapping; a list
// of plain values gives one branch with one keyword item.
type Branch struct {
	Items []*Item
	Pos   Position
}

// Item is one "field|modifiers: values" entry, or a keyword search when
// Field is empty.
//
// Semantics: each Value matches when any of its alternatives matches; the
// item matches when any value matches (every value when All is set); Neq
// negates that result. Keyword items search the whole event; without a
// match modifier their Match is MatchContains.
type Item struct {
	Field     string     // "" for a keyword search
	Modifiers []Modifier // as written, in order
	Match     MatchKind
	TimePart  TimePart // date component compared instead of the field itself
	Cased     bool     // compare strings case-sensitively (default: insensitive)
	Neq       bool     // the item matches when the field matches none of the values
	All       bool     // every value must match instead of any
	Expand    bool     // string values may hold placeholders (SegPlaceholder)
	Values    []*Value
	Pos       Position
}

// conditionKey is the key of the condition in a detection.
const conditionKey = "condition"

// parseDetection parses a detection (or filter) mapping. Keys in skip belong
// to the caller.
func (p *parser) parseDetection(n *yaml.Node, section string, skip map[string]bool) *Detection {
	d := &Detection{Pos: nodePos(n)}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping of search identifiers and a condition, got %s", section, kindName(n))
		return d
	}
	var condNode *yaml.Node
	items, named := 0, 0
	for _, kv := range p.mapPairs(n) {
		name := kv.key.Value
		if skip[name] {
			continue
		}
		if name == conditionKey {
			condNode = kv.val
			continue
		}
		if len(d.Identifiers) >= p.lim.MaxIdentifiers {
			p.errorf(kv.key, "too many search identifiers in %s (limit %d)", section, p.lim.MaxIdentifiers)
			break
		}
		named++
		if name == "timeframe" && section == "detection" {
			p.errorf(kv.key, "detection.timeframe was removed in Sigma v2: use the timespan of a correlation rule")
			continue
		}
		if msg := identNameProblem(name); msg != "" {
			p.errorf(kv.key, "search identifier %q %s", name, msg)
			continue
		}
		id := p.parseSearchIdentifier(name, kv.key, kv.val, &items)
		d.Identifiers = append(d.Identifiers, id)
	}
	if named == 0 {
		p.errorf(n, "%s defines no search identifier", section)
	}
	if condNode == nil {
		p.errorf(n, "%s has no condition", section)
		return d
	}
	d.Conditions = p.parseConditions(condNode, d)
	return d
}

// identNameProblem explains why a search identifier name cannot be used in a
// condition, or returns "".
func identNameProblem(name string) string {
	switch {
	case name == "":
		return "has an empty name"
	case isReserved(name):
		return "is a condition keyword and cannot be referenced"
	case strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || r == '(' || r == ')' || r == '|' || r == '*'
	}) >= 0:
		return "contains whitespace, parentheses, \"|\" or \"*\" and cannot be referenced in a condition"
	case strings.Trim(name, "0123456789") == "":
		return "is a number and cannot be referenced in a condition"
	}
	return ""
}

func (p *parser) parseConditions(n *yaml.Node, d *Detection) []*Condition {
	var nodes []*yaml.Node
	switch {
	case isString(n):
		nodes = []*yaml.Node{n}
	case n.Kind == yaml.SequenceNode:
		if len(n.Content) == 0 {
			p.errorf(n, "condition list is empty")
		}
		for _, c := range n.Content {
			c = deref(c)
			if !isString(c) {
				p.errorf(c, "condition must be a string, got %s", kindName(c))
				continue
			}
			nodes = append(nodes, c)
		}
	default:
		p.errorf(n, "condition must be a string or a list of strings, got %s", kindName(n))
		return nil
	}
	names := make([]string, len(d.Identifiers))
	for i, id := range d.Identifiers {
		names[i] = id.Name
	}
	var out []*Condition
	for _, c := range nodes {
		expr, err := parseCondition(c.Value, names, p.lim)
		if err != nil {
			p.errorf(c, "condition %q: %s (condition column %d)", clip(c.Value, 60), err.Msg, err.Col)
			continue
		}
		out = append(out, &Condition{Source: c.Value, Expr: expr, Pos: nodePos(c)})
	}
	return out
}

// clip shortens s for use in a message.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}

func (p *parser) parseSearchIdentifier(name string, key, v *yaml.Node, items *int) *SearchIdentifier {
	id := &SearchIdentifier{Name: name, Pos: nodePos(key)}
	where := fmt.Sprintf("search identifier %q", name)
	switch v.Kind {
	case yaml.MappingNode:
		if b := p.parseBranch(where, v, items); b != nil {
			id.Branches = append(id.Branches, b)
		}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.errorf(v, "%s is an empty list", where)
			return id
		}
		maps, scalars := 0, 0
		for _, c := range v.Content {
			switch deref(c).Kind {
			case yaml.MappingNode:
				maps++
			case yaml.ScalarNode:
				scalars++
			default:
				p.errorf(c, "%s: list entries must be mappings or plain values, got %s", where, kindName(c))
				return id
			}
		}
		if maps > 0 && scalars > 0 {
			p.errorf(v, "%s mixes mappings and plain values in one list: put the keywords in a search identifier of their own", where)
			return id
		}
		if maps > 0 {
			for _, c := range v.Content {
				if b := p.parseBranch(where, deref(c), items); b != nil {
					id.Branches = append(id.Branches, b)
				}
			}
			return id
		}
		if it := p.parseItem(where, "", nil, v, v, items); it != nil {
			id.Branches = append(id.Branches, &Branch{Items: []*Item{it}, Pos: nodePos(v)})
		}
	case yaml.ScalarNode:
		if v.ShortTag() == "!!null" {
			p.errorf(v, "%s is empty", where)
			return id
		}
		// A single keyword.
		if it := p.parseItem(where, "", nil, v, v, items); it != nil {
			id.Branches = append(id.Branches, &Branch{Items: []*Item{it}, Pos: nodePos(v)})
		}
	}
	return id
}

func (p *parser) parseBranch(where string, m *yaml.Node, items *int) *Branch {
	pairs := p.mapPairs(m)
	if len(pairs) == 0 {
		p.errorf(m, "%s has an empty mapping", where)
		return nil
	}
	b := &Branch{Pos: nodePos(m)}
	for _, kv := range pairs {
		field, mods, _ := strings.Cut(kv.key.Value, "|")
		var modList []string
		if strings.Contains(kv.key.Value, "|") {
			modList = strings.Split(mods, "|")
		}
		if field == "" && len(modList) == 0 {
			p.errorf(kv.key, "%s: empty field name", where)
			continue
		}
		if it := p.parseItem(where, field, modList, kv.key, kv.val, items); it != nil {
			b.Items = append(b.Items, it)
		}
	}
	if len(b.Items) == 0 {
		return nil
	}
	return b
}

// parseItem builds one item. at is the node errors about the whole item
// point to (the key, or the list for keywords).
func (p *parser) parseItem(where, field string, mods []string, at, val *yaml.Node, items *int) *Item {
	if p.full {
		return nil // MaxErrors reached: stop doing work
	}
	*items++
	if *items > p.lim.MaxItems {
		if *items == p.lim.MaxItems+1 {
			p.errorf(at, "too many items in one detection (limit %d)", p.lim.MaxItems)
		}
		return nil
	}
	keyword := field == ""
	label := fmt.Sprintf("%s, field %q", where, field)
	if keyword {
		label = where + ", keywords"
	}
	spec, probs := parseModifiers(mods, keyword)
	for _, pr := range probs {
		p.errorf(at, "%s: %s", label, pr)
	}
	if len(probs) > 0 {
		return nil
	}
	it := &Item{
		Field: field, Match: spec.match, TimePart: spec.timePart,
		Cased: spec.cased, Neq: spec.neq, All: spec.all, Expand: spec.expand,
		Pos: nodePos(at),
	}
	for _, m := range mods {
		it.Modifiers = append(it.Modifiers, Modifier(m))
	}
	if keyword && it.Match == MatchEquals {
		it.Match = MatchContains
	}
	var valNodes []*yaml.Node
	switch val.Kind {
	case yaml.ScalarNode:
		valNodes = []*yaml.Node{val}
	case yaml.SequenceNode:
		if len(val.Content) == 0 {
			p.errorf(val, "%s: empty list of values", label)
			return nil
		}
		for _, c := range val.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode {
				p.errorf(c, "%s: values must be plain scalars, got %s", label, kindName(c))
				return nil
			}
			valNodes = append(valNodes, c)
		}
	default:
		p.errorf(val, "%s: value must be a scalar or a list of scalars, got %s", label, kindName(val))
		return nil
	}
	if len(valNodes) > p.lim.MaxValues {
		p.errorf(val, "%s: too many values (%d, limit %d)", label, len(valNodes), p.lim.MaxValues)
		return nil
	}
	if it.All && len(valNodes) < 2 {
		p.errorf(at, "%s: modifier \"all\" needs a list of at least two values", label)
		return nil
	}
	if it.Match == MatchExists && len(valNodes) != 1 {
		p.errorf(val, "%s: modifier \"exists\" takes a single true or false", label)
		return nil
	}
	ok := true
	alts := 0
	for _, vn := range valNodes {
		v, msg := p.buildValue(spec, vn, keyword)
		if msg != "" {
			p.errorf(vn, "%s: %s", label, msg)
			ok = false
			continue
		}
		alts += max(len(v.Patterns), 1)
		if alts > p.lim.MaxAlternatives {
			p.errorf(vn, "%s: values expand into more than %d alternatives", label, p.lim.MaxAlternatives)
			return nil
		}
		for _, pat := range v.Patterns {
			for _, seg := range pat {
				p.expanded += len(seg.Text) + 1
			}
		}
		if p.expanded > p.lim.MaxExpandedBytes {
			p.errorf(vn, "%s: the file's values expand beyond %d bytes", label, p.lim.MaxExpandedBytes)
			return nil
		}
		it.Values = append(it.Values, v)
	}
	if !ok {
		return nil
	}
	return it
}
