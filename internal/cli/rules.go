package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/detect/ruletest"
	"github.com/vigil-sec/vigil/rules/baselines"
)

func newRulesCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Check and test Sigma rules",
	}
	cmd.AddCommand(newRulesLintCmd(s), newRulesTestCmd(s))
	return cmd
}

func newRulesLintCmd(s *streams) *cobra.Command {
	var rf ruleFlags
	var bf baselineFlags
	cmd := &cobra.Command{
		Use:   "lint [--builtin-baselines] PATH...",
		Short: "Report every problem in Sigma rule files and directories",
		Long: `Lint parses and compiles every rule, filter and correlation in the given files and
directories and lists every error with file:line:col, then warnings for rules that
will not run (inactive logsource) or lack what responders need: an id, a level,
ATT&CK tags, false positives and test cases. Baseline rule files (*.baseline) among
the paths, and the built-in ones with --builtin-baselines, are checked the same way.
It exits 1 when there is any error.`,
		Args: positional(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, paths []string) error {
			sigmaPaths, bfiles, err := bf.split(paths)
			if err != nil {
				return err
			}
			baseFailed := lintBaselines(s, bfiles)
			if len(sigmaPaths) == 0 {
				if baseFailed {
					return errFailed
				}
				return nil
			}
			files, err := detect.ReadPaths(sigmaPaths)
			if err != nil {
				return usageError{err}
			}
			opts, err := rf.options()
			if err != nil {
				return err
			}
			set := detect.Load(files, opts)
			lr := lintReport{out: s.out}
			lr.errors(set.Failed)
			warn := lr.warn
			for _, in := range set.Inactive {
				warn(in.Rule.File, "rule %q is inactive: %s", in.Rule.Title, in.Reason)
			}
			for _, r := range set.Engine.Rules() {
				lintTests(r, warn)
				lintRule(r, set.CorrelationSet.Emits(r), warn)
			}
			for _, c := range set.Correlations {
				lintTests(c.Rule, warn)
				lintRule(c.Rule, c.Emits(), warn)
			}
			fmt.Fprintf(s.errOut, "%d %s: %d rules active, %d inactive, %d filters, %d correlations; %d errors, %d warnings\n",
				len(files), plural(len(files), "file", "files"), len(set.Engine.Rules()), len(set.Inactive), set.Filters,
				len(set.Correlations), len(set.Failed), lr.warnings)
			if len(set.Failed) > 0 || baseFailed {
				return errFailed
			}
			return nil
		},
	}
	rf.register(cmd)
	bf.register(cmd)
	return cmd
}

// lintTests warns when a Sigma rule has no test file beside it.
func lintTests(r *detect.Rule, warn func(file, format string, args ...any)) {
	if _, err := os.Stat(ruletest.TestFileName(r.File)); err != nil {
		warn(r.File, "rule %q has no test cases in %s", r.Title, filepath.Base(ruletest.TestFileName(r.File)))
	}
}

// lintRule warns about what a rule lacks. A building block of correlations
// (standalone false) raises no alert of its own, so it needs no level, tags
// or false positives.
func lintRule(r *detect.Rule, standalone bool, warn func(file, format string, args ...any)) {
	if r.ID == "" {
		warn(r.File, "rule %q has no id: alerts and filters refer to rules by id", r.Title)
	}
	if !standalone {
		return
	}
	if r.Level == "" {
		warn(r.File, "rule %q has no level", r.Title)
	}
	attack := false
	for _, t := range r.Tags {
		if len(t) > 8 && t[:8] == "attack.t" {
			attack = true
		}
	}
	if !attack {
		warn(r.File, "rule %q has no ATT&CK technique tag (attack.tNNNN)", r.Title)
	}
	if len(r.FalsePositives) == 0 {
		warn(r.File, "rule %q lists no false positives", r.Title)
	}
}

