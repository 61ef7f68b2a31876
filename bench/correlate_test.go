package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/hunt"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// correlationShapes are the correlations Correlations generates over the
// calls of the generated CloudTrail data, one per base rule, of every type
// and grouped by principal, function or address. The base rules match from
// 1% (CreateFunction) to 25% (Invoke) of the records, 75% together.
var correlationShapes = []struct {
	selection, typ, groupBy, condition, timespan string
}{
	{"errorCode: AccessDenied", "event_count", "userIdentity.arn", "gte: 10", "5m"},
	{"eventName|startswith: GetFunction", "value_count", "userIdentity.arn", "field: requestParameters.functionName\n    gte: 8", "10m"},
	{"eventName: GetSecretValue", "value_count", "userIdentity.arn", "field: requestParameters.secretId\n    gte: 5", "10m"},
	{"eventName: Invoke", "event_count", "requestParameters.functionName", "gte: 500", "1m"},
	{"eventName: AssumeRole", "value_count", "sourceIPAddress", "field: requestParameters.roleSessionName\n    gte: 50", "5m"},
	{"eventName: PutObject", "event_count", "userIdentity.arn", "gt: 40\n    lt: 60", "1m"},
	{"eventName: Decrypt", "value_percentile", "userIdentity.arn", "field: userAgent\n    lte: 1", "10m"},
	{"eventName: DescribeInstances", "value_count", "userIdentity.arn", "field: sourceIPAddress\n    gte: 20", "5m"},
	{"eventName|startswith: CreateFunction", "value_avg", "userIdentity.arn", "field: requestParameters.memorySize\n    gt: 1024", "10m"},
	{"eventName: ListRoles", "value_sum", "userIdentity.arn", "field: requestParameters.maxItems\n    gt: 5000", "5m"},
}

// selectiveShapes replace the four busiest base rules of correlationShapes
// (Invoke, AssumeRole, PutObject, Decrypt: 50% of the records) by rare
// calls, so that the base rules match 1% to 7% of the records, as the
// building blocks of the built-in pack do.
var selectiveShapes = map[int]string{
	3: "eventName|startswith: UpdateFunctionCode",
	4: "eventName|startswith: AddPermission",
	5: "eventName: PassRole",
	6: "eventName: LookupEvents",
}

// pairs are the base rules that temporal correlations combine: the
// selective ones (AccessDenied, GetFunction, GetSecretValue,
// DescribeInstances, CreateFunction, ListRoles), as a rule writer combines
// rare events rather than every invocation.
var pairs = [][2]int{{0, 1}, {1, 2}, {2, 7}, {7, 8}, {8, 9}, {9, 0}, {0, 2}, {1, 7}, {2, 8}, {7, 9}}

// Correlations returns n generated correlation rule files over the data of
// CloudTrailFile. The first ten each come with their base rule; the next
// ones are temporal and temporal_ordered correlations of two of those base
// rules, as correlations of a pack share building blocks. busy keeps the
// busiest base rules of correlationShapes.
func Correlations(n int, busy bool) []detect.File {
	out := make([]detect.File, 0, n)
	k := len(correlationShapes)
	for i := 0; i < n; i++ {
		s := correlationShapes[i%k]
		if sel, ok := selectiveShapes[i%k]; ok && !busy {
			s.selection = sel
		}
		var doc string
		if i < k {
			doc = fmt.Sprintf("title: Generated correlation %d\nid: %08x-0000-4000-9000-%012x\nlevel: medium\ncorrelation:\n  type: %s\n  rules: [base_%d]\n  group-by: [%s]\n  timespan: %s\n  condition:\n    %s\n---\ntitle: Base %d\nname: base_%d\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    %s\n  condition: sel\n",
				i, i, i, s.typ, i, s.groupBy, s.timespan, s.condition, i, i, s.selection)
		} else {
			typ := "temporal"
			if i%2 == 0 {
				typ = "temporal_ordered"
			}
			p := pairs[(i-k)%len(pairs)]
			doc = fmt.Sprintf("title: Generated correlation %d\nid: %08x-0000-4000-9000-%012x\nlevel: medium\ncorrelation:\n  type: %s\n  rules: [base_%d, base_%d]\n  group-by: [userIdentity.arn]\n  timespan: 10m\n",
				i, i, i, typ, p[0], p[1])
		}
		out = append(out, detect.File{Name: fmt.Sprintf("corr/%02d.yml", i), Data: []byte(doc)})
	}
	return out
}

// correlateSink matches every decoded event and feeds the correlations'
// base matches to a correlator, as vigil hunt does.
type correlateSink struct {
	set      *detect.Set
	scratch  *detect.Scratch
	observer *detect.Observer
	corr     *detect.Correlator
	emit     func(*detect.CorrelationMatch)
	events   int
	matches  int
}

func (s *correlateSink) Event(e *event.Event) {
	s.events++
	cs := s.set.CorrelationSet
	s.set.Engine.Match(e, s.scratch, func(r *detect.Rule) {
		if cs.Emits(r) {
			s.matches++
		}
		if o := s.observer.Observe(r, e, s.scratch); o != nil {
			s.corr.Add(o, s.emit)
		}
	})
}
func (s *correlateSink) Fail(err *source.RecordError) { panic(err) }
func (s *correlateSink) Note(string)                  {}

