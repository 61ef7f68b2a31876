package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bounds on a config file. They keep a hostile or broken file from costing
// more than a little memory and time.
const (
	MaxFileSize = 1 << 20 // bytes
	MaxNodes    = 50_000  // YAML nodes, with every alias expanded
	MaxDepth    = 32      // nesting levels, with every alias expanded
)

// Option changes how Load works.
type Option func(*options)

type options struct {
	environ    []string
	hasEnviron bool
}

// WithEnviron makes Load read overrides from environ ("KEY=value" entries,
// as os.Environ returns them) instead of the process environment.
func WithEnviron(environ []string) Option {
	return func(o *options) { o.environ, o.hasEnviron = environ, true }
}

// Load returns the configuration for `vigil serve`: the defaults, then the
// file at path (none when path is ""), then VIGIL_* environment variables,
// validated. A problem with the configuration is reported as Errors, every
// problem at once; a file that cannot be read is a plain error wrapping the
// operating system's.
func Load(path string, opts ...Option) (*Config, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if !o.hasEnviron {
		o.environ = os.Environ()
	}
	cfg := Default()
	l := newLoader(path)
	if path != "" {
		data, err := readConfigFile(path)
		if err != nil {
			if errors.As(err, new(Errors)) {
				return nil, err
			}
			return nil, fmt.Errorf("read config file: %w", err)
		}
		l.decodeFile(cfg, data)
	}
	l.environ(cfg, o.environ)
	if !l.fatal {
		l.validate(cfg)
	}
	if err := l.result(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes and validates the contents of a config file, without
// environment overrides. name is the file name that errors show. Secrets
// given as <key>_file are read from disk.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, readSecretFile)
}

func parse(name string, data []byte, readSecret func(string) (Secret, error)) (*Config, error) {
	cfg := Default()
	l := newLoader(name)
	l.readSecret = readSecret
	l.decodeFile(cfg, data)
	if !l.fatal {
		l.validate(cfg)
	}
	if err := l.result(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadEnv applies VIGIL_* overrides from environ to cfg and validates the
// result. Load already does this; LoadEnv is for a Config from elsewhere,
// such as Default(). Problems with values that did not come from environ
// name their key but no file position.
func LoadEnv(cfg *Config, environ []string) error {
	l := newLoader("")
	l.environ(cfg, environ)
	l.validate(cfg)
	return l.result()
}

// Validate checks c as Load would, for a Config built or changed in code.
// Its problems name keys but no positions.
func (c *Config) Validate() error {
	l := newLoader("")
	l.validate(c)
	return l.result()
}

// readConfigFile reads at most MaxFileSize bytes of path.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, Errors{tooLarge(path)}
	}
	return data, nil
}

func tooLarge(name string) *Error {
	return &Error{File: name, Msg: fmt.Sprintf("the file is larger than %d bytes (1 MiB); a config file is never that big", MaxFileSize)}
}

// decodeFile decodes a config file's contents into cfg.
func (l *loader) decodeFile(cfg *Config, data []byte) {
	if len(data) > MaxFileSize {
		l.add(tooLarge(l.file))
		l.fatal = true
		return
	}
	root, ok := l.parseYAML(data)
	if !ok {
		l.fatal = true
		return
	}
	if !l.checkTree(root) {
		l.fatal = true
		return
	}
	l.document(root, cfg.schema())
}

var yamlLine = regexp.MustCompile(`^yaml: line \d+: (.*)$`)

// parseYAML parses data as one YAML document into a node tree, turning the
// library's errors into problems with the file name and line.
func (l *loader) parseYAML(data []byte) (root *yaml.Node, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			l.add(&Error{File: l.file, Msg: fmt.Sprintf("cannot parse the file as YAML (parser failure: %v)", r)})
			root, ok = nil, false
		}
	}()
	docs, err := decodeAll(data, 2)
	switch {
	case err != nil:
		l.add(l.yamlError(data, err))
		return nil, false
	case len(docs) == 0:
		return &yaml.Node{}, true // an empty file
	case len(docs) > 1:
		l.add(&Error{File: l.file, Line: docs[1].Line, Col: docs[1].Column, Msg: "the file holds more than one YAML document (---); put everything in one"})
		return nil, false
	}
	return docs[0], true
}

