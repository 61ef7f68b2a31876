// Package ruletest runs the test cases kept beside Sigma rules: for
// rules/x.yml, the file rules/x.tests.yml lists native log records, the
// decoder that reads each, and whether the rules in x.yml must match it.
//
// The format:
//
//	cases:
//	  - name: public function URL is created   # what the case proves
//	    match: true                            # must a rule in x.yml match?
//	    kind: cloudtrail                       # decoder, as for vigil decode --source; default auto
//	    record: {eventName: ..., ...}          # the native record, as YAML or JSON
//	  - name: a Lambda timeout
//	    match: true
//	    kind: lambda
//	    line: "2026-11-20T10:00:30.035Z 3f5c... Task timed out after 30.03 seconds"
//	    log_group: /aws/lambda/orders-api      # optional, names the function
//
// For correlation rules a case gives a sequence of events and the number of
// results the file's rules produce over it (correlation matches, and the
// matches of rules that raise their own):
//
//   - name: ten denied calls in a minute
//     matches: 1
//     events:
//   - kind: cloudtrail
//     record: {...}
//     time: 2026-11-20T10:00:00Z   # the event time correlations see; or +30s after the previous step
//     repeat: 10                   # copies of the record, default 1
//     every: 5s                    # time between copies, default 1s
//     vary: [requestParameters.functionName]  # string fields that get -2, -3, ... in later copies
//
// A record goes through the same decoder as production input, so a case
// also checks that the record decodes.
package ruletest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Case is one test case.
type Case struct {
	Name     string `yaml:"name"`
	Match    bool   `yaml:"match"`
	Kind     string `yaml:"kind"`
	Record   any    `yaml:"record"`
	Line     string `yaml:"line"`
	LogGroup string `yaml:"log_group"`
	// Events is a sequence of events, for correlation rules; Matches is
	// then the number of results expected.
	Events  []Step `yaml:"events"`
	Matches *int   `yaml:"matches"`
}

// Step is one record of a case's event sequence, possibly repeated.
type Step struct {
	Kind     string   `yaml:"kind"`
	Record   any      `yaml:"record"`
	Line     string   `yaml:"line"`
	LogGroup string   `yaml:"log_group"`
	Time     string   `yaml:"time"`
	Repeat   int      `yaml:"repeat"`
	Every    string   `yaml:"every"`
	Vary     []string `yaml:"vary"`
}

// Suite is one *.tests.yml file.
type Suite struct {
	Cases []Case `yaml:"cases"`
}

// Result is the outcome of one case.
type Result struct {
	RuleFile string
	Case     string
	Want     bool
	Got      bool
	// Counted cases compare the number of results.
	Counted   bool
	WantCount int
	GotCount  int
	Err       error // the case could not run: bad record, decoder error
}

// Pass reports whether the case ran and gave the expected answer.
func (r Result) Pass() bool {
	if r.Err != nil {
		return false
	}
	if r.Counted {
		return r.GotCount == r.WantCount
	}
	return r.Got == r.Want
}

// Describe says what the case produced against what it expected.
func (r Result) Describe() string {
	if r.Counted {
		return fmt.Sprintf("%d results, want %d", r.GotCount, r.WantCount)
	}
	return fmt.Sprintf("matched %v, want %v", r.Got, r.Want)
}

// TestFileName returns the name of the test file for a rule file.
func TestFileName(ruleFile string) string {
	for _, ext := range []string{".yml", ".yaml"} {
		if base, ok := strings.CutSuffix(ruleFile, ext); ok {
			return base + ".tests" + ext
		}
	}
	return ruleFile + ".tests.yml"
}

// Bounds of a test file.
const (
	MaxSuiteBytes = 4 << 20
	MaxCaseEvents = 100_000 // events of one case, repeats expanded
	maxRepeat     = 50_000
)

// ParseSuite decodes a test file strictly: unknown keys are errors.
func ParseSuite(name string, data []byte) (*Suite, error) {
	if len(data) > MaxSuiteBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB", name, MaxSuiteBytes>>20)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Suite
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(s.Cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", name)
	}
	for i, c := range s.Cases {
		if c.Name == "" {
			return nil, fmt.Errorf("%s: case %d has no name", name, i+1)
		}
		if err := checkCase(c); err != nil {
			return nil, fmt.Errorf("%s: case %q %w", name, c.Name, err)
		}
	}
	return &s, nil
}

