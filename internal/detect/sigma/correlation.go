package sigma

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// CorrelationType is the kind of a correlation rule.
type CorrelationType string

// Correlation types.
const (
	CorrelationEventCount      CorrelationType = "event_count"      // events per group
	CorrelationValueCount      CorrelationType = "value_count"      // distinct values of Condition.Field per group
	CorrelationTemporal        CorrelationType = "temporal"         // all rules match in the timespan, any order
	CorrelationTemporalOrdered CorrelationType = "temporal_ordered" // all rules match in the timespan, in order
	CorrelationValueSum        CorrelationType = "value_sum"        // sum of Condition.Field per group
	CorrelationValueAvg        CorrelationType = "value_avg"        // average of Condition.Field per group
	CorrelationValuePercentile CorrelationType = "value_percentile" // percentile of Condition.Field per group
)

var correlationTypes = []string{"event_count", "value_count", "temporal", "temporal_ordered", "value_sum", "value_avg", "value_percentile"}

// counts reports whether the condition of t compares a count, which must be
// a non-negative integer.
func (t CorrelationType) counts() bool {
	switch t {
	case CorrelationEventCount, CorrelationValueCount, CorrelationTemporal, CorrelationTemporalOrdered:
		return true
	}
	return false
}

// needsField reports whether t aggregates the values of a field.
func (t CorrelationType) needsField() bool {
	switch t {
	case CorrelationValueCount, CorrelationValueSum, CorrelationValueAvg, CorrelationValuePercentile:
		return true
	}
	return false
}

// CompareOp is a comparison in a correlation condition.
type CompareOp string

// Comparison operators of correlation conditions.
const (
	OpGT  CompareOp = "gt"
	OpGTE CompareOp = "gte"
	OpLT  CompareOp = "lt"
	OpLTE CompareOp = "lte"
	OpEQ  CompareOp = "eq"
	OpNEQ CompareOp = "neq"
)

// Threshold is one comparison of the aggregated value with Value.
type Threshold struct {
	Op    CompareOp
	Value Number
	Pos   Position
}

// CorrelationCondition says when a correlation matches: every threshold
// must hold for the aggregated value.
type CorrelationCondition struct {
	// Field is the field a value_* correlation aggregates. value_count may
	// name several fields (distinct combinations are counted).
	Field      []string
	Thresholds []Threshold // in source order, linked with AND
	Pos        Position
}

// AliasField maps a rule (by name) to the field the alias stands for in
// events matched by that rule.
type AliasField struct {
	Rule  string
	Field string
	Pos   Position
}

// Alias is a field name alias usable in GroupBy.
type Alias struct {
	Name   string
	Fields []AliasField
	Pos    Position
}

// Correlation is a Sigma correlation rule.
type Correlation struct {
	Metadata
	Type    CorrelationType
	Rules   []RuleRef // ids or names of rules or correlations
	GroupBy []string
	// Timespan is the time window; TimespanText as written (e.g. "90m").
	Timespan     time.Duration
	TimespanText string
	// Condition is nil for temporal correlations without one, which match
	// when every rule matched.
	Condition *CorrelationCondition
	Aliases   []Alias
	// Generate asks for the referenced rules to be run on their own too.
	Generate bool
	// SectionPos is the position of the correlation section; Metadata.Pos
	// is the start of the document.
	SectionPos Position
}

// Meta implements Document.
func (c *Correlation) Meta() *Metadata { return &c.Metadata }

// Kind implements Document.
func (c *Correlation) Kind() string { return "correlation" }
func (c *Correlation) isDocument()  {}

var correlationOwnKeys = map[string]bool{"correlation": true, "generate": true}

