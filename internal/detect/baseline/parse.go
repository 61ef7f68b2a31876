package baseline

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Bounds of one rule.
const (
	maxFields     = 8    // fields of Key and New together
	maxClauses    = 64   // alternatives in events or except
	maxConds      = 32   // conditions per alternative
	maxCondValues = 1024 // values per condition
	maxTextLen    = 4096 // bytes of a title, description or value
)

var levels = []string{"informational", "low", "medium", "high", "critical"}

var ruleKeys = []string{"id", "name", "title", "description", "author", "date", "modified", "status",
	"references", "level", "tags", "falsepositives", "kind", "events", "except", "key", "new", "value",
	"bucket", "seasonality", "learning", "key_learning", "cooldown", "threshold", "max_keys"}

// rateOnly and firstSeenOnly are the keys that belong to one kind.
var (
	rateOnly      = []string{"value", "bucket", "seasonality", "cooldown", "threshold"}
	firstSeenOnly = []string{"new", "key_learning"}
)

// Parse reads the baseline rules in data, which was read from file (the
// name is used in errors). It returns the rules without problems and, if
// any rule or the file has one, a sigma.ErrorList with every problem and
// its line and column.
func Parse(file string, data []byte) ([]*Rule, error) {
	p := &yparser{file: file}
	var rules []*Rule
	for _, doc := range p.documents(data) {
		before := len(p.errs)
		r := p.rule(doc)
		if r != nil && len(p.errs) == before {
			rules = append(rules, r)
		}
	}
	if len(p.errs) > 0 {
		return rules, p.errs
	}
	return rules, nil
}

func (p *yparser) rule(doc *yaml.Node) *Rule {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		p.errorf(doc, "empty document: a baseline rule is a mapping with id, title, kind and events")
		return nil
	}
	root := doc.Content[0]
	r := &Rule{File: p.file, Line: root.Line}
	fields := map[string]*yaml.Node{}
	keyNode := map[string]*yaml.Node{}
	for _, kv := range p.pairs(root, "a baseline rule", ruleKeys...) {
		fields[kv.key.Value] = kv.val
		keyNode[kv.key.Value] = kv.key
	}
	if root.Kind != yaml.MappingNode {
		return nil
	}
	text := func(name string, dst *string, required bool) {
		n := fields[name]
		if n == nil {
			if required {
				p.errorf(root, "missing %s", name)
			}
			return
		}
		if s, ok := p.str(n, name); ok {
			if len(s) > maxTextLen {
				p.errorf(n, "%s is longer than %d bytes", name, maxTextLen)
				return
			}
			if required && strings.TrimSpace(s) == "" {
				p.errorf(n, "%s must not be empty", name)
			}
			*dst = s
		}
	}
	list := func(name string, dst *[]string) {
		if n := fields[name]; n != nil {
			*dst, _ = p.strList(n, name)
		}
	}
	text("id", &r.ID, true)
	text("title", &r.Title, true)
	text("name", &r.Name, false)
	text("description", &r.Description, false)
	text("author", &r.Author, false)
	var ignored string
	text("date", &ignored, false)
	text("modified", &ignored, false)
	text("status", &ignored, false)
	text("level", &r.Level, false)
	if n := fields["level"]; n != nil && r.Level != "" && !contains(levels, r.Level) {
		p.errorf(n, "level %q is not one of %s", r.Level, strings.Join(levels, ", "))
	}
	list("references", &r.References)
	list("tags", &r.Tags)
	list("falsepositives", &r.FalsePositives)

	var kind string
	text("kind", &kind, true)
	switch Kind(kind) {
	case Rate, FirstSeen:
		r.Kind = Kind(kind)
	case "":
	default:
		p.errorf(fields["kind"], "kind %q is not %q or %q", kind, Rate, FirstSeen)
	}
	var other []string
	switch r.Kind {
	case Rate:
		other = firstSeenOnly
	case FirstSeen:
		other = rateOnly
	}
	for _, k := range other {
		if n := keyNode[k]; n != nil {
			p.errorf(n, "%s does not apply to a %s rule", k, r.Kind)
		}
	}

	if n := fields["events"]; n != nil {
		r.Events = p.clauses(n, "events")
		if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
			p.errorf(n, "events must list at least one set of conditions")
		}
	} else {
		p.errorf(root, "missing events: say which events the rule reads, for example events: [{source: aws.cloudtrail}]")
	}
	if n := fields["except"]; n != nil {
		r.Except = p.clauses(n, "except")
	}
	if n := fields["key"]; n != nil {
		r.Key = p.fieldList(n, "key")
	}
	if n := fields["new"]; n != nil {
		r.New = p.fieldList(n, "new")
	}
	switch r.Kind {
	case Rate:
		if len(r.Key) == 0 && fields["key"] == nil {
			p.errorf(root, "missing key: a rate rule needs the fields that tell its series apart, such as key: [function]")
		}
	case FirstSeen:
		if fields["new"] == nil {
			p.errorf(root, "missing new: a first_seen rule needs the fields whose new values it reports, such as new: [source_ip]")
		}
	}
	if len(r.Key)+len(r.New) > maxFields {
		p.errorf(root, "key and new have %d fields together, more than %d", len(r.Key)+len(r.New), maxFields)
	}
	for _, f := range r.New {
		if contains(r.Key, f) {
			p.errorf(fields["new"], "field %s is in both key and new", f)
		}
	}

	r.Learning = DefaultLearning
	if n := fields["learning"]; n != nil {
		r.Learning, _ = p.duration(n, "learning", 0, 365*24*time.Hour)
	}
	if n := fields["key_learning"]; n != nil && r.Kind == FirstSeen {
		r.KeyLearning, _ = p.duration(n, "key_learning", 0, 365*24*time.Hour)
		if len(r.Key) == 0 {
			p.errorf(n, "key_learning needs a key: the entity whose age it measures")
		}
	}
	if n := fields["max_keys"]; n != nil {
		v, _ := p.integer(n, "max_keys", 1, 1<<26)
		r.MaxKeys = int(v)
	}
	if r.Kind == Rate {
		p.rateFields(r, fields)
	}
	return r
}