func checkCase(c Case) error {
	if c.Events == nil {
		if (c.Record == nil) == (c.Line == "") {
			return errors.New("needs exactly one of record, line or events")
		}
		if c.Matches != nil && *c.Matches < 0 {
			return errors.New("matches must not be negative")
		}
		return nil
	}
	switch {
	case c.Record != nil || c.Line != "" || c.Kind != "" || c.LogGroup != "":
		return errors.New("gives events: put record, line, kind and log_group in each event")
	case c.Matches == nil:
		return errors.New("gives events: say how many results they produce with matches: N")
	case c.Match:
		return errors.New("gives events: use matches: N, not match")
	case *c.Matches < 0:
		return errors.New("matches must not be negative")
	case len(c.Events) == 0:
		return errors.New("has an empty events list")
	}
	total := 0
	for i, st := range c.Events {
		if (st.Record == nil) == (st.Line == "") {
			return fmt.Errorf("event %d needs exactly one of record or line", i+1)
		}
		if st.Repeat < 0 || st.Repeat > maxRepeat {
			return fmt.Errorf("event %d: repeat must be between 1 and %d", i+1, maxRepeat)
		}
		if _, err := every(st); err != nil {
			return fmt.Errorf("event %d: %w", i+1, err)
		}
		if len(st.Vary) > 0 && st.Record == nil {
			return fmt.Errorf("event %d: vary needs a record", i+1)
		}
		if st.Time != "" && !strings.HasPrefix(st.Time, "+") {
			if _, err := time.Parse(time.RFC3339Nano, st.Time); err != nil {
				return fmt.Errorf("event %d: time %q: want RFC 3339 (2026-11-20T10:00:00Z) or +duration", i+1, st.Time)
			}
		} else if st.Time != "" {
			if _, err := time.ParseDuration(st.Time[1:]); err != nil {
				return fmt.Errorf("event %d: time %q: %w", i+1, st.Time, err)
			}
		}
		total += max(st.Repeat, 1)
	}
	if total > MaxCaseEvents {
		return fmt.Errorf("has %d events, more than %d", total, MaxCaseEvents)
	}
	return nil
}

func every(st Step) (time.Duration, error) {
	if st.Every == "" {
		return time.Second, nil
	}
	d, err := time.ParseDuration(st.Every)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("every %q: want a duration such as 30s", st.Every)
	}
	return d, nil
}

// Run runs the suite against the rules of one rule file; reg decodes the
// records.
func Run(rule detect.File, suite *Suite, reg *decode.Registry, opts detect.Options) []Result {
	set := detect.Load([]detect.File{rule}, opts)
	var loadErr error
	if len(set.Failed) > 0 {
		loadErr = fmt.Errorf("rule does not load: %v", set.Failed[0])
	} else if len(set.Engine.Rules()) == 0 {
		loadErr = errors.New("the file has no active rule")
	}
	var out []Result
	for _, c := range suite.Cases {
		r := Result{RuleFile: rule.Name, Case: c.Name, Want: c.Match}
		if c.Matches != nil {
			r.Counted, r.WantCount = true, *c.Matches
		}
		if loadErr != nil {
			r.Err = loadErr
			out = append(out, r)
			continue
		}
		events, err := caseEvents(c, reg)
		if err != nil {
			r.Err = err
		} else {
			r.GotCount = evaluate(set, events)
			r.Got = r.GotCount > 0
		}
		out = append(out, r)
	}
	return out
}

// evaluate runs the rules and correlations of set over events, in order,
// and returns the number of results: matches of rules that raise their
// own, and correlation matches.
func evaluate(set *detect.Set, events []*event.Event) int {
	cs := set.CorrelationSet
	corr := detect.NewCorrelator(cs, detect.CorrelatorOptions{Lateness: detect.Unbounded})
	n := 0
	count := func(*detect.CorrelationMatch) { n++ }
	scratch := set.Engine.NewScratch()
	var obs []*detect.Observation
	for _, ev := range events {
		obs = obs[:0]
		set.Engine.Match(ev, scratch, func(r *detect.Rule) {
			if cs.Emits(r) {
				n++
			}
			if o := cs.Observe(r, ev, scratch); o != nil {
				obs = append(obs, o)
			}
		})
		for _, o := range obs {
			corr.Add(o, count)
		}
	}
	corr.Flush(count)
	return n
}

