package cli

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/hunt"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/rules"
)

func newHuntCmd(s *streams) *cobra.Command {
	var (
		rulePaths   []string
		noBuiltin   bool
		format      string
		minLevel    string
		workers     int
		kind        string
		failOnMatch bool
		noBaselines bool
		geoPath     string
		rf          ruleFlags
	)
	reg := decode.Builtin()
	cmd := &cobra.Command{
		Use:   "hunt [--rules PATH]... [--no-builtin] [--format table|jsonl|csv] [--min-level LEVEL] [--workers N] [--source KIND] PATH...",
		Short: "Run detection rules over log files offline",
		Long: `Hunt decodes log files, directories or - for standard input as vigil decode does, and
runs Sigma rules over every event: the built-in serverless rule pack, plus the rule
files and directories given with --rules. It prints one line per match and a summary
on stderr. Inputs are spread over all cores. Correlation rules are evaluated over all
inputs in event time, whatever the order of the files; their matches (kind
"correlation", with the group-by values and the IDs of the base events) follow the
single-event matches. Baseline rules (rate spikes and first-seen behaviour: the
built-in ones and the *.baseline files among --rules) see every event in event time
too; their matches (kind "baseline", with the key values, the observed value and the
IDs of the bucket's first events) come last. --geoip gives them a MaxMind-format
database for the asn and country fields.`,
		Args: positional(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if format != "table" && format != "jsonl" && format != "csv" {
				return usagef("--format %q: use table, jsonl or csv", format)
			}
			min := detect.LevelRank(minLevel)
			if min < 0 {
				return usagef("--min-level %q: use one of %s", minLevel, strings.Join(detect.Levels(), ", "))
			}
			rd, err := reg.NewReader(decode.Options{Kind: kind})
			if err != nil {
				return usageError{err}
			}
			inputs, err := decode.Inputs(paths, s.in)
			if err != nil {
				return usageError{err}
			}
			ropts, err := rf.options()
			if err != nil {
				return err
			}
			sigmaPaths, basePaths := splitRulePaths(rulePaths)
			set, err := loadRules(sigmaPaths, noBuiltin, !noBaselines && len(basePaths) > 0, ropts)
			if err != nil {
				return usageError{err}
			}
			for _, f := range set.Failed {
				fmt.Fprintf(s.errOut, "rule failed: %v\n", f)
			}
			var bset *baseline.Set
			var evaluator *baseline.Evaluator
			if !noBaselines {
				geo, db, err := app.OpenGeo(geoPath)
				if err != nil {
					return usageError{err}
				}
				if db != nil {
					defer db.Close()
				}
				if bset, err = app.LoadBaselines(basePaths, noBuiltin, geo); err != nil {
					return usageError{err}
				}
				for _, f := range bset.Failed {
					fmt.Fprintf(s.errOut, "baseline rule failed: %v\n", f)
				}
				evaluator, err = baseline.New(bset.Rules, baseline.Options{Lateness: baseline.Unbounded, Geo: geo})
				if err != nil {
					return usageError{err}
				}
			}
			opts := hunt.Options{
				Reader: rd, Engine: set.Engine, Workers: workers, Correlations: set.CorrelationSet, Baselines: evaluator,
				Keep: func(r *detect.Rule) bool { return detect.LevelRank(r.Level) >= min },
			}
			var bar *progress
			if isTerminal(s.errOut) {
				bar = newProgress(s.errOut, inputs)
				opts.OnProgress = bar.update
			}
			out := newMatchWriter(s.out, format)
			stats := hunt.Run(cmd.Context(), inputs, opts, out.write, func(e hunt.InputError) {
				bar.clear()
				fmt.Fprintf(s.errOut, "%s: %v\n", e.Input, e.Err)
			})
			bar.clear()
			if err := out.flush(); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
			printHuntSummary(s.errOut, set, bset, stats)
			if err := cmd.Context().Err(); err != nil {
				return err
			}
			if failOnMatch && len(stats.Matches) > 0 {
				return errFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&rulePaths, "rules", nil, "Sigma rule file or directory to add (repeatable)")
	f.BoolVar(&noBuiltin, "no-builtin", false, "leave out the built-in rule pack")
	f.StringVar(&format, "format", "table", "output format: table, jsonl or csv")
	f.StringVar(&minLevel, "min-level", "informational", "report matches of this level and above: "+strings.Join(detect.Levels(), "|"))
	f.IntVar(&workers, "workers", 0, "inputs decoded and evaluated at once (default: one per CPU)")
	f.StringVar(&kind, "source", decode.Auto, "input format: "+strings.Join(reg.Kinds(), "|"))
	f.BoolVar(&failOnMatch, "fail-on-match", false, "exit 1 when any rule matches")
	f.BoolVar(&noBaselines, "no-baselines", false, "evaluate no baseline rules")
	f.StringVar(&geoPath, "geoip", "", "MaxMind-format database (.mmdb) giving baselines the asn and country of source IPs")
	rf.register(cmd)
	return cmd
}

// splitRulePaths tells baseline rule files apart from Sigma rule files
// and directories; directories may hold both, so they go to both.
func splitRulePaths(paths []string) (sigma, baselines []string) {
	for _, p := range paths {
		switch info, err := os.Stat(p); {
		case err == nil && info.IsDir():
			sigma = append(sigma, p)
			baselines = append(baselines, p)
		case baseline.IsFile(p) || baseline.IsTestFile(p):
			baselines = append(baselines, p)
		default:
			sigma = append(sigma, p)
		}
	}
	return sigma, baselines
}

// loadRules loads the built-in pack unless noBuiltin, and the given paths;
// no rule at all is an error unless allowNone (baselines are given).
func loadRules(paths []string, noBuiltin, allowNone bool, opts detect.Options) (*detect.Set, error) {
	var files []detect.File
	if !noBuiltin {
		builtin, err := detect.ReadFS(rules.FS, ".")
		if err != nil {
			return nil, fmt.Errorf("reading the built-in rules: %w", err)
		}
		for i := range builtin {
			builtin[i].Name = "builtin:" + builtin[i].Name
		}
		files = builtin
	}
	extra, err := detect.ReadPaths(paths)
	if err != nil {
		return nil, err
	}
	files = append(files, extra...)
	if len(files) == 0 && !allowNone {
		return nil, fmt.Errorf("no rules: give --rules PATH or drop --no-builtin")
	}
	return detect.Load(files, opts), nil
}

func printHuntSummary(w io.Writer, set *detect.Set, bset *baseline.Set, st hunt.Stats) {
	total := 0
	for _, n := range st.Matches {
		total += n
	}
	fmt.Fprintf(w, "rules: %d loaded, %d inactive, %d failed, %d correlations\n",
		len(set.Engine.Rules()), len(set.Inactive), len(set.Failed), len(set.Correlations))
	rate := float64(st.Events) / max(st.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "events: %d scanned from %d %s in %s (%.0f events/s), %d bad records, %d unreadable %s\n",
		st.Events, st.Inputs, plural(st.Inputs, "input", "inputs"), st.Elapsed.Round(time.Millisecond), rate,
		st.BadRecords, st.FailedInputs, plural(st.FailedInputs, "input", "inputs"))
	if bset != nil {
		fmt.Fprintf(w, "baselines: %d loaded, %d inactive, %d failed\n", len(bset.Rules), len(bset.Inactive), len(bset.Failed))
	}
	fmt.Fprintf(w, "matches: %d\n", total)
	if n := st.Baseline.Early; n > 0 {
		fmt.Fprintf(w, "baselines: %d events came more than %.0f hours older than the first event read of their first_seen rule; the rule learned from them, but its learning period started without them (give inputs oldest first)\n", n, baseline.HuntHorizon.Hours())
	}
	if bst := st.Baseline; bst.Forced+bst.Evicted > 0 {
		fmt.Fprintf(w, "baseline state limits: %d buckets closed early (too many open), %d keys evicted\n", bst.Forced, bst.Evicted)
	}
	if cst := st.Correlator; cst.Late+cst.Forced+cst.Evicted+cst.Trimmed > 0 {
		fmt.Fprintf(w, "correlation state limits: %d base matches processed before their turn (reorder buffer full), %d late, %d groups evicted, %d matches trimmed from full windows\n",
			cst.Forced, cst.Late, cst.Evicted, cst.Trimmed)
	}
	type row struct {
		r *detect.Rule
		n int
	}
	var rows []row
	for r, n := range st.Matches {
		rows = append(rows, row{r, n})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].n != rows[j].n {
			return rows[i].n > rows[j].n
		}
		return rows[i].r.Title < rows[j].r.Title
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", r.n, r.r.Level, r.r.Title)
	}
	tw.Flush()
	for _, in := range set.Inactive {
		fmt.Fprintf(w, "inactive: %s (%s): %s\n", in.Rule.Title, in.Rule.File, in.Reason)
	}
	if bset != nil {
		for _, in := range bset.Inactive {
			fmt.Fprintf(w, "inactive: %s (%s): %s\n", in.Rule.Title, in.Rule.File, in.Reason)
		}
	}
}

// matchWriter writes matches in one of the output formats.
type matchWriter struct {
	format string
	bw     *bufio.Writer
	tw     *tabwriter.Writer
	cw     *csv.Writer
	buf    []byte
	rows   int
}

var matchColumns = []string{"time", "level", "rule_id", "title", "tags", "principal", "action", "source_ip", "account", "region", "function", "input", "record",
	"kind", "group", "value", "events"}

func newMatchWriter(w io.Writer, format string) *matchWriter {
	m := &matchWriter{format: format, bw: bufio.NewWriterSize(w, 256<<10)}
	switch format {
	case "table":
		m.tw = tabwriter.NewWriter(m.bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(m.tw, "TIME\tLEVEL\tRULE\tPRINCIPAL\tACTION\tSOURCE IP\tACCOUNT\tREGION\tFUNCTION\tINPUT")
	case "csv":
		m.cw = csv.NewWriter(m.bw)
		m.cw.Write(matchColumns)
	}
	return m
}

// matchGroup returns the key of a baseline match or the group of a
// correlation match; nil for a single-event match.
func matchGroup(x hunt.Match) []detect.GroupValue {
	switch {
	case x.Baseline != nil:
		return x.Baseline.Key
	case x.Correlation != nil:
		return x.Correlation.Group
	}
	return nil
}

func (m *matchWriter) values(x hunt.Match) []string {
	var group, vals []string
	for _, g := range matchGroup(x) {
		group = append(group, g.Field+"="+g.Value)
		vals = append(vals, g.Value)
	}
	if b := x.Baseline; b != nil {
		value := strconv.FormatFloat(b.Observed, 'g', -1, 64)
		what := string(b.Rule.Kind)
		if b.Rule.Kind == baseline.Rate {
			what += " " + value + " (expected " + strconv.FormatFloat(b.Expected, 'g', 4, 64) + ")"
		}
		return []string{b.Time.UTC().Format(time.RFC3339), x.Rule.Level, x.Rule.ID, x.Rule.Title, strings.Join(x.Rule.Tags, " "),
			strings.Join(vals, ", "), what, "", "", "", "", fmt.Sprintf("%d events", b.Events), "0",
			"baseline", strings.Join(group, ";"), value, strings.Join(b.EventIDs, " ")}
	}
	if c := x.Correlation; c != nil {
		value := strconv.FormatFloat(c.Value, 'g', -1, 64)
		if c.Text != "" {
			value += " (" + c.Text + ")"
		}
		return []string{c.Time.UTC().Format(time.RFC3339), x.Rule.Level, x.Rule.ID, x.Rule.Title, strings.Join(x.Rule.Tags, " "),
			strings.Join(vals, ", "), string(c.Correlation.Type) + " " + value, "", "", "", "", fmt.Sprintf("%d events", c.Count), "0",
			"correlation", strings.Join(group, ";"), value, strings.Join(c.Events, " ")}
	}
	e := x.Event
	t := ""
	if !e.Time.IsZero() {
		t = e.Time.UTC().Format(time.RFC3339)
	}
	return []string{t, x.Rule.Level, x.Rule.ID, x.Rule.Title, strings.Join(x.Rule.Tags, " "), e.Principal, e.Action,
		e.SourceIP, e.Account, e.Region, e.Function, x.Input, strconv.Itoa(x.Record), "event", "", "", e.ID}
}

func (m *matchWriter) write(x hunt.Match) {
	v := m.values(x)
	switch m.format {
	case "table":
		// Tabs and newlines inside values would break the table.
		for i := range v {
			v[i] = strings.Map(func(r rune) rune {
				if r == '\t' || r == '\n' || r == '\r' {
					return ' '
				}
				return r
			}, v[i])
		}
		where := v[11] + ":" + v[12]
		if x.Correlation != nil || x.Baseline != nil {
			where = v[11] // the number of base events
		}
		fmt.Fprintf(m.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v[0], v[1], v[3], v[5], v[6], v[7], v[8], v[9], v[10], where)
		m.rows++
		if m.rows%1000 == 0 {
			m.tw.Flush() // keep memory bounded on huge outputs
		}
	case "csv":
		m.cw.Write(v)
	default:
		b := append(m.buf[:0], '{')
		for i, col := range matchColumns {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsondoc.AppendString(b, col)
			b = append(b, ':')
			switch col {
			case "tags":
				b = appendStrings(b, x.Rule.Tags)
			case "record":
				b = strconv.AppendInt(b, int64(x.Record), 10)
			case "group":
				b = append(b, '{')
				for j, g := range matchGroup(x) {
					if j > 0 {
						b = append(b, ',')
					}
					b = jsondoc.AppendString(b, g.Field)
					b = append(b, ':')
					b = jsondoc.AppendString(b, g.Value)
				}
				b = append(b, '}')
			case "value":
				if x.Baseline != nil {
					b = strconv.AppendFloat(b, x.Baseline.Observed, 'g', -1, 64)
				} else if x.Correlation != nil {
					b = strconv.AppendFloat(b, x.Correlation.Value, 'g', -1, 64)
				} else {
					b = append(b, "null"...)
				}
			case "events":
				if x.Baseline != nil {
					b = appendStrings(b, x.Baseline.EventIDs)
				} else if x.Correlation != nil {
					b = appendStrings(b, x.Correlation.Events)
				} else {
					b = appendStrings(b, []string{x.Event.ID})
				}
			default:
				b = jsondoc.AppendString(b, v[i])
			}
		}
		b = append(b, '}', '\n')
		m.buf = b
		m.bw.Write(b)
	}
}

// appendStrings appends a JSON array of strings.
func appendStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsondoc.AppendString(b, s)
	}
	return append(b, ']')
}

