package detect

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
)

// File is one rule file's name and content.
type File struct {
	Name string
	Data []byte
}

// IsRuleFile reports whether a file name is a Sigma rule file: .yml or
// .yaml, but not a rule test file (*.tests.yml).
func IsRuleFile(name string) bool {
	ext := filepath.Ext(name)
	if ext != ".yml" && ext != ".yaml" {
		return false
	}
	return !strings.HasSuffix(strings.TrimSuffix(name, ext), ".tests")
}

// ReadFS returns the rule files below root in fsys, in lexical order.
func ReadFS(fsys fs.FS, root string) ([]File, error) { return ReadFiles(fsys, root, IsRuleFile) }

// ReadPaths returns the rule files named by paths: files as given (whatever
// their extension), and rule files below directories.
func ReadPaths(paths []string) ([]File, error) { return ReadPathsMatching(paths, IsRuleFile) }

// MaxFileSize bounds a rule file that is read; the parsers bound it again.
const MaxFileSize = 1 << 20

// ReadFiles returns the files below root in fsys whose names match, in
// lexical order. A file larger than MaxFileSize is an error.
func ReadFiles(fsys fs.FS, root string, match func(name string) bool) ([]File, error) {
	var out []File
	err := fs.WalkDir(fsys, root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !match(path) {
			return nil
		}
		data, err := readBounded(fsys, path)
		if err != nil {
			return err
		}
		out = append(out, File{Name: path, Data: data})
		return nil
	})
	return out, err
}

// ReadPathsMatching returns the files named by paths: files as given,
// whatever their names, and the files below directories whose names match.
func ReadPathsMatching(paths []string, match func(name string) bool) ([]File, error) {
	var out []File
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("rules %s: %w", p, errors.Unwrap(err))
		}
		if !info.IsDir() {
			data, err := readBounded(os.DirFS(filepath.Dir(p)), filepath.Base(p))
			if err != nil {
				return nil, fmt.Errorf("rules %s: %w", p, err)
			}
			out = append(out, File{Name: p, Data: data})
			continue
		}
		files, err := ReadFiles(os.DirFS(p), ".", match)
		if err != nil {
			return nil, fmt.Errorf("rules %s: %w", p, err)
		}
		for _, f := range files {
			f.Name = filepath.Join(p, f.Name)
			out = append(out, f)
		}
	}
	return out, nil
}

// readBounded reads a file of at most MaxFileSize bytes.
func readBounded(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes; a rule file is small", name, MaxFileSize)
	}
	return data, nil
}

// Inactive is a rule that loaded but will not run, and why.
type Inactive struct {
	Rule   Rule
	Reason string
}

// Failure is a rule file, or a rule in it, that did not load.
type Failure struct {
	File string
	Err  error // a sigma.ErrorList or *sigma.Error when the position is known
}

func (f Failure) Error() string {
	var list sigma.ErrorList
	if errors.As(f.Err, &list) {
		return list.Error()
	}
	var se *sigma.Error
	if errors.As(f.Err, &se) {
		return se.Error()
	}
	return f.File + ": " + f.Err.Error()
}

// Set is the outcome of loading rules: an engine with the active rules, the
// correlations over them, and everything that is not active with the
// reason.
type Set struct {
	Engine *Engine
	// Correlations are the active correlation rules; CorrelationSet links
	// them to the engine's rules.
	Correlations   []*Correlation
	CorrelationSet *CorrelationSet
	Inactive       []Inactive
	Failed         []Failure
	Filters        int
}

type parsedRule struct {
	rule *sigma.Rule
	file string
}

