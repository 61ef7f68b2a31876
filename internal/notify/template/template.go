// Package template renders the text of notifications with Go's
// text/template (html/template for e-mail HTML) over a
// *notify.Notification, with the functions of Funcs and the shared
// definitions of Library ("vigil.title", "vigil.text", ...), which every
// receiver's defaults use and users may call or redefine.
//
// Rendering is bounded so that no template, however written, can stall
// or flood a receiver: the source is at most MaxSourceSize bytes and
// MaxDepth levels deep, the output at most MaxOutputSize bytes (longer
// output is cut), every value a function builds at most MaxOutputSize
// bytes, and one execution at most MaxSteps range iterations and
// template calls together. The step budget is what makes execution end
// without a timeout: straight-line template code is bounded by the
// source size, and loops and calls each spend a step.
package template

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"
	"unicode/utf8"
)

// Bounds on templates and their execution.
const (
	MaxSourceSize = 32 << 10
	MaxOutputSize = 64 << 10
	MaxSteps      = 100_000
	MaxDepth      = 64
)

// stepFunc is the function the parser's tree gets at the start of every
// range body and every template; it spends one step.
const stepFunc = "_vigil_step"

// ErrTooManySteps is returned when an execution exceeds MaxSteps.
var ErrTooManySteps = fmt.Errorf("the template ran more than %d loop iterations and template calls", MaxSteps)

// Template is a parsed template, safe for concurrent use; executions of
// one Template run one at a time.
type Template struct {
	name string
	fm   texttemplate.FuncMap

	mu    sync.Mutex
	steps int
	exec  func(w io.Writer, data any) error
}

// Parse parses text as a text/template named name, in a set that also
// holds Library. name is the configuration field it came from ("title",
// "summary"); text/template's errors name it ("template: title:1: ...").
func Parse(name, text string) (*Template, error) {
	t, err := newTemplate(name, text)
	if err != nil {
		return nil, err
	}
	set := texttemplate.New(name).Funcs(t.fm).Option("missingkey=error")
	if err := parseInto(t, set, Library, text, func(s *texttemplate.Template) *parse.Tree { return s.Tree }); err != nil {
		return nil, err
	}
	return t, nil
}

// ParseHTML parses text as an html/template named name, in a set that
// also holds HTMLLibrary. Values are escaped for their HTML context.
func ParseHTML(name, text string) (*Template, error) {
	t, err := newTemplate(name, text)
	if err != nil {
		return nil, err
	}
	set := htmltemplate.New(name).Funcs(htmltemplate.FuncMap(t.fm)).Option("missingkey=error")
	if err := parseInto(t, set, HTMLLibrary, text, func(s *htmltemplate.Template) *parse.Tree { return s.Tree }); err != nil {
		return nil, err
	}
	return t, nil
}

func newTemplate(name, text string) (*Template, error) {
	if err := checkSource(text); err != nil {
		return nil, err
	}
	t := &Template{name: name}
	t.fm = t.funcs()
	return t, nil
}

// set is what text/template and html/template sets have in common.
type set[T any] interface {
	New(name string) T
	Parse(text string) (T, error)
	Templates() []T
	Execute(w io.Writer, data any) error
}

// parseInto parses the library and then text into s, instruments every
// tree of s, and makes s the template's executor.
func parseInto[T set[T]](t *Template, s T, library, text string, tree func(T) *parse.Tree) error {
	if _, err := s.New("vigil.library").Parse(library); err != nil {
		return fmt.Errorf("the template library: %w", err)
	}
	if _, err := s.Parse(text); err != nil {
		return err
	}
	var trees []*parse.Tree
	for _, tt := range s.Templates() {
		trees = append(trees, tree(tt))
	}
	if err := instrument(trees, t.fm); err != nil {
		return err
	}
	t.exec = s.Execute
	if tree(s) == nil {
		t.exec = noOutput // only definitions, or nothing at all
	}
	return nil
}

func noOutput(io.Writer, any) error { return nil }

// MustParse is Parse for the built-in defaults; it panics on error.
func MustParse(name, text string) *Template {
	t, err := Parse(name, text)
	if err != nil {
		panic(err)
	}
	return t
}