func (p *parser) parseCorrelation(root *yaml.Node, pairs []pair) *Correlation {
	c := &Correlation{}
	c.Metadata = *p.parseMeta(root, pairs, "correlation", correlationOwnKeys)
	if g, ok := findKey(pairs, "generate"); ok {
		c.Generate = p.boolean(g, "generate")
	}
	sec, _ := findKey(pairs, "correlation")
	c.SectionPos = nodePos(sec)
	if sec.Kind != yaml.MappingNode {
		p.errorf(sec, "correlation must be a mapping, got %s", kindName(sec))
		return c
	}
	secPairs := p.mapPairs(sec)
	typeOK := false
	if t, ok := findKey(secPairs, "type"); ok {
		if s, good := p.enum(t, "correlation type", correlationTypes); good {
			c.Type, typeOK = CorrelationType(s), true
		}
	} else {
		p.errorf(sec, "correlation has no type (one of %s)", strings.Join(correlationTypes, ", "))
	}
	var condNode *yaml.Node
	for _, kv := range secPairs {
		switch kv.key.Value {
		case "type":
		case "rules":
			c.Rules = p.ruleRefs(kv.val, "correlation rules")
		case "group-by":
			c.GroupBy = p.uniqueList(kv.val, "group-by", false)
			if deref(kv.val).Kind == yaml.SequenceNode && len(c.GroupBy) == 0 {
				p.errorf(kv.val, "group-by must not be empty")
			}
		case "timespan":
			c.Timespan, c.TimespanText = p.timespan(kv.val)
		case "condition":
			condNode = kv.val
		case "aliases":
			c.Aliases = p.aliases(kv.val)
		case "generate":
			if _, top := findKey(pairs, "generate"); top {
				p.errorf(kv.key, "generate is set both at the top level and in the correlation section")
			}
			c.Generate = p.boolean(kv.val, "generate")
		case "field":
			p.errorf(kv.key, "field belongs in the correlation condition (condition: {field: ..., gte: ...})")
		case "ordered":
			p.errorf(kv.key, "\"ordered\" is not part of Sigma v2.1: use type temporal_ordered")
		default:
			p.errorf(kv.key, "unknown key %q in correlation (expected type, rules, group-by, timespan, condition, aliases, generate)", kv.key.Value)
		}
	}
	for _, req := range []string{"rules", "group-by", "timespan"} {
		if _, ok := findKey(secPairs, req); !ok {
			p.errorf(sec, "correlation has no %s: the %s attribute is mandatory", req, req)
		}
	}
	if !typeOK {
		return c
	}
	if condNode != nil {
		c.Condition = p.correlationCondition(condNode, c.Type)
	} else if !(c.Type == CorrelationTemporal || c.Type == CorrelationTemporalOrdered) {
		p.errorf(sec, "%s correlation has no condition: the condition attribute is mandatory", c.Type)
	}
	p.checkAliases(c)
	return c
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	n = deref(n)
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.errorf(n, "%s must be true or false, got %s", what, kindName(n))
	}
	return b
}

var timespanRE = regexp.MustCompile(`^([0-9]+)([a-zA-Z]+)$`)

var timespanUnits = map[string]time.Duration{
	"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
}

// timespan parses a "number + lower case letter" duration (s, m, h, d).
func (p *parser) timespan(n *yaml.Node) (time.Duration, string) {
	s, ok := p.str(n, "timespan")
	if !ok {
		if n.Kind == yaml.ScalarNode && scalarType(n) == "number" {
			p.errorf(n, "timespan %s has no unit: write e.g. %ss, %sm, %sh or %sd", n.Value, n.Value, n.Value, n.Value, n.Value)
		}
		return 0, ""
	}
	m := timespanRE.FindStringSubmatch(s)
	if m == nil {
		p.errorf(n, "invalid timespan %q: expected a number followed by s, m, h or d (e.g. 90m)", s)
		return 0, s
	}
	unit, known := timespanUnits[m[2]]
	if !known {
		p.errorf(n, "invalid timespan %q: unknown unit %q (Sigma allows s, m, h and d, in lower case)", s, m[2])
		return 0, s
	}
	count, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || count > int64(math.MaxInt64/unit) {
		p.errorf(n, "timespan %q is too large", s)
		return 0, s
	}
	if count == 0 {
		p.errorf(n, "timespan must be greater than zero")
		return 0, s
	}
	return time.Duration(count) * unit, s
}