// BenchmarkHuntCorrelations measures, on one core and the CloudTrail file
// of BenchmarkHunt, the cost of evaluating correlation rules on top of the
// built-in pack and 500 rules, with a correlator fed as vigil hunt feeds
// it: "none" evaluates no correlation (the pack's building blocks raise
// their matches as plain rules), "builtin" the pack's four, "builtin+20"
// adds 20 generated ones whose 10 base rules match 1% to 7% of the records
// each, and "builtin+20-busy" generated ones whose base rules together
// match 75% of the records (Invoke alone 25%).
func BenchmarkHuntCorrelations(b *testing.B) {
	data := CloudTrailFile(recordsPerFile, 1)
	rd, err := decode.Builtin().NewReader(decode.Options{Kind: "cloudtrail"})
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		n    int
		busy bool
	}{{"none", 0, false}, {"builtin", -1, false}, {"builtin+20", 20, false}, {"builtin+20-busy", 20, true}} {
		n := v.n
		b.Run("rules=builtin+500/correlations="+v.name, func(b *testing.B) {
			files := append(builtinRules(b), Rules(500, 7)...)
			files = append(files, Correlations(max(n, 0), v.busy)...)
			set := detect.Load(files, detect.Options{})
			if len(set.Failed) > 0 {
				b.Fatal(set.Failed)
			}
			if n > 0 && len(set.Correlations) < n {
				b.Fatalf("%d correlations loaded", len(set.Correlations))
			}
			if n == 0 {
				set.CorrelationSet = nil // single-event rules only
			}
			s := &correlateSink{set: set, scratch: set.Engine.NewScratch(), observer: set.CorrelationSet.NewObserver()}
			s.emit = func(*detect.CorrelationMatch) { s.matches++ }
			cpu := selfCPU()
			perRecord(b, recordsPerFile, func() {
				s.corr = detect.NewCorrelator(set.CorrelationSet, detect.CorrelatorOptions{Lateness: detect.Unbounded})
				if err := rd.Read(bytes.NewReader(data), s, nil); err != nil {
					b.Fatal(err)
				}
				s.corr.Flush(s.emit)
			})
			// CPU time (the process's, garbage collection included) is
			// steadier than elapsed time on a shared machine.
			if used := selfCPU() - cpu; used > 0 {
				b.ReportMetric(float64(used.Nanoseconds())/float64(b.N*recordsPerFile), "cpu-ns/record")
			}
			b.ReportMetric(float64(s.matches)/float64(b.N), "results/file")
		})
	}
}

// BenchmarkCorrelationState measures the memory of correlation state for
// 1,000,000 distinct group-by values (principal ARNs of 40 bytes, UUID
// event IDs): the live heap after the base matches were fed, divided by the
// keys. Run it with -benchtime=1x.
func BenchmarkCorrelationState(b *testing.B) {
	const keys = 1_000_000
	shapes := []struct{ name, corr string }{
		{"event_count", "type: event_count\n  rules: [base]\n  group-by: [userIdentity.arn]\n  timespan: 1h\n  condition: {gte: 10}"},
		{"value_count", "type: value_count\n  rules: [base]\n  group-by: [userIdentity.arn]\n  timespan: 1h\n  condition: {field: requestParameters.functionName, gte: 10}"},
		{"temporal_ordered", "type: temporal_ordered\n  rules: [base, other]\n  group-by: [userIdentity.arn]\n  timespan: 1h"},
	}
	for _, sh := range shapes {
		b.Run(sh.name, func(b *testing.B) {
			doc := "title: State\ncorrelation:\n  " + sh.corr + `
---
title: Base
name: base
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: GetFunction}
  condition: sel
---
title: Other
name: other
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: Invoke}
  condition: sel
`
			set := detect.Load([]detect.File{{Name: "state.yml", Data: []byte(doc)}}, detect.Options{})
			if len(set.Failed) > 0 || len(set.Correlations) != 1 {
				b.Fatal(set.Failed)
			}
			base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
			var perKey float64
			for b.Loop() {
				scratch := set.Engine.NewScratch()
				observer := set.CorrelationSet.NewObserver()
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				c := detect.NewCorrelator(set.CorrelationSet, detect.CorrelatorOptions{Lateness: time.Nanosecond})
				var doc jsondoc.Doc
				for i := 0; i < keys; i++ {
					rec := fmt.Sprintf(`{"eventName":"GetFunction","userIdentity":{"arn":"arn:aws:iam::111122223333:user/u%07d"},"requestParameters":{"functionName":"orders-api"}}`, i)
					if err := doc.Parse([]byte(rec)); err != nil {
						b.Fatal(err)
					}
					ev := &event.Event{Source: event.SourceCloudTrail, Action: "GetFunction", Raw: doc.Root(),
						Time: base.Add(time.Duration(i) * time.Millisecond), ID: fmt.Sprintf("%08x-7e2a-4f0b-8c3d-%012x", i, i)}
					set.Engine.Match(ev, scratch, func(r *detect.Rule) {
						c.Add(observer.Observe(r, ev, scratch), nil)
					})
				}
				c.Advance(base.Add(keys*time.Millisecond+time.Second), nil)
				runtime.GC()
				runtime.ReadMemStats(&after)
				st := c.Stats()
				if st.Groups != keys {
					b.Fatalf("%d groups held, want %d", st.Groups, keys)
				}
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / keys
				b.ReportMetric(float64(st.Bytes)/keys, "estimated-bytes/key")
				runtime.KeepAlive(c)
			}
			b.ReportMetric(perKey, "bytes/key")
			b.ReportMetric(perKey*keys/(1<<20), "MiB/1M-keys")
		})
	}
}