// MustParseHTML is ParseHTML for the built-in defaults; it panics on error.
func MustParseHTML(name, text string) *Template {
	t, err := ParseHTML(name, text)
	if err != nil {
		panic(err)
	}
	return t
}

func checkSource(text string) error {
	if len(text) > MaxSourceSize {
		return fmt.Errorf("the template is %d bytes, more than the limit of %d", len(text), MaxSourceSize)
	}
	if !utf8.ValidString(text) {
		return errors.New("the template is not valid UTF-8")
	}
	return nil
}

// Name returns the name the template was parsed with.
func (t *Template) Name() string { return t.name }

// Execute renders the template over data. Output longer than
// MaxOutputSize is cut at a character boundary and ends with "…"; that is
// not an error. An error says what failed in the template, never data.
func (t *Template) Execute(data any) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.steps = 0
	w := &limitWriter{max: MaxOutputSize}
	err := t.exec(w, data)
	if w.full {
		return w.b.String() + "…", nil
	}
	if err != nil {
		return "", err
	}
	return w.b.String(), nil
}

// step spends one step of the execution's budget.
func (t *Template) step() (string, error) {
	t.steps++
	if t.steps > MaxSteps {
		return "", ErrTooManySteps
	}
	return "", nil
}

var errFull = errors.New("output limit reached")

// limitWriter keeps at most max bytes and then fails every write, which
// stops the execution.
type limitWriter struct {
	b    strings.Builder
	max  int
	full bool
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.full {
		return 0, errFull
	}
	room := w.max - w.b.Len()
	if len(p) <= room {
		w.b.Write(p)
		return len(p), nil
	}
	cut := room
	for cut > 0 && !utf8.RuneStart(p[cut]) {
		cut--
	}
	w.b.Write(p[:cut])
	w.full = true
	return cut, errFull
}

// instrument checks the depth of every tree, refuses recursive template
// calls, and puts a step at the start of every template and every range
// body.
//
// Recursion is refused because text/template unwinds an error through
// every nested range with a recover and a new panic, which costs time in
// the square of the depth: a recursive template stopped by the step
// budget would take minutes to fail. Without recursion the depth is
// bounded by the source.
func instrument(trees []*parse.Tree, fm texttemplate.FuncMap) error {
	snippet, err := texttemplate.New("step").Funcs(fm).Parse("{{" + stepFunc + "}}")
	if err != nil {
		return err
	}
	step := snippet.Tree.Root.Nodes[0]
	calls := map[string][]string{}
	for _, tree := range trees {
		if tree == nil || tree.Root == nil {
			continue
		}
		w := walker{step: step}
		if err := w.walk(tree.Root, 0); err != nil {
			return fmt.Errorf("template %q: %w", tree.Name, err)
		}
		calls[tree.Name] = w.calls
		tree.Root.Nodes = append([]parse.Node{step.Copy()}, tree.Root.Nodes...)
	}
	return checkRecursion(calls)
}

type walker struct {
	step  parse.Node
	calls []string
}

func (w *walker) walk(list *parse.ListNode, depth int) error {
	if list == nil {
		return nil
	}
	if depth > MaxDepth {
		return fmt.Errorf("actions are nested more than %d levels deep", MaxDepth)
	}
	for _, n := range list.Nodes {
		var b *parse.BranchNode
		switch n := n.(type) {
		case *parse.TemplateNode:
			w.calls = append(w.calls, n.Name)
		case *parse.IfNode:
			b = &n.BranchNode
		case *parse.WithNode:
			b = &n.BranchNode
		case *parse.RangeNode:
			b = &n.BranchNode
			if b.List != nil {
				b.List.Nodes = append([]parse.Node{w.step.Copy()}, b.List.Nodes...)
			}
		}
		if b == nil {
			continue
		}
		if err := w.walk(b.List, depth+1); err != nil {
			return err
		}
		if err := w.walk(b.ElseList, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkRecursion returns an error naming a cycle of template calls.
func checkRecursion(calls map[string][]string) error {
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case active:
			i := slices.Index(path, name)
			return fmt.Errorf("template %q calls itself (%s); recursion is not allowed",
				name, strings.Join(append(path[i:], name), " → "))
		case done:
			return nil
		}
		state[name] = active
		path = append(path, name)
		for _, c := range calls[name] {
			if err := visit(c); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	names := make([]string, 0, len(calls))
	for n := range calls {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}