func newRulesTestCmd(s *streams) *cobra.Command {
	var verbose bool
	var rf ruleFlags
	var bf baselineFlags
	cmd := &cobra.Command{
		Use:   "test [--builtin-baselines] PATH...",
		Short: "Run the test cases kept beside Sigma rules (x.tests.yml beside x.yml)",
		Long: `Test runs, for every rule file x.yml in the given files and directories, the cases in
x.tests.yml beside it: each case's native record is decoded by the real decoder and
the rules of x.yml must match it or not, as the case says. The file format is
described in docs/rules.md. Baseline rule files x.baseline among the paths, and the
built-in ones with --builtin-baselines, run the cases of x.tests.baseline
(docs/baselines.md). It exits 1 when a case fails or a rule has no tests.`,
		Args: positional(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, paths []string) error {
			sigmaPaths, bfiles, err := bf.split(paths)
			if err != nil {
				return err
			}
			var files []detect.File
			if len(sigmaPaths) > 0 {
				if files, err = detect.ReadPaths(sigmaPaths); err != nil {
					return usageError{err}
				}
			}
			opts, err := rf.options()
			if err != nil {
				return err
			}
			reg := decode.Builtin()
			pass, fail, untested := 0, 0, 0
			for _, f := range files {
				suite, ok, err := ruletest.ReadSuite(os.DirFS(filepath.Dir(f.Name)), filepath.Base(f.Name))
				switch {
				case err != nil:
					fail++
					fmt.Fprintf(s.out, "FAIL %s: %v\n", f.Name, err)
					continue
				case !ok:
					untested++
					fmt.Fprintf(s.out, "NONE %s: no %s\n", f.Name, filepath.Base(ruletest.TestFileName(f.Name)))
					continue
				}
				for _, r := range ruletest.Run(f, suite, reg, opts) {
					if r.Pass() {
						pass++
						if verbose {
							fmt.Fprintf(s.out, "ok   %s: %s\n", r.RuleFile, r.Case)
						}
						continue
					}
					fail++
					if r.Err != nil {
						fmt.Fprintf(s.out, "FAIL %s: %s: %v\n", r.RuleFile, r.Case, r.Err)
					} else {
						fmt.Fprintf(s.out, "FAIL %s: %s: %s\n", r.RuleFile, r.Case, r.Describe())
					}
				}
			}
			bp, bfail, bu := testBaselines(s, bfiles, verbose)
			pass, fail, untested = pass+bp, fail+bfail, untested+bu
			fmt.Fprintf(s.errOut, "%d passed, %d failed, %d rule files without tests\n", pass, fail, untested)
			if fail > 0 || untested > 0 {
				return errFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing cases too")
	rf.register(cmd)
	bf.register(cmd)
	return cmd
}

// ruleFlags are the flags that shape how rules compile, shared by the
// commands that load rules offline.
type ruleFlags struct {
	fieldMapping string
	placeholders []string
}

func (r *ruleFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.fieldMapping, "field-mapping", "", "YAML file mapping rule field names to native paths per source (see docs/rules.md)")
	f.StringArrayVar(&r.placeholders, "placeholder", nil, "values of a %name% placeholder for the expand modifier, as name=value1,value2 (repeatable)")
}

// options returns the compile options the flags give.
func (r *ruleFlags) options() (detect.Options, error) {
	var opts detect.Options
	if r.fieldMapping != "" {
		m, err := detect.ReadFieldMapping(r.fieldMapping)
		if err != nil {
			return opts, usageError{err}
		}
		opts.FieldMapping = m
	}
	for _, p := range r.placeholders {
		name, values, ok := strings.Cut(p, "=")
		if !ok || name == "" || values == "" {
			return opts, usagef("--placeholder %q: want name=value1,value2", p)
		}
		if opts.Placeholders == nil {
			opts.Placeholders = map[string][]string{}
		}
		opts.Placeholders[name] = append(opts.Placeholders[name], strings.Split(values, ",")...)
	}
	return opts, nil
}

// baselineFlags select baseline rule files for lint and test.
type baselineFlags struct{ builtin bool }

func (b *baselineFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&b.builtin, "builtin-baselines", false, "check the built-in baseline rules too")
}

// baselineFile is a baseline rule file and the file system its test file
// is read from.
type baselineFile struct {
	baseline.File
	fsys fs.FS  // holds the test file
	test string // the test file's name in fsys
}

// split tells the Sigma rule paths from the baseline rule files among
// paths, and adds the built-in baseline rule files if asked for; it is a
// usage error to give neither paths nor --builtin-baselines.
func (b *baselineFlags) split(paths []string) (sigmaPaths []string, files []baselineFile, err error) {
	if len(paths) == 0 && !b.builtin {
		return nil, nil, usagef("give rule files or directories, or --builtin-baselines")
	}
	sigmaPaths, basePaths := splitRulePaths(paths)
	if files, err = b.files(basePaths); err != nil {
		return nil, nil, usageError{err}
	}
	return sigmaPaths, files, nil
}

// files returns the built-in baseline rule files if asked for, and those of
// paths; a test file given stands for its rule file.
func (b *baselineFlags) files(paths []string) ([]baselineFile, error) {
	var out []baselineFile
	if b.builtin {
		builtin, err := baseline.ReadFS(baselines.FS, ".")
		if err != nil {
			return nil, fmt.Errorf("reading the built-in baseline rules: %w", err)
		}
		for _, f := range builtin {
			test := baseline.TestFileOf(f.Name)
			f.Name = "builtin:" + f.Name
			out = append(out, baselineFile{File: f, fsys: baselines.FS, test: test})
		}
	}
	for i, p := range paths {
		if baseline.IsTestFile(p) {
			paths[i] = strings.TrimSuffix(p, baseline.TestExt) + baseline.Ext
		}
	}
	files, err := baseline.ReadPaths(paths)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		out = append(out, baselineFile{File: f, fsys: os.DirFS(filepath.Dir(f.Name)), test: filepath.Base(baseline.TestFileOf(f.Name))})
	}
	return out, nil
}