// rateFields reads the parts of a rate rule.
func (p *yparser) rateFields(r *Rule, fields map[string]*yaml.Node) {
	r.Bucket = DefaultBucket
	if n := fields["bucket"]; n != nil {
		if d, ok := p.duration(n, "bucket", time.Minute, time.Hour); ok {
			if d%time.Minute != 0 || time.Hour%d != 0 {
				p.errorf(n, "bucket must be a whole number of minutes that divides an hour (1m, 2m, 5m, 10m, 15m, 30m, 1h...), got %s", n.Value)
			} else {
				r.Bucket = d
			}
		}
	}
	if n := fields["value"]; n != nil {
		r.Value = p.value(n)
	}
	r.Seasonality = DefaultSeasonality
	if r.aggregate() == AggregateMean {
		r.Seasonality = SeasonalityNone
	}
	if n := fields["seasonality"]; n != nil {
		if s, ok := p.str(n, "seasonality"); ok {
			switch {
			case s != SeasonalityWeek && s != SeasonalityNone:
				p.errorf(n, "seasonality %q is not %q or %q", s, SeasonalityWeek, SeasonalityNone)
			case s == SeasonalityWeek && r.aggregate() == AggregateMean:
				p.errorf(n, "seasonality week applies to counts and sums; a mean is compared with one learned value (seasonality: none)")
			default:
				r.Seasonality = s
			}
		}
	}
	r.Cooldown = DefaultCooldown
	if n := fields["cooldown"]; n != nil {
		r.Cooldown, _ = p.duration(n, "cooldown", 0, 30*24*time.Hour)
	}
	r.Threshold = Threshold{ZScore: DefaultZScore, Ratio: DefaultRatio, Min: DefaultMin, MinEvents: DefaultMinEvents}
	if n := fields["threshold"]; n != nil {
		for _, kv := range p.pairs(n, "threshold", "zscore", "ratio", "min", "min_events") {
			switch kv.key.Value {
			case "zscore":
				r.Threshold.ZScore, _ = p.number(kv.val, "threshold zscore", 0, 1000)
			case "ratio":
				r.Threshold.Ratio, _ = p.number(kv.val, "threshold ratio", 0, 1e6)
			case "min":
				r.Threshold.Min, _ = p.number(kv.val, "threshold min", 0, 1e15)
			case "min_events":
				v, _ := p.integer(kv.val, "threshold min_events", 1, 1<<30)
				r.Threshold.MinEvents = int(v)
			}
		}
	}
}

