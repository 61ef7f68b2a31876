package sigma

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// dump renders parsed documents as stable, human-readable text for golden
// files. Every field of the representation that an engine uses appears.
func dump(docs []Document) string {
	var b strings.Builder
	for i, d := range docs {
		fmt.Fprintf(&b, "document %d: %s\n", i+1, d.Kind())
		dumpMeta(&b, d.Meta())
		switch d := d.(type) {
		case *Rule:
			dumpLogSource(&b, d.LogSource)
			dumpDetection(&b, "detection", d.Detection)
		case *Filter:
			dumpLogSource(&b, d.LogSource)
			fmt.Fprintf(&b, "  rules:%s\n", refs(d.Rules))
			dumpDetection(&b, "filter", d.Detection)
		case *Correlation:
			dumpCorrelation(&b, d)
		}
	}
	return b.String()
}

func refs(rs []RuleRef) string {
	var s string
	for _, r := range rs {
		s += fmt.Sprintf(" %q@%s", r.Ref, Position{r.Pos.Line, r.Pos.Col})
	}
	return s
}

func dumpMeta(b *strings.Builder, m *Metadata) {
	fmt.Fprintf(b, "  pos: %s\n", m.Pos)
	field := func(name, v string) {
		if v != "" {
			fmt.Fprintf(b, "  %s: %q\n", name, v)
		}
	}
	list := func(name string, v []string) {
		if len(v) > 0 {
			fmt.Fprintf(b, "  %s: %q\n", name, v)
		}
	}
	field("title", m.Title)
	field("id", m.ID)
	field("name", m.Name)
	for _, r := range m.Related {
		fmt.Fprintf(b, "  related: %s %s\n", r.Type, r.ID)
	}
	field("taxonomy", m.Taxonomy)
	field("status", string(m.Status))
	field("description", m.Description)
	field("license", m.License)
	field("author", m.Author)
	list("references", m.References)
	field("date", m.Date)
	field("modified", m.Modified)
	list("tags", m.Tags)
	field("level", string(m.Level))
	list("falsepositives", m.FalsePositives)
	list("fields", m.Fields)
	list("scope", m.Scope)
	if len(m.Custom) > 0 {
		fmt.Fprintf(b, "  custom: %s\n", plainString(m.Custom))
	}
}

// plainString renders custom attribute values with sorted map keys.
func plainString(v any) string {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k) + ": " + plainString(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = plainString(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case string:
		return strconv.Quote(v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T(%v)", v, v)
}

func dumpLogSource(b *strings.Builder, ls LogSource) {
	fmt.Fprintf(b, "  logsource: category=%q product=%q service=%q definition=%q", ls.Category, ls.Product, ls.Service, ls.Definition)
	if len(ls.Custom) > 0 {
		fmt.Fprintf(b, " custom=%s", plainString(ls.Custom))
	}
	b.WriteString("\n")
}

func dumpDetection(b *strings.Builder, name string, d *Detection) {
	fmt.Fprintf(b, "  %s: @%s\n", name, d.Pos)
	for i, id := range d.Identifiers {
		fmt.Fprintf(b, "    identifier #%d %q @%s\n", i, id.Name, id.Pos)
		for _, br := range id.Branches {
			fmt.Fprintf(b, "      branch @%s\n", br.Pos)
			for _, it := range br.Items {
				dumpItem(b, it)
			}
		}
	}
	for _, c := range d.Conditions {
		fmt.Fprintf(b, "    condition %q @%s\n      %s\n", c.Source, c.Pos, exprTree(c.Expr))
	}
}

func dumpItem(b *strings.Builder, it *Item) {
	fmt.Fprintf(b, "        item field=%q mods=%v match=%s", it.Field, it.Modifiers, it.Match)
	if it.TimePart != TimeNone {
		fmt.Fprintf(b, " time=%s", it.TimePart)
	}
	for _, f := range []struct {
		name string
		on   bool
	}{{"cased", it.Cased}, {"neq", it.Neq}, {"all", it.All}, {"expand", it.Expand}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	fmt.Fprintf(b, " @%s\n", it.Pos)
	for _, v := range it.Values {
		fmt.Fprintf(b, "          %s raw=%q @%s:", v.Kind, v.Raw, v.Pos)
		switch v.Kind {
		case KindString:
			for _, p := range v.Patterns {
				b.WriteString(" [" + segments(p) + "]")
			}
		case KindNumber:
			fmt.Fprintf(b, " %s int=%v", v.Number.Text, v.Number.IsInt)
		case KindBool:
			fmt.Fprintf(b, " %v", v.Bool)
		case KindNull:
			b.WriteString(" null")
		case KindRegex:
			fmt.Fprintf(b, " /%s/%s compiled=%q", v.Regex.Source, v.Regex.Flags, v.Regex.Re.String())
		case KindCIDR:
			fmt.Fprintf(b, " %s", v.CIDR)
		case KindFieldRef:
			fmt.Fprintf(b, " field %q", v.FieldRef)
		}
		b.WriteString("\n")
	}
}

// segments renders a pattern segment by segment.
func segments(p Pattern) string {
	parts := make([]string, 0, len(p))
	for _, s := range p {
		switch s.Kind {
		case SegLiteral:
			parts = append(parts, strconv.Quote(s.Text))
		case SegAnyString:
			parts = append(parts, "*")
		case SegAnyChar:
			parts = append(parts, "?")
		case SegPlaceholder:
			parts = append(parts, "%"+s.Text+"%")
		}
	}
	return strings.Join(parts, " ")
}

// exprTree renders a condition with resolved identifier indices.
func exprTree(e Expr) string {
	switch e := e.(type) {
	case *OrExpr:
		return "or" + args(e.Args)
	case *AndExpr:
		return "and" + args(e.Args)
	case *NotExpr:
		return "not(" + exprTree(e.X) + ")"
	case *IdentExpr:
		return fmt.Sprintf("%s#%d", e.Name, e.Index)
	case *OfExpr:
		q := strconv.Itoa(e.Count)
		if e.All {
			q = "all"
		}
		t := e.Pattern
		if e.Them {
			t = "them"
		}
		return fmt.Sprintf("%s-of(%s)%v", q, t, e.Indices)
	}
	return "?"
}

func args(es []Expr) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = exprTree(e)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func dumpCorrelation(b *strings.Builder, c *Correlation) {
	fmt.Fprintf(b, "  correlation: @%s\n", c.SectionPos)
	fmt.Fprintf(b, "    type: %s\n", c.Type)
	fmt.Fprintf(b, "    rules:%s\n", refs(c.Rules))
	fmt.Fprintf(b, "    group-by: %q\n", c.GroupBy)
	fmt.Fprintf(b, "    timespan: %s (%s)\n", c.TimespanText, c.Timespan)
	if c.Condition != nil {
		fmt.Fprintf(b, "    condition: field=%q", c.Condition.Field)
		for _, t := range c.Condition.Thresholds {
			fmt.Fprintf(b, " %s %s", t.Op, t.Value.Text)
		}
		b.WriteString("\n")
	}
	for _, a := range c.Aliases {
		fmt.Fprintf(b, "    alias %q:", a.Name)
		for _, f := range a.Fields {
			fmt.Fprintf(b, " %s=%q", f.Rule, f.Field)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "    generate: %v\n", c.Generate)
}
