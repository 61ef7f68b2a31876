package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Document is one YAML document of a Sigma file: a *Rule, a *Filter or a
// *Correlation. Use a type switch to tell them apart.
type Document interface {
	// Meta returns the metadata shared by every document kind.
	Meta() *Metadata
	// Kind names the document kind: "rule", "filter" or "correlation".
	Kind() string
	isDocument()
}

// Parse parses every YAML document in data, which was read from filename
// (the name is used only in error messages), using DefaultLimits.
//
// It returns the documents that are valid and, when any problem was found,
// an ErrorList with every problem in the file; a document with a problem is
// left out of the returned slice. Parse never panics.
func Parse(filename string, data []byte) ([]Document, error) {
	return ParseWithLimits(filename, data, DefaultLimits)
}

// ParseWithLimits is Parse with explicit resource limits. Zero fields of lim
// take their value from DefaultLimits.
func ParseWithLimits(filename string, data []byte, lim Limits) ([]Document, error) {
	p := &parser{file: filename, lim: lim.withDefaults()}
	docs := p.parseFile(data)
	p.checkUnique(docs)
	if len(p.errs) > 0 {
		// Keep only the documents free of problems.
		var ok []Document
		for _, d := range docs {
			if !p.bad[d] {
				ok = append(ok, d)
			}
		}
		return ok, sortErrors(p.errs)
	}
	return docs, nil
}

// parser holds the state of one Parse call.
type parser struct {
	file     string
	lim      Limits
	errs     ErrorList
	full     bool // MaxErrors reached
	bad      map[Document]bool
	expanded int // bytes of patterns and compiled regexps so far (MaxExpandedBytes)
}

// errorf records a problem at the position of node n.
func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errorAt(nodePos(n), format, args...)
}

// errorAt records a problem at pos.
func (p *parser) errorAt(pos Position, format string, args ...any) {
	if p.full {
		return
	}
	if len(p.errs) >= p.lim.MaxErrors {
		p.full = true
		p.errs = append(p.errs, &Error{File: p.file, Line: pos.Line, Col: pos.Col,
			Msg: fmt.Sprintf("too many errors (more than %d), giving up", p.lim.MaxErrors)})
		return
	}
	if pos.Line <= 0 {
		pos.Line = 1
	}
	if pos.Col <= 0 {
		pos.Col = 1
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: pos.Line, Col: pos.Col, Msg: fmt.Sprintf(format, args...)})
}

func nodePos(n *yaml.Node) Position {
	if n == nil {
		return Position{Line: 1, Col: 1}
	}
	return Position{Line: n.Line, Col: n.Column}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError converts an error of the YAML library into a positioned error.
// The library reports only the line of a syntax error; the column is 1.
func (p *parser) yamlError(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			line = n
		}
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.errorAt(Position{Line: line, Col: 1}, "invalid YAML: %s", msg)
}

// decodeAll splits data into YAML document nodes. A panic inside the YAML
// library is turned into an error so that Parse never panics.
func (p *parser) decodeAll(data []byte) (nodes []*yaml.Node) {
	defer func() {
		if r := recover(); r != nil {
			p.errorAt(Position{Line: 1, Col: 1}, "invalid YAML: parser failure: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return nodes
		}
		if err != nil {
			p.yamlError(err)
			return nodes
		}
		if len(nodes) >= p.lim.MaxDocuments {
			p.errorf(&n, "too many YAML documents in one file (limit %d)", p.lim.MaxDocuments)
			return nodes
		}
		nodes = append(nodes, &n)
	}
}

func (p *parser) parseFile(data []byte) []Document {
	p.bad = map[Document]bool{}
	if len(data) > p.lim.MaxFileSize {
		p.errorAt(Position{Line: 1, Col: 1}, "file is too large: %d bytes (limit %d)", len(data), p.lim.MaxFileSize)
		return nil
	}
	nodes := p.decodeAll(data)
	if len(nodes) == 0 && len(p.errs) == 0 {
		p.errorAt(Position{Line: 1, Col: 1}, "file contains no YAML document")
		return nil
	}
	var docs []Document
	for _, n := range nodes {
		if p.full {
			break
		}
		start := len(p.errs)
		d := p.parseDocument(n)
		if d == nil {
			continue
		}
		if len(p.errs) > start {
			p.bad[d] = true
		}
		docs = append(docs, d)
	}
	return docs
}

// documentKeys are the top-level keys that decide the kind of a document.
var kindKeys = []string{"detection", "filter", "correlation"}

func (p *parser) parseDocument(doc *yaml.Node) Document {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		p.errorf(doc, "empty YAML document")
		return nil
	}
	root := doc.Content[0]
	if !p.checkTree(root) {
		return nil
	}
	root = deref(root)
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "a Sigma document must be a mapping, got %s", kindName(root))
		return nil
	}
	pairs := p.mapPairs(root)
	var found []string
	var kindKey *yaml.Node
	for _, kv := range pairs {
		if kv.key.Value == "action" {
			p.errorf(kv.key, "\"action\" is not supported: rule collections (action: global/reset/repeat) "+
				"were removed in Sigma v2; write self-contained documents, correlations and filters instead")
			return nil
		}
		for _, k := range kindKeys {
			if kv.key.Value == k {
				found = append(found, k)
				if kindKey == nil {
					kindKey = kv.key
				}
			}
		}
	}
	switch len(found) {
	case 0:
		p.errorf(root, "document is not a Sigma rule, filter or correlation: it has none of the keys detection, filter, correlation")
		return nil
	case 1:
	default:
		p.errorf(kindKey, "document mixes %s: a document is either a rule (detection), a filter (filter) or a correlation (correlation)",
			strings.Join(found, " and "))
		return nil
	}
	switch found[0] {
	case "detection":
		return p.parseRule(root, pairs)
	case "filter":
		return p.parseFilter(root, pairs)
	default:
		return p.parseCorrelation(root, pairs)
	}
}

// checkUnique reports ids and names used by more than one document of the
// file: the specification requires both to be unique.
func (p *parser) checkUnique(docs []Document) {
	ids := map[string]Position{}
	names := map[string]Position{}
	for _, d := range docs {
		m := d.Meta()
		if m.ID != "" {
			if prev, dup := ids[m.ID]; dup {
				p.errorAt(m.IDPos, "duplicate id %q (first used at %s)", m.ID, prev)
				p.bad[d] = true
			} else {
				ids[m.ID] = m.IDPos
			}
		}
		if m.Name != "" {
			if prev, dup := names[m.Name]; dup {
				p.errorAt(m.NamePos, "duplicate name %q (first used at %s)", m.Name, prev)
				p.bad[d] = true
			} else {
				names[m.Name] = m.NamePos
			}
		}
	}
}