// decodeAll parses up to limit YAML documents of data.
func decodeAll(data []byte, limit int) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for len(docs) < limit {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, err
		}
		docs = append(docs, &doc)
	}
	return docs, nil
}

// yamlError turns a YAML syntax error into a problem. The library names the
// line where the enclosing block starts rather than the bad line, so the
// bad line is found by bisection: the first line whose inclusion makes the
// text before it fail to parse.
func (l *loader) yamlError(data []byte, err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		msg = m[1]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	ends := lineEnds(data)
	lo, hi := 0, len(ends) // parsing the first lo lines works; the first hi lines fail
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if _, err := decodeAll(data[:ends[mid-1]], math.MaxInt); err == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	return &Error{File: l.file, Line: hi, Msg: "invalid YAML: " + msg}
}

// lineEnds returns the offset just past each line of data; lines end at
// \n, \r\n or a lone \r, as in YAML.
func lineEnds(data []byte) []int {
	var ends []int
	for i, b := range data {
		if b == '\n' || b == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
			ends = append(ends, i+1)
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' && data[len(data)-1] != '\r' {
		ends = append(ends, len(data))
	}
	return ends
}

// treeSize is the size of a YAML subtree with aliases expanded.
type treeSize struct {
	nodes, height int
	aliases       bool // the subtree holds an alias
}

// checkTree enforces MaxNodes and MaxDepth on the document with every alias
// expanded, without expanding any: sizes are memoised per node, so an alias
// bomb ("billion laughs") costs time linear in the text. An alias to a node
// that contains it is refused.
func (l *loader) checkTree(root *yaml.Node) bool {
	memo := map[*yaml.Node]treeSize{}
	active := map[*yaml.Node]bool{}
	var measure func(n *yaml.Node, depth int) (treeSize, bool)
	measure = func(n *yaml.Node, depth int) (treeSize, bool) {
		if ts, ok := memo[n]; ok {
			if depth+ts.height > MaxDepth {
				l.atNode(n, "", "the YAML nests deeper than %d levels", MaxDepth)
				return ts, false
			}
			return ts, true
		}
		if depth > MaxDepth {
			l.atNode(n, "", "the YAML nests deeper than %d levels", MaxDepth)
			return treeSize{}, false
		}
		if active[n] {
			l.atNode(n, "", "a YAML alias refers to a node that contains it")
			return treeSize{}, false
		}
		active[n] = true
		defer delete(active, n)
		var ts treeSize
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				l.atNode(n, "", "YAML alias *%s has no anchor", n.Value)
				return treeSize{}, false
			}
			t, ok := measure(n.Alias, depth)
			if !ok {
				return treeSize{}, false
			}
			ts = t
			ts.aliases = true
		} else {
			ts.nodes = 1
			for _, c := range n.Content {
				t, ok := measure(c, depth+1)
				if !ok {
					return treeSize{}, false
				}
				ts.nodes = min(ts.nodes+t.nodes, MaxNodes+1)
				ts.height = max(ts.height, t.height+1)
				ts.aliases = ts.aliases || t.aliases
			}
		}
		if ts.nodes > MaxNodes {
			if ts.aliases {
				l.atNode(n, "", "the YAML expands to more than %d nodes (an alias bomb?)", MaxNodes)
			} else {
				l.atNode(n, "", "the YAML has more than %d nodes; a config file needs far fewer", MaxNodes)
			}
			return ts, false
		}
		memo[n] = ts
		return ts, true
	}
	_, ok := measure(root, 0)
	return ok
}
