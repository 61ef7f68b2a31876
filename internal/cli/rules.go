package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/ruletest"
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
	cmd := &cobra.Command{
		Use:   "lint PATH...",
		Short: "Report every problem in Sigma rule files and directories",
		Long: `Lint parses and compiles every rule, filter and correlation in the given files and
directories and lists every error with file:line:col, then warnings for rules that
will not run (inactive logsource) or lack what responders need: an id, a level,
ATT&CK tags, false positives and test cases. It exits 1 when there is any error.`,
		Args: positional(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, paths []string) error {
			files, err := detect.ReadPaths(paths)
			if err != nil {
				return usageError{err}
			}
			opts, err := rf.options()
			if err != nil {
				return err
			}
			set := detect.Load(files, opts)
			for _, f := range set.Failed {
				fmt.Fprintf(s.out, "error: %v\n", f)
			}
			warnings := 0
			warn := func(file, format string, args ...any) {
				warnings++
				fmt.Fprintf(s.out, "warning: %s: %s\n", file, fmt.Sprintf(format, args...))
			}
			for _, in := range set.Inactive {
				warn(in.Rule.File, "rule %q is inactive: %s", in.Rule.Title, in.Reason)
			}
			for _, r := range set.Engine.Rules() {
				lintRule(r, set.CorrelationSet.Emits(r), warn)
			}
			for _, c := range set.Correlations {
				lintRule(c.Rule, c.Emits(), warn)
			}
			fmt.Fprintf(s.errOut, "%d %s: %d rules active, %d inactive, %d filters, %d correlations; %d errors, %d warnings\n",
				len(files), plural(len(files), "file", "files"), len(set.Engine.Rules()), len(set.Inactive), set.Filters,
				len(set.Correlations), len(set.Failed), warnings)
			if len(set.Failed) > 0 {
				return errFailed
			}
			return nil
		},
	}
	rf.register(cmd)
	return cmd
}

// lintRule warns about what a rule lacks. A building block of correlations
// (standalone false) raises no alert of its own, so it needs no level, tags
// or false positives.
func lintRule(r *detect.Rule, standalone bool, warn func(file, format string, args ...any)) {
	if r.ID == "" {
		warn(r.File, "rule %q has no id: alerts and filters refer to rules by id", r.Title)
	}
	if _, err := os.Stat(ruletest.TestFileName(r.File)); err != nil {
		warn(r.File, "rule %q has no test cases in %s", r.Title, filepath.Base(ruletest.TestFileName(r.File)))
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
	cmd := &cobra.Command{
		Use:   "test PATH...",
		Short: "Run the test cases kept beside Sigma rules (x.tests.yml beside x.yml)",
		Long: `Test runs, for every rule file x.yml in the given files and directories, the cases in
x.tests.yml beside it: each case's native record is decoded by the real decoder and
the rules of x.yml must match it or not, as the case says. The file format is
described in docs/rules.md. It exits 1 when a case fails or a rule has no tests.`,
		Args: positional(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, paths []string) error {
			files, err := detect.ReadPaths(paths)
			if err != nil {
				return usageError{err}
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
			fmt.Fprintf(s.errOut, "%d passed, %d failed, %d rule files without tests\n", pass, fail, untested)
			if fail > 0 || untested > 0 {
				return errFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing cases too")
	rf.register(cmd)
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