// lintReport prints what a lint finds and counts the warnings.
type lintReport struct {
	out      io.Writer
	warnings int
}

func (l *lintReport) errors(failed []detect.Failure) {
	for _, f := range failed {
		fmt.Fprintf(l.out, "error: %v\n", f)
	}
}

func (l *lintReport) warn(file, format string, args ...any) {
	l.warnings++
	fmt.Fprintf(l.out, "warning: %s: %s\n", file, fmt.Sprintf(format, args...))
}

// lintBaselines lints baseline rule files like Sigma rules and reports
// whether any failed to load.
func lintBaselines(s *streams, files []baselineFile) bool {
	if len(files) == 0 {
		return false
	}
	plain := make([]baseline.File, len(files))
	tested := map[string]bool{}
	for i, f := range files {
		plain[i] = f.File
		if _, err := fs.Stat(f.fsys, f.test); err == nil {
			tested[f.Name] = true
		}
	}
	// Every derived field is available to lint: a rule that needs GeoIP
	// is not wrong for lack of a database here.
	geo := baseline.Geo{
		ASN:     func(netip.Addr) (string, bool) { return "", false },
		Country: func(netip.Addr) (string, bool) { return "", false },
	}
	set := baseline.Load(plain, geo)
	lr := lintReport{out: s.out}
	lr.errors(set.Failed)
	warn := lr.warn
	for _, in := range set.Inactive {
		warn(in.Rule.File, "baseline %q is inactive: %s", in.Rule.Title, in.Reason)
	}
	for _, r := range set.Rules {
		lintRule(&detect.Rule{ID: r.ID, Title: r.Title, Level: r.Level, Tags: r.Tags, FalsePositives: r.FalsePositives, File: r.File}, true, warn)
		if !tested[r.File] {
			warn(r.File, "baseline %q has no test cases in %s", r.Title, filepath.Base(baseline.TestFileOf(r.File)))
		}
	}
	fmt.Fprintf(s.errOut, "%d baseline %s: %d baselines active, %d inactive; %d errors, %d warnings\n",
		len(files), plural(len(files), "file", "files"), len(set.Rules), len(set.Inactive), len(set.Failed), lr.warnings)
	return len(set.Failed) > 0
}

// testBaselines runs the test cases of baseline rule files and returns the
// cases passed and failed and the rule files without tests.
func testBaselines(s *streams, files []baselineFile, verbose bool) (pass, fail, untested int) {
	for _, f := range files {
		data, err := fs.ReadFile(f.fsys, f.test)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				untested++
				fmt.Fprintf(s.out, "NONE %s: no %s\n", f.Name, f.test)
			} else {
				fail++
				fmt.Fprintf(s.out, "FAIL %s: %v\n", f.Name, err)
			}
			continue
		}
		rules, err := baseline.Parse(f.Name, f.Data)
		if err != nil {
			fail++
			fmt.Fprintf(s.out, "FAIL %s: %v\n", f.Name, err)
			continue
		}
		suite, err := baseline.ParseSuite(f.test, data)
		if err != nil {
			fail++
			fmt.Fprintf(s.out, "FAIL %s: %v\n", f.Name, err)
			continue
		}
		for _, r := range baseline.RunSuite(rules, suite, baseline.Options{}) {
			switch {
			case r.Pass():
				pass++
				if verbose {
					fmt.Fprintf(s.out, "ok   %s: %s\n", f.Name, r.Case)
				}
			case r.Err != nil:
				fail++
				fmt.Fprintf(s.out, "FAIL %s: %s: %v\n", f.Name, r.Case, r.Err)
			default:
				fail++
				fmt.Fprintf(s.out, "FAIL %s: %s: %s\n", f.Name, r.Case, r.Describe())
			}
		}
	}
	return pass, fail, untested
}