func (m *matchWriter) flush() error {
	if m.tw != nil {
		m.tw.Flush()
	}
	if m.cw != nil {
		m.cw.Flush()
		if err := m.cw.Error(); err != nil {
			return err
		}
	}
	return m.bw.Flush()
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// progress draws a one-line progress bar on a terminal.
type progress struct {
	mu    sync.Mutex // workers report concurrently
	w     io.Writer
	total int64
	last  time.Time
}

func newProgress(w io.Writer, inputs []decode.Input) *progress {
	p := &progress{w: w}
	for _, in := range inputs {
		if info, err := os.Stat(in.Name); err == nil && in.Name != "-" {
			p.total += info.Size()
		}
	}
	return p
}

func (p *progress) update(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	if p.total > 0 {
		pct := min(100, float64(n)*100/float64(p.total))
		bar := strings.Repeat("#", int(pct/5)) + strings.Repeat(".", 20-int(pct/5))
		fmt.Fprintf(p.w, "\r[%s] %3.0f%%  %d/%d MiB", bar, pct, n>>20, p.total>>20)
		return
	}
	fmt.Fprintf(p.w, "\r%d MiB read", n>>20)
}

// clear erases the bar, if one is drawn, so that other output starts on a
// clean line; the next update draws it again.
func (p *progress) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
		p.last = time.Time{}
	}
}
