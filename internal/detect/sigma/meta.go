package sigma

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Level is the criticality of a rule.
type Level string

// Levels defined by the specification, in increasing order of criticality.
const (
	LevelInformational Level = "informational"
	LevelLow           Level = "low"
	LevelMedium        Level = "medium"
	LevelHigh          Level = "high"
	LevelCritical      Level = "critical"
)

// Status is the maturity of a rule.
type Status string

// Statuses defined by the specification.
const (
	StatusStable       Status = "stable"
	StatusTest         Status = "test"
	StatusExperimental Status = "experimental"
	StatusDeprecated   Status = "deprecated"
	StatusUnsupported  Status = "unsupported"
)

var (
	levels   = []string{"informational", "low", "medium", "high", "critical"}
	statuses = []string{"stable", "test", "experimental", "deprecated", "unsupported"}
	// relatedTypes are the values of related[].type.
	relatedTypes = []string{"correlation", "derived", "obsolete", "merged", "renamed", "similar"}
)

// Related is one entry of the related attribute.
type Related struct {
	ID   string
	Type string // correlation, derived, obsolete, merged, renamed or similar
	Pos  Position
}

// Metadata holds the descriptive attributes of a document. Attributes a
// document kind does not use are left empty.
type Metadata struct {
	Title          string
	ID             string // a UUID when set
	Name           string // unique human-readable name, referenced by correlations
	Related        []Related
	Taxonomy       string
	Status         Status
	Description    string
	License        string
	Author         string
	References     []string
	Date           string // YYYY-MM-DD
	Modified       string // YYYY-MM-DD
	Tags           []string
	Level          Level
	FalsePositives []string
	Fields         []string
	Scope          []string
	// Custom holds top-level attributes the specification does not define,
	// converted to string, int64, float64, bool, nil, []any and map[string]any.
	Custom map[string]any

	Pos     Position // start of the document
	IDPos   Position
	NamePos Position
}

// metaKeys are the metadata attributes handled by parseMeta.
var metaKeys = map[string]bool{
	"title": true, "id": true, "name": true, "related": true, "taxonomy": true,
	"status": true, "description": true, "license": true, "author": true,
	"references": true, "date": true, "modified": true, "tags": true,
	"level": true, "falsepositives": true, "fields": true, "scope": true,
}

var (
	uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	tagRE  = regexp.MustCompile(`^[a-z0-9_-]+\.[a-z0-9._-]+$`)
	// logsourceRE is the form of category, product and service values:
	// lower case, spaces replaced by "_", "." and "-" allowed.
	logsourceRE = regexp.MustCompile(`^[a-z0-9_.-]+$`)
)

