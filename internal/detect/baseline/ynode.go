package baseline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
)

// Bounds of one file of baseline rules or of test cases.
const (
	maxFileSize  = 1 << 20
	maxDocuments = 64
	maxDepth     = 16
	maxErrors    = 100
)

// yparser collects positioned problems while it walks YAML nodes.
type yparser struct {
	file string
	errs sigma.ErrorList
	full bool
}

func (p *yparser) errorf(n *yaml.Node, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, max(n.Column, 1)
	}
	p.errorAt(line, col, format, args...)
}

func (p *yparser) errorAt(line, col int, format string, args ...any) {
	if p.full {
		return
	}
	if len(p.errs) >= maxErrors {
		p.full = true
		p.errs = append(p.errs, &sigma.Error{File: p.file, Line: line, Col: col,
			Msg: fmt.Sprintf("too many errors (more than %d), giving up", maxErrors)})
		return
	}
	p.errs = append(p.errs, &sigma.Error{File: p.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// documents splits data into YAML documents, checking the bounds and
// refusing anchors and aliases, which these files have no use for.
func (p *yparser) documents(data []byte) []*yaml.Node {
	if len(data) > maxFileSize {
		p.errorAt(1, 1, "file is %d bytes, more than the limit of %d", len(data), maxFileSize)
		return nil
	}
	var docs []*yaml.Node
	func() {
		defer func() {
			if r := recover(); r != nil {
				p.errorAt(1, 1, "invalid YAML: parser failure: %v", r)
			}
		}()
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				msg, line := err.Error(), 1
				if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
					line, _ = strconv.Atoi(m[1])
					msg = m[2]
				}
				p.errorAt(max(line, 1), 1, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
				return
			}
			if len(docs) >= maxDocuments {
				p.errorf(&n, "too many YAML documents in one file (limit %d)", maxDocuments)
				return
			}
			docs = append(docs, &n)
		}
	}()
	out := docs[:0]
	for _, d := range docs {
		if p.checkTree(d, 0) {
			out = append(out, d)
		}
	}
	return out
}

// checkTree refuses aliases, anchors, merge keys and deep nesting.
func (p *yparser) checkTree(n *yaml.Node, depth int) bool {
	if depth > maxDepth {
		p.errorf(n, "YAML nesting is too deep (limit %d levels)", maxDepth)
		return false
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		p.errorf(n, "YAML anchors and aliases are not supported in this file; write the value out")
		return false
	}
	for _, c := range n.Content {
		if !p.checkTree(c, depth+1) {
			return false
		}
	}
	return true
}

// kindName describes a node for error messages.
func kindName(n *yaml.Node) string {
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
		}
		return "a string"
	}
	return "an unexpected YAML node"
}

type ypair struct{ key, val *yaml.Node }

// pairs returns the entries of a mapping, reporting non-string and
// duplicate keys and every key not in allowed.
func (p *yparser) pairs(n *yaml.Node, what string, allowed ...string) []ypair {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping, got %s", what, kindName(n))
		return nil
	}
	seen := map[string]*yaml.Node{}
	var out []ypair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			p.errorf(k, "%s: keys must be plain strings", what)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			p.errorf(k, "duplicate key %q (first at %d:%d)", k.Value, prev.Line, prev.Column)
			continue
		}
		seen[k.Value] = k
		if allowed != nil && !contains(allowed, k.Value) {
			p.errorf(k, "unknown key %q in %s; known keys: %s", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		out = append(out, ypair{k, v})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str returns a string scalar.
func (p *yparser) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" || n.ShortTag() == "!!bool" ||
		n.ShortTag() == "!!int" || n.ShortTag() == "!!float" {
		p.errorf(n, "%s must be a string, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// text returns a scalar that is a string or a number, as written.
func (p *yparser) text(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" || n.ShortTag() == "!!bool" {
		p.errorf(n, "%s must be a string or a number, got %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// strList returns a list of strings; a lone string is a list of one.
func (p *yparser) strList(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode {
		s, ok := p.str(n, what)
		return []string{s}, ok
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a string or a list of strings, got %s", what, kindName(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, c := range n.Content {
		s, good := p.str(c, what+" entry")
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// number returns a finite number within [lo, hi].
func (p *yparser) number(n *yaml.Node, what string, lo, hi float64) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		p.errorf(n, "%s must be a number, got %s", what, kindName(n))
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(n, "%s: %q is not a finite number", what, n.Value)
		return 0, false
	}
	if f < lo || f > hi {
		p.errorf(n, "%s must be between %g and %g, got %g", what, lo, hi, f)
		return 0, false
	}
	return f, true
}

// integer returns a whole number within [lo, hi].
func (p *yparser) integer(n *yaml.Node, what string, lo, hi int64) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, "%s must be a whole number, got %s", what, kindName(n))
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || i < lo || i > hi {
		p.errorf(n, "%s must be a whole number between %d and %d, got %s", what, lo, hi, n.Value)
		return 0, false
	}
	return i, true
}

// boolean returns a true or false scalar.
func (p *yparser) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, "%s must be true or false, got %s", what, kindName(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, "%s must be true or false", what)
		return false, false
	}
	return b, true
}

// duration returns a duration within [lo, hi], written as Go writes them
// ("90s", "1h30m") or as whole days or weeks ("7d", "2w").
func (p *yparser) duration(n *yaml.Node, what string, lo, hi time.Duration) (time.Duration, bool) {
	s, ok := p.text(n, what)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		p.errorf(n, "%s: %v", what, err)
		return 0, false
	}
	if d < lo || d > hi {
		p.errorf(n, "%s must be between %s and %s, got %s", what, FormatDuration(lo), FormatDuration(hi), s)
		return 0, false
	}
	return d, true
}

// ParseDuration reads a duration as Go writes them ("90s", "1h30m") or as
// a whole number of days or weeks ("7d", "2w").
func ParseDuration(s string) (time.Duration, error) {
	if len(s) > 1 && (s[len(s)-1] == 'd' || s[len(s)-1] == 'w') {
		n, err := strconv.ParseUint(s[:len(s)-1], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: write a whole number of days or weeks such as 7d or 2w, or a duration such as 90m", s)
		}
		unit := 24 * time.Hour
		if s[len(s)-1] == 'w' {
			unit *= 7
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30s, 5m, 12h, 7d or 2w", s)
	}
	return d, nil
}

// FormatDuration writes d the shortest way ParseDuration reads back.
func FormatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d > 0 && d%(7*day) == 0:
		return strconv.FormatInt(int64(d/(7*day)), 10) + "w"
	case d > 0 && d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