// caseEvents decodes the events of a case, with the times and IDs its steps
// give.
func caseEvents(c Case, reg *decode.Registry) ([]*event.Event, error) {
	if c.Events == nil {
		return decodeOne(Step{Kind: c.Kind, Record: c.Record, Line: c.Line, LogGroup: c.LogGroup}, reg)
	}
	var out []*event.Event
	var prev time.Time
	for i, st := range c.Events {
		copies := max(st.Repeat, 1)
		step, _ := every(st)
		var start time.Time
		for k := 0; k < copies; k++ {
			s := st
			if k > 0 && len(st.Vary) > 0 {
				rec, err := vary(st.Record, st.Vary, k+1)
				if err != nil {
					return nil, fmt.Errorf("event %d: %w", i+1, err)
				}
				s.Record = rec
			}
			evs, err := decodeOne(s, reg)
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", i+1, err)
			}
			if k == 0 {
				start = evs[0].Time
				switch {
				case strings.HasPrefix(st.Time, "+"):
					d, _ := time.ParseDuration(st.Time[1:])
					if !prev.IsZero() {
						start = prev
					}
					start = start.Add(d)
				case st.Time != "":
					start, _ = time.Parse(time.RFC3339Nano, st.Time)
				}
			}
			at := start.Add(time.Duration(k) * step)
			for _, ev := range evs {
				ev.Time = at
				if k > 0 {
					ev.ID += "#" + strconv.Itoa(k+1)
				}
			}
			prev = at
			out = append(out, evs...)
		}
	}
	return out, nil
}

// vary returns a copy of a YAML-decoded record in which each string field
// at the dotted paths has "-n" appended.
func vary(record any, paths []string, n int) (any, error) {
	rec := deepCopy(jsonable(record))
	for _, p := range paths {
		m, ok := rec.(map[string]any)
		parts := strings.Split(p, ".")
		for _, k := range parts[:len(parts)-1] {
			if !ok {
				break
			}
			m, ok = m[k].(map[string]any)
		}
		last := parts[len(parts)-1]
		s, isStr := "", false
		if ok {
			s, isStr = m[last].(string)
		}
		if !isStr {
			return nil, fmt.Errorf("vary: %q is not a string field of the record", p)
		}
		m[last] = s + "-" + strconv.Itoa(n)
	}
	return rec, nil
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = deepCopy(x)
		}
		return out
	}
	return v
}

// decodeOne decodes one record or log line into its events.
func decodeOne(st Step, reg *decode.Registry) ([]*event.Event, error) {
	kind := st.Kind
	var input []byte
	if st.Line != "" {
		group := st.LogGroup
		if group == "" {
			group = "/aws/lambda/test-function"
		}
		input = cloudWatchPayload(group, st.Line)
		kind = "cloudwatch"
	} else {
		b, err := json.Marshal(jsonable(st.Record))
		if err != nil {
			return nil, fmt.Errorf("record is not JSON: %w", err)
		}
		input = b
	}
	rd, err := reg.NewReader(decode.Options{Kind: kind})
	if err != nil {
		return nil, err
	}
	var col source.Collect
	if err := rd.Read(bytes.NewReader(input), &col, nil); err != nil {
		return nil, fmt.Errorf("record does not decode: %w", err)
	}
	if len(col.Errors) > 0 {
		return nil, fmt.Errorf("record does not decode: %v", col.Errors[0])
	}
	if len(col.Events) == 0 {
		return nil, errors.New("record decodes to no event")
	}
	return col.Events, nil
}

// cloudWatchPayload wraps a log line in a CloudWatch Logs subscription
// message, as Lambda logs arrive in production.
func cloudWatchPayload(group, line string) []byte {
	b := []byte(`{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":`)
	b = jsondoc.AppendString(b, group)
	b = append(b, `,"logStream":"2026/11/20/[$LATEST]0123456789abcdef0123456789abcdef","subscriptionFilters":["vigil"],"logEvents":[{"id":"37000000000000000000000000000000000000000000000000000000","timestamp":1795167000000,"message":`...)
	b = jsondoc.AppendString(b, line)
	return append(b, "}]}"...)
}

// jsonable turns YAML-decoded values into ones encoding/json accepts: maps
// with non-string keys get string keys.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = jsonable(x)
		}
		return v
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fmt.Sprint(k)] = jsonable(x)
		}
		return out
	case []any:
		for i, x := range v {
			v[i] = jsonable(x)
		}
		return v
	}
	return v
}

// ReadSuite reads the test file of a rule file from fsys, and reports
// whether it exists.
func ReadSuite(fsys fs.FS, ruleFile string) (*Suite, bool, error) {
	name := TestFileName(ruleFile)
	data, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	s, err := ParseSuite(name, data)
	return s, true, err
}