func (p *parser) correlationCondition(n *yaml.Node, t CorrelationType) *CorrelationCondition {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "correlation condition must be a mapping such as {gte: 10}, got %s", kindName(n))
		return nil
	}
	cond := &CorrelationCondition{Pos: nodePos(n)}
	seen := map[CompareOp]Position{}
	haveField, sawOp := false, false
	for _, kv := range p.mapPairs(n) {
		k := kv.key.Value
		switch CompareOp(k) {
		case OpGT, OpGTE, OpLT, OpLTE, OpEQ, OpNEQ:
		default:
			if k == "field" {
				haveField = true
				if !t.needsField() {
					p.errorf(kv.key, "%s correlation does not use a field", t)
					continue
				}
				multi := t == CorrelationValueCount
				fields, ok := p.strList(kv.val, "condition field", true)
				if ok && len(fields) == 0 {
					p.errorf(kv.val, "condition field must not be empty")
				}
				if !multi && len(fields) > 1 {
					p.errorf(kv.val, "%s correlation aggregates a single field", t)
				}
				for _, f := range fields {
					if f == "" {
						p.errorf(kv.val, "condition field must not be empty")
					}
				}
				cond.Field = fields
				continue
			}
			p.errorf(kv.key, "unknown correlation condition %q (expected gt, gte, lt, lte, eq, neq or field)", k)
			continue
		}
		op := CompareOp(k)
		sawOp = true
		v := deref(kv.val)
		num, ok := Number{}, false
		if v.Kind == yaml.ScalarNode && scalarType(v) == "number" {
			num, ok = scalarNumber(v)
		}
		if !ok {
			p.errorf(v, "correlation condition %s takes a number, got %s", op, kindName(v))
			continue
		}
		if t.counts() && (!num.IsInt || num.Int < 0) {
			p.errorf(v, "%s correlation counts: condition %s takes a non-negative integer, got %s", t, op, v.Value)
			continue
		}
		seen[op] = nodePos(kv.key)
		cond.Thresholds = append(cond.Thresholds, Threshold{Op: op, Value: num, Pos: nodePos(kv.key)})
	}
	if t.needsField() && !haveField {
		p.errorf(n, "%s correlation needs the field to aggregate in its condition (condition: {field: ...})", t)
	}
	if !sawOp {
		p.errorf(n, "correlation condition has no comparison (gt, gte, lt, lte, eq or neq)")
		return cond
	}
	p.checkThresholds(cond, seen)
	return cond
}

// checkThresholds rejects contradictory or redundant comparisons.
func (p *parser) checkThresholds(cond *CorrelationCondition, seen map[CompareOp]Position) {
	pair := func(a, b CompareOp) {
		if _, ok := seen[a]; !ok {
			return
		}
		if pos, ok := seen[b]; ok {
			p.errorAt(pos, "correlation condition cannot combine %s and %s", a, b)
		}
	}
	pair(OpGT, OpGTE)
	pair(OpLT, OpLTE)
	for _, o := range []CompareOp{OpGT, OpGTE, OpLT, OpLTE, OpNEQ} {
		pair(OpEQ, o)
	}
	var lo, hi *Threshold
	for i := range cond.Thresholds {
		th := &cond.Thresholds[i]
		switch th.Op {
		case OpGT, OpGTE:
			lo = th
		case OpLT, OpLTE:
			hi = th
		}
	}
	if lo != nil && hi != nil {
		l, h := lo.Value.Float, hi.Value.Float
		if l > h || (l == h && (lo.Op == OpGT || hi.Op == OpLT)) {
			p.errorAt(cond.Pos, "correlation condition can never match: %s %s and %s %s leave an empty range",
				lo.Op, lo.Value.Text, hi.Op, hi.Value.Text)
		}
	}
}

func (p *parser) aliases(n *yaml.Node) []Alias {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "aliases must be a mapping of alias names to {rule name: field} mappings, got %s", kindName(n))
		return nil
	}
	var out []Alias
	for _, kv := range p.mapPairs(n) {
		a := Alias{Name: kv.key.Value, Pos: nodePos(kv.key)}
		if kv.val.Kind != yaml.MappingNode || len(kv.val.Content) == 0 {
			p.errorf(kv.val, "alias %q must map rule names to field names, got %s", a.Name, kindName(kv.val))
			continue
		}
		for _, rf := range p.mapPairs(kv.val) {
			field, ok := p.str(rf.val, fmt.Sprintf("alias %q field for rule %q", a.Name, rf.key.Value))
			if !ok {
				continue
			}
			a.Fields = append(a.Fields, AliasField{Rule: rf.key.Value, Field: field, Pos: nodePos(rf.key)})
		}
		out = append(out, a)
	}
	return out
}

// checkAliases makes sure aliases refer to rules of the correlation.
func (p *parser) checkAliases(c *Correlation) {
	if len(c.Rules) == 0 {
		return
	}
	refs := map[string]bool{}
	for _, r := range c.Rules {
		refs[r.Ref] = true
	}
	for _, a := range c.Aliases {
		for _, f := range a.Fields {
			if !refs[f.Rule] {
				p.errorAt(f.Pos, "alias %q refers to rule %q, which is not in the correlation's rules", a.Name, f.Rule)
			}
		}
	}
}