// BenchmarkHuntRunCorrelations measures vigil hunt end to end (hunt.Run
// over 16 delivery files, with two workers) without correlations and with
// the pack's and 20 generated ones.
func BenchmarkHuntRunCorrelations(b *testing.B) {
	const files = 16
	var inputs []decode.Input
	for i := 0; i < files; i++ {
		data := CloudTrailFile(recordsPerFile, uint64(i+1))
		inputs = append(inputs, decode.Input{Name: "file", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }})
	}
	rd, err := decode.Builtin().NewReader(decode.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{0, 20} {
		b.Run(fmt.Sprintf("workers=2/correlations=%d", n), func(b *testing.B) {
			set := detect.Load(append(append(builtinRules(b), Rules(500, 7)...), Correlations(n, false)...), detect.Options{})
			if len(set.Failed) > 0 {
				b.Fatal(set.Failed)
			}
			if n == 0 {
				set.CorrelationSet = nil
			}
			cpu := selfCPU()
			perRecord(b, files*recordsPerFile, func() {
				st := hunt.Run(context.Background(), inputs, hunt.Options{Reader: rd, Engine: set.Engine, Correlations: set.CorrelationSet, Workers: 2},
					func(hunt.Match) {}, func(e hunt.InputError) { b.Error(e.Err) })
				if st.Events != files*recordsPerFile {
					b.Fatalf("hunted %d events", st.Events)
				}
			})
			if used := selfCPU() - cpu; used > 0 {
				b.ReportMetric(float64(used.Nanoseconds())/float64(b.N*files*recordsPerFile), "cpu-ns/record")
			}
		})
	}
}

// observingSink keeps the observations of the correlations' base
// matches, each input's in a run of its own, as hunt.Run's emitter
// receives them.
type observingSink struct {
	set      *detect.Set
	scratch  *detect.Scratch
	observer *detect.Observer
	obs      []*detect.Observation
}

func (s *observingSink) Event(e *event.Event) {
	s.set.Engine.Match(e, s.scratch, func(r *detect.Rule) {
		if o := s.observer.Observe(r, e, s.scratch); o != nil {
			s.obs = append(s.obs, o)
		}
	})
}
func (s *observingSink) Fail(err *source.RecordError) { panic(err) }
func (s *observingSink) Note(string)                  {}

// BenchmarkCorrelatorFlush measures the final flush of a hunt's correlator
// alone: the observations of the 16 files of
// BenchmarkHuntStatefulThroughput under the built-in pack, 500 rules and
// the 20 generated correlations are added input by input, each input
// ending with EndRun, as hunt.Run adds them; Flush is timed ("flush-ms"),
// on one goroutine with -cpu 1 and in parallel partitions with more.
func BenchmarkCorrelatorFlush(b *testing.B) {
	rd, err := decode.Builtin().NewReader(decode.Options{})
	if err != nil {
		b.Fatal(err)
	}
	set := detect.Load(append(append(builtinRules(b), Rules(500, 7)...), Correlations(20, false)...), detect.Options{})
	if len(set.Failed) > 0 {
		b.Fatal(set.Failed)
	}
	s := &observingSink{set: set, scratch: set.Engine.NewScratch(), observer: set.CorrelationSet.NewObserver()}
	var ends []int
	for i := 0; i < throughputFiles; i++ {
		if err := rd.Read(bytes.NewReader(CloudTrailFile(recordsPerFile, uint64(i+1))), s, nil); err != nil {
			b.Fatal(err)
		}
		ends = append(ends, len(s.obs))
	}
	var took time.Duration
	matches := 0
	for b.Loop() {
		c := detect.NewCorrelator(set.CorrelationSet, detect.CorrelatorOptions{Lateness: detect.Unbounded})
		start := 0
		for _, end := range ends {
			for _, o := range s.obs[start:end] {
				c.Add(o, nil)
			}
			c.EndRun()
			start = end
		}
		t0 := time.Now()
		c.Flush(func(*detect.CorrelationMatch) { matches++ })
		took += time.Since(t0)
	}
	b.ReportMetric(float64(took.Microseconds())/1000/float64(b.N), "flush-ms")
	b.ReportMetric(float64(len(s.obs)), "observations")
	b.ReportMetric(float64(matches)/float64(b.N), "matches")
}