// Load parses and compiles rule files. A file that does not parse, or a
// rule that does not compile, is reported in Failed and the rest load.
func Load(files []File, opts Options) *Set {
	if opts.FieldMapping == nil {
		opts.FieldMapping = DefaultFieldMapping()
	}
	set := &Set{}
	var rules []parsedRule
	var filters []parsedFilter
	var corrs []parsedCorrelation
	for _, f := range files {
		docs, err := sigma.Parse(f.Name, f.Data)
		if err != nil {
			set.Failed = append(set.Failed, Failure{File: f.Name, Err: err})
			continue
		}
		for _, d := range docs {
			switch d := d.(type) {
			case *sigma.Rule:
				rules = append(rules, parsedRule{d, f.Name})
			case *sigma.Filter:
				filters = append(filters, parsedFilter{d, f.Name})
			case *sigma.Correlation:
				corrs = append(corrs, parsedCorrelation{d, f.Name})
			}
		}
	}
	set.Filters = len(filters)
	enabled := opts.Sources
	if enabled == nil {
		enabled = AllSources()
	}
	byRef := map[string]*Rule{}
	var active []*Rule
	cp := compiler{opts: &opts, fields: map[string]int{}, regexes: new(int)}
	for _, pr := range rules {
		r, reason, err := compileRule(pr, cp, enabled)
		switch {
		case err != nil:
			set.Failed = append(set.Failed, Failure{File: pr.file, Err: err})
			continue
		case pr.rule.ID != "" && byRef[pr.rule.ID] != nil:
			set.Failed = append(set.Failed, Failure{File: pr.file, Err: &sigma.Error{File: pr.file, Line: pr.rule.IDPos.Line, Col: pr.rule.IDPos.Col,
				Msg: fmt.Sprintf("duplicate rule id %s, also in %s", pr.rule.ID, byRef[pr.rule.ID].File)}})
			continue
		case reason != "":
			set.Inactive = append(set.Inactive, Inactive{Rule: *r, Reason: reason})
		default:
			active = append(active, r)
		}
		for _, ref := range []string{pr.rule.ID, pr.rule.Name} {
			if ref != "" {
				byRef[ref] = r
			}
		}
	}
	for _, pf := range filters {
		if err := applyFilter(pf, byRef, cp); err != nil {
			set.Failed = append(set.Failed, Failure{File: pf.file, Err: err})
		}
	}
	sortRules(active)
	for i, r := range active {
		r.num = int32(i)
	}
	set.CorrelationSet = linkCorrelations(set, corrs, byRef, active, cp)
	set.Correlations = set.CorrelationSet.Correlations()
	set.Engine = &Engine{rules: active, indexes: buildIndexes(active), fields: len(cp.fields)}
	return set
}

// compileRule compiles one rule. A rule whose logsource reads no enabled
// source comes back with a reason and is not compiled further.
func compileRule(pr parsedRule, cp compiler, enabled []string) (*Rule, string, error) {
	r := metaOf(&pr.rule.Metadata, pr.file)
	sources, err := resolveLogsource(pr.rule.LogSource)
	if err != nil {
		pos := pr.rule.LogSource.Pos
		return nil, "", &sigma.Error{File: pr.file, Line: pos.Line, Col: pos.Col, Msg: err.Error()}
	}
	for _, s := range sources {
		if slices.Contains(enabled, s) {
			r.Sources = append(r.Sources, s)
		}
	}
	if len(r.Sources) == 0 {
		if len(sources) == 0 {
			return &r, fmt.Sprintf("no Vigil source produces logsource %s", describeLogsource(pr.rule.LogSource)), nil
		}
		return &r, fmt.Sprintf("logsource %s reads %s, which is not enabled", describeLogsource(pr.rule.LogSource), strings.Join(sources, ", ")), nil
	}
	cp.file, cp.sources = pr.file, r.Sources
	cond, sels, err := cp.detection(pr.rule.Detection)
	if err != nil {
		return nil, "", err
	}
	r.cond, r.sels = cond, sels
	return &r, "", nil
}

type parsedFilter struct {
	filter *sigma.Filter
	file   string
}

// applyFilter adds "and not <filter condition>" to every rule the filter
// names. The filter's selections are appended to each rule's own.
func applyFilter(pf parsedFilter, byRef map[string]*Rule, cp compiler) error {
	f := pf.filter
	for _, ref := range f.Rules {
		r := byRef[ref.Ref]
		if r == nil {
			return &sigma.Error{File: pf.file, Line: ref.Pos.Line, Col: ref.Pos.Col,
				Msg: fmt.Sprintf("filter refers to rule %q, which is not loaded", ref.Ref)}
		}
		if r.cond == nil {
			continue // inactive rule
		}
		cp.file, cp.sources = pf.file, r.Sources
		cond, sels, err := cp.detection(f.Detection)
		if err != nil {
			return err
		}
		off := len(r.sels)
		r.sels = append(r.sels, sels...)
		r.cond = andNode{r.cond, notNode{offsetNode(cond, off)}}
	}
	return nil
}

// offsetNode shifts the selection indices of a condition by off.
func offsetNode(n node, off int) node {
	switch n := n.(type) {
	case orNode:
		out := make(orNode, len(n))
		for i, x := range n {
			out[i] = offsetNode(x, off)
		}
		return out
	case andNode:
		out := make(andNode, len(n))
		for i, x := range n {
			out[i] = offsetNode(x, off)
		}
		return out
	case notNode:
		return notNode{offsetNode(n.x, off)}
	case identNode:
		return identNode(int(n) + off)
	case ofNode:
		ids := make([]int, len(n.idents))
		for i, id := range n.idents {
			ids[i] = id + off
		}
		return ofNode{idents: ids, need: n.need}
	}
	return n
}

// SortInactive orders inactive rules by file.
func SortInactive(in []Inactive) {
	sort.SliceStable(in, func(i, j int) bool { return in[i].Rule.File < in[j].Rule.File })
}
