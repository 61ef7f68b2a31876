package sigma

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Rule is a Sigma detection rule.
type Rule struct {
	Metadata
	LogSource LogSource
	Detection *Detection
}

// Meta implements Document.
func (r *Rule) Meta() *Metadata { return &r.Metadata }

// Kind implements Document.
func (r *Rule) Kind() string { return "rule" }
func (r *Rule) isDocument()  {}

// RuleRef refers to another rule by id or name.
type RuleRef struct {
	Ref string
	Pos Position
}

// Filter is a Sigma filter (meta rule): it adds its detection, negated, to
// the referenced rules. Rules holds their ids or names.
type Filter struct {
	Metadata
	LogSource LogSource
	Rules     []RuleRef
	// Detection holds the filter's search identifiers and condition.
	Detection *Detection
}

// Meta implements Document.
func (f *Filter) Meta() *Metadata { return &f.Metadata }

// Kind implements Document.
func (f *Filter) Kind() string { return "filter" }
func (f *Filter) isDocument()  {}

var ruleOwnKeys = map[string]bool{"logsource": true, "detection": true}

func (p *parser) parseRule(root *yaml.Node, pairs []pair) *Rule {
	r := &Rule{}
	r.Metadata = *p.parseMeta(root, pairs, "rule", ruleOwnKeys)
	if ls, ok := findKey(pairs, "logsource"); ok {
		r.LogSource = p.parseLogSource(ls)
	} else {
		p.errorf(root, "rule has no logsource: the logsource attribute is mandatory")
	}
	det, _ := findKey(pairs, "detection")
	r.Detection = p.parseDetection(det, "detection", nil)
	return r
}

var filterOwnKeys = map[string]bool{"logsource": true, "filter": true}

func (p *parser) parseFilter(root *yaml.Node, pairs []pair) *Filter {
	f := &Filter{}
	f.Metadata = *p.parseMeta(root, pairs, "filter", filterOwnKeys)
	if ls, ok := findKey(pairs, "logsource"); ok {
		f.LogSource = p.parseLogSource(ls)
	} else {
		p.errorf(root, "filter has no logsource: the logsource attribute is mandatory")
	}
	sec, _ := findKey(pairs, "filter")
	if sec.Kind != yaml.MappingNode {
		p.errorf(sec, "filter must be a mapping with rules, selection and condition, got %s", kindName(sec))
		return f
	}
	secPairs := p.mapPairs(sec)
	if rules, ok := findKey(secPairs, "rules"); ok {
		f.Rules = p.ruleRefs(rules, "filter rules")
	} else {
		p.errorf(sec, "filter has no rules: list the ids or names of the rules it applies to")
	}
	f.Detection = p.parseDetection(sec, "filter", map[string]bool{"rules": true})
	if _, ok := f.Detection.Lookup("selection"); !ok && len(f.Detection.Identifiers) > 0 {
		p.errorf(sec, "filter has no selection: the filter.selection attribute is mandatory")
	}
	return f
}

// ruleRefs reads a non-empty list of distinct rule ids or names.
func (p *parser) ruleRefs(n *yaml.Node, what string) []RuleRef {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		if isString(n) && n.Value == "any" {
			p.errorf(n, "%s: \"any\" is not supported by Sigma v2.1; list the rule ids or names", what)
			return nil
		}
		p.errorf(n, "%s must be a list of rule ids or names, got %s", what, kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.errorf(n, "%s must not be empty", what)
		return nil
	}
	var out []RuleRef
	seen := map[string]bool{}
	for _, c := range n.Content {
		c = deref(c)
		s, ok := p.str(c, what+" entry")
		if !ok {
			continue
		}
		switch {
		case strings.TrimSpace(s) == "":
			p.errorf(c, "%s entry must not be empty", what)
			continue
		case seen[s]:
			p.errorf(c, "%s lists %q twice", what, s)
			continue
		}
		seen[s] = true
		out = append(out, RuleRef{Ref: s, Pos: nodePos(c)})
	}
	return out
}
