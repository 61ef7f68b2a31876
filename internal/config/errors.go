package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxProblems bounds how many problems one load reports, so that a file of
// garbage yields a readable answer rather than thousands of lines.
const maxProblems = 50

// Error is one problem with the configuration. It says where the bad value
// came from: a position in the file, an environment variable, or neither
// (a default, or a Config built in code).
type Error struct {
	File string // the config file's name, when the value came from the file
	Line int    // 1-based line in File; 0 when the problem concerns the whole file
	Col  int    // 1-based column in File; 0 when unknown
	Env  string // the environment variable the value came from, if any
	Key  string // dotted key such as "server.listen"; "" for the top level
	Msg  string
}

// Error formats the problem as "file:line:col: key: message",
// "VIGIL_X: message" or "key: message".
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Env != "":
		b.WriteString(e.Env)
		b.WriteString(": ")
	case e.File != "":
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
			if e.Col > 0 {
				b.WriteString(":" + strconv.Itoa(e.Col))
			}
		}
		b.WriteString(": ")
		if e.Key != "" {
			b.WriteString(e.Key + ": ")
		}
	case e.Key != "":
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one load, in file order, then
// environment variables, then the rest. It is the error that Load, Parse,
// LoadEnv and Validate return.
type Errors []*Error

// Error prints one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As reach each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// source is where a key's value came from.
type source struct {
	line, col  int
	env        string // environment variable name
	secretFile string // for secrets: the file the value was read from
	viaFile    bool   // for secrets: given as <key>_file (or VIGIL_..._FILE)
}

// problems collects errors during one load.
type problems struct {
	file    string
	list    Errors
	seen    map[string]bool // problems already reported, by text
	dropped int
	calls   int  // problems reported, duplicates included
	fatal   bool // the document could not be used; skip validation
}

// add records e once: a problem inside a YAML anchor that is merged twice
// is still one problem.
func (p *problems) add(e *Error) {
	p.calls++
	text := e.Error()
	if p.seen[text] {
		return
	}
	p.seen[text] = true
	if len(p.list) >= maxProblems {
		p.dropped++
		return
	}
	p.list = append(p.list, e)
}

// atNode reports a problem at a YAML node of the file.
func (p *problems) atNode(n *yaml.Node, key, format string, args ...any) {
	e := &Error{File: p.file, Key: key, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	p.add(e)
}

// atEnv reports a problem with an environment variable.
func (p *problems) atEnv(name, format string, args ...any) {
	p.add(&Error{Env: name, Msg: fmt.Sprintf(format, args...)})
}

// atSource reports a problem with key, placed where its value came from.
func (p *problems) atSource(src source, known bool, key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	switch {
	case known && src.env != "":
		p.add(&Error{Env: src.env, Msg: msg})
	case known:
		p.add(&Error{File: p.file, Line: src.line, Col: src.col, Key: key, Msg: msg})
	default:
		p.add(&Error{Key: key, Msg: msg})
	}
}

// result returns nil or the sorted problems.
func (p *problems) result() error {
	if len(p.list) == 0 {
		return nil
	}
	out := slices.Clone(p.list)
	slices.SortStableFunc(out, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	if p.dropped > 0 {
		out = append(out, &Error{File: p.file, Msg: fmt.Sprintf("%d more problems not shown", p.dropped)})
	}
	return out
}

// rank orders problems: the file first, then environment variables, then
// problems without a place.
func rank(e *Error) int {
	switch {
	case e.Env != "":
		return 1
	case e.File != "":
		return 0
	}
	return 2
}