// value reads a rate rule's value: a raw field name, or a mapping.
func (p *yparser) value(n *yaml.Node) *Value {
	v := &Value{Scale: 1, Aggregate: AggregateSum}
	numeric := func(n *yaml.Node, what string) string {
		s, ok := p.str(n, what)
		if !ok {
			return ""
		}
		if !strings.HasPrefix(s, RawPrefix) {
			p.errorf(n, "%s must be a numeric field of the native record, written raw.<path> (such as raw.lambda.billedDurationMs), got %q", what, s)
			return ""
		}
		if ok, why := knownField(s); !ok {
			p.errorf(n, "%s: %s", what, why)
			return ""
		}
		return s
	}
	if n.Kind == yaml.ScalarNode {
		v.Field = numeric(n, "value")
		return v
	}
	var hasField bool
	for _, kv := range p.pairs(n, "value", "field", "times", "scale", "aggregate") {
		switch kv.key.Value {
		case "field":
			v.Field, hasField = numeric(kv.val, "value field"), true
		case "times":
			v.Times = numeric(kv.val, "value times")
		case "scale":
			v.Scale, _ = p.number(kv.val, "value scale", 1e-12, 1e12)
		case "aggregate":
			if s, ok := p.str(kv.val, "value aggregate"); ok {
				if s != AggregateSum && s != AggregateMean {
					p.errorf(kv.val, "value aggregate %q is not %q or %q", s, AggregateSum, AggregateMean)
				} else {
					v.Aggregate = s
				}
			}
		}
	}
	if !hasField && n.Kind == yaml.MappingNode {
		p.errorf(n, "value needs a field: the raw.<path> of the number to add up")
	}
	return v
}

// fieldList reads a list of field names.
func (p *yparser) fieldList(n *yaml.Node, what string) []string {
	names, ok := p.strList(n, what)
	if !ok {
		return nil
	}
	if len(names) == 0 {
		p.errorf(n, "%s must name at least one field", what)
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for i, name := range names {
		at := items[min(i, len(items)-1)]
		if ok, why := knownField(name); !ok {
			p.errorf(at, "%s: %s", what, why)
		} else if contains(names[:i], name) {
			p.errorf(at, "%s names field %s twice", what, name)
		}
	}
	return names
}

// clauses reads events or except: a list of condition mappings, or one.
func (p *yparser) clauses(n *yaml.Node, what string) []Clause {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	if len(items) > maxClauses {
		p.errorf(n, "%s has %d alternatives, more than %d", what, len(items), maxClauses)
		return nil
	}
	var out []Clause
	for _, item := range items {
		pairs := p.pairs(item, what+" entry", nil...)
		if item.Kind == yaml.MappingNode && len(pairs) == 0 && len(item.Content) == 0 {
			p.errorf(item, "%s entry is empty: name at least one field and its values", what)
			continue
		}
		if len(pairs) > maxConds {
			p.errorf(item, "%s entry has %d conditions, more than %d", what, len(pairs), maxConds)
			continue
		}
		var c Clause
		for _, kv := range pairs {
			if cd, ok := p.cond(kv, what); ok {
				c.Conds = append(c.Conds, cd)
			}
		}
		out = append(out, c)
	}
	return out
}

// cond reads one condition: field: value, field: [values], or
// field: {exists: bool}.
func (p *yparser) cond(kv ypair, what string) (Cond, bool) {
	cd := Cond{Field: kv.key.Value}
	if ok, why := knownField(cd.Field); !ok {
		p.errorf(kv.key, "%s: %s", what, why)
		return cd, false
	}
	v := kv.val
	switch v.Kind {
	case yaml.MappingNode:
		pairs := p.pairs(v, fmt.Sprintf("condition on %s", cd.Field), "exists")
		if len(pairs) != 1 {
			if len(v.Content) == 0 {
				p.errorf(v, "condition on %s: write {exists: true} or {exists: false}, or the values it may take", cd.Field)
			}
			return cd, false
		}
		b, ok := p.boolean(pairs[0].val, "exists")
		cd.Exists = b
		return cd, ok
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.errorf(v, "condition on %s lists no values", cd.Field)
			return cd, false
		}
		if len(v.Content) > maxCondValues {
			p.errorf(v, "condition on %s lists %d values, more than %d", cd.Field, len(v.Content), maxCondValues)
			return cd, false
		}
		ok := true
		for _, c := range v.Content {
			s, good := p.text(c, "value of "+cd.Field)
			ok = ok && good
			cd.Values = append(cd.Values, s)
		}
		return cd, ok
	}
	s, ok := p.text(v, "value of "+cd.Field)
	cd.Values = []string{s}
	return cd, ok
}