// parseMeta fills m from the metadata attributes among pairs. Attributes in
// own are handled by the caller; every other unknown attribute goes to
// m.Custom. kind is used in messages.
func (p *parser) parseMeta(root *yaml.Node, pairs []pair, kind string, own map[string]bool) *Metadata {
	m := &Metadata{Pos: nodePos(root)}
	haveTitle := false
	var datePos Position
	for _, kv := range pairs {
		k, v := kv.key.Value, kv.val
		if own[k] {
			continue
		}
		if !metaKeys[k] {
			lk := strings.ToLower(k)
			if metaKeys[lk] || own[lk] {
				p.errorf(kv.key, "unknown attribute %q: attribute names are case-sensitive, use %q", k, lk)
				continue
			}
			if m.Custom == nil {
				m.Custom = map[string]any{}
			}
			m.Custom[k] = plain(v)
			continue
		}
		if kind == "filter" && (k == "level" || k == "status") {
			p.errorf(kv.key, "a filter has no %s: it only adds exclusions to existing rules", k)
			continue
		}
		switch k {
		case "title":
			if s, ok := p.str(v, "title"); ok {
				haveTitle = true
				m.Title = s
				switch {
				case strings.TrimSpace(s) == "":
					p.errorf(v, "title must not be empty")
				case utf8.RuneCountInString(s) > 256:
					p.errorf(v, "title is longer than 256 characters")
				}
			}
		case "id":
			if s, ok := p.str(v, "id"); ok {
				m.ID, m.IDPos = s, nodePos(v)
				if !uuidRE.MatchString(s) {
					p.errorf(v, "id %q is not a UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s)
				}
			}
		case "name":
			if s, ok := p.str(v, "name"); ok {
				m.Name, m.NamePos = s, nodePos(v)
				switch {
				case strings.TrimSpace(s) == "":
					p.errorf(v, "name must not be empty")
				case utf8.RuneCountInString(s) > 256:
					p.errorf(v, "name is longer than 256 characters")
				}
			}
		case "related":
			m.Related = p.parseRelated(v)
		case "taxonomy":
			if s, ok := p.str(v, "taxonomy"); ok {
				m.Taxonomy = s
			}
		case "status":
			if s, ok := p.enum(v, "status", statuses); ok {
				m.Status = Status(s)
			}
		case "description":
			if s, ok := p.str(v, "description"); ok {
				m.Description = s
				if len(s) > 65535 {
					p.errorf(v, "description is longer than 65535 characters")
				}
			}
		case "license":
			m.License, _ = p.str(v, "license")
		case "author":
			m.Author, _ = p.str(v, "author")
		case "references":
			m.References = p.uniqueList(v, "references", false)
		case "date":
			m.Date = p.date(v, "date")
			datePos = nodePos(v)
		case "modified":
			m.Modified = p.date(v, "modified")
		case "tags":
			m.Tags = p.uniqueList(v, "tags", false)
			for i, t := range m.Tags {
				at := deref(v)
				if at.Kind == yaml.SequenceNode && len(at.Content) == len(m.Tags) {
					at = at.Content[i]
				}
				if !tagRE.MatchString(t) {
					p.errorf(at, "tag %q is malformed: tags are namespace.name in lower case letters, digits, '_', '-' and '.' (e.g. attack.t1098)", t)
				}
			}
		case "level":
			if s, ok := p.enum(v, "level", levels); ok {
				m.Level = Level(s)
			}
		case "falsepositives":
			m.FalsePositives = p.uniqueList(v, "falsepositives", true)
		case "fields":
			m.Fields = p.uniqueList(v, "fields", false)
		case "scope":
			m.Scope, _ = p.strList(v, "scope", false)
		}
	}
	if !haveTitle {
		if _, present := findKey(pairs, "title"); !present {
			p.errorf(root, "%s has no title: the title attribute is mandatory", kind)
		}
	}
	if m.Date != "" && m.Modified != "" && m.Modified < m.Date {
		p.errorAt(datePos, "modified date %s is before creation date %s", m.Modified, m.Date)
	}
	return m
}

// findKey returns the value of key in pairs.
func findKey(pairs []pair, key string) (*yaml.Node, bool) {
	for _, kv := range pairs {
		if kv.key.Value == key {
			return kv.val, true
		}
	}
	return nil, false
}

// enum reads a string that must be one of allowed.
func (p *parser) enum(n *yaml.Node, what string, allowed []string) (string, bool) {
	s, ok := p.str(n, what)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	p.errorf(n, "invalid %s %q: must be one of %s", what, s, strings.Join(allowed, ", "))
	return "", false
}

// uniqueList reads a list of strings whose entries must be distinct.
func (p *parser) uniqueList(n *yaml.Node, what string, single bool) []string {
	list, _ := p.strList(n, what, single)
	n = deref(n)
	seen := map[string]bool{}
	for i, s := range list {
		if seen[s] {
			at := n
			if n.Kind == yaml.SequenceNode && len(n.Content) == len(list) {
				at = n.Content[i]
			}
			p.errorf(at, "duplicate %s entry %q", what, s)
		}
		seen[s] = true
	}
	return list
}

// date reads a YYYY-MM-DD date.
func (p *parser) date(n *yaml.Node, what string) string {
	s, ok := p.str(n, what)
	if !ok {
		return ""
	}
	if _, err := time.Parse("2006-01-02", s); err != nil || len(s) != 10 {
		hint := ""
		if strings.Contains(s, "/") {
			hint = " (the YYYY/MM/DD form was dropped in Sigma v2)"
		}
		p.errorf(n, "%s %q is not a valid YYYY-MM-DD date%s", what, s, hint)
		return ""
	}
	return s
}

func (p *parser) parseRelated(n *yaml.Node) []Related {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "related must be a list of {id, type} mappings, got %s", kindName(n))
		return nil
	}
	var out []Related
	for _, c := range n.Content {
		c = deref(c)
		if c.Kind != yaml.MappingNode {
			p.errorf(c, "related entry must be a mapping with id and type, got %s", kindName(c))
			continue
		}
		r := Related{Pos: nodePos(c)}
		var haveID, haveType bool
		for _, kv := range p.mapPairs(c) {
			switch kv.key.Value {
			case "id":
				haveID = true
				if s, ok := p.str(kv.val, "related id"); ok {
					r.ID = s
					if !uuidRE.MatchString(s) {
						p.errorf(kv.val, "related id %q is not a UUID", s)
					}
				}
			case "type":
				haveType = true
				r.Type, _ = p.enum(kv.val, "related type", relatedTypes)
			default:
				p.errorf(kv.key, "unknown key %q in related entry (expected id and type)", kv.key.Value)
			}
		}
		if !haveID || !haveType {
			p.errorf(c, "related entry needs both id and type")
		}
		out = append(out, r)
	}
	return out
}

// LogSource selects the log data a rule or filter applies to.
type LogSource struct {
	Category   string
	Product    string
	Service    string
	Definition string
	// Custom holds additional logsource attributes.
	Custom map[string]any
	Pos    Position
}

func (p *parser) parseLogSource(n *yaml.Node) LogSource {
	n = deref(n)
	ls := LogSource{Pos: nodePos(n)}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "logsource must be a mapping, got %s", kindName(n))
		return ls
	}
	for _, kv := range p.mapPairs(n) {
		k := kv.key.Value
		var dst *string
		switch k {
		case "category":
			dst = &ls.Category
		case "product":
			dst = &ls.Product
		case "service":
			dst = &ls.Service
		case "definition":
			ls.Definition, _ = p.str(kv.val, "logsource definition")
			continue
		default:
			if ls.Custom == nil {
				ls.Custom = map[string]any{}
			}
			ls.Custom[k] = plain(kv.val)
			continue
		}
		s, ok := p.str(kv.val, "logsource "+k)
		if !ok {
			continue
		}
		if !logsourceRE.MatchString(s) {
			p.errorf(kv.val, "logsource %s %q must be lower case letters, digits, '_', '.' and '-'", k, s)
		}
		*dst = s
	}
	if ls.Category == "" && ls.Product == "" && ls.Service == "" {
		p.errorf(n, "logsource must set at least one of category, product, service")
	}
	return ls
}
