package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/geoip"
	"github.com/vigil-sec/vigil/internal/geoip/geoiptest"
	"github.com/vigil-sec/vigil/internal/hunt"
	"github.com/vigil-sec/vigil/rules/baselines"
)

// statefulSink evaluates every decoded event as vigil hunt does with
// stateful detection: the single-event rules, the correlator fed with the
// base matches, and the baseline evaluator fed with every event, in file
// order. shift moves event time on, so that one baseline evaluator sees a
// continuous stream across the benchmark's iterations.
type statefulSink struct {
	correlateSink
	base  *baseline.Evaluator
	ext   *baseline.Extractor
	spare *baseline.Batch
	shift time.Duration
	emitB func(baseline.Match)
}

func (s *statefulSink) Event(e *event.Event) {
	e.Time = e.Time.Add(s.shift)
	s.correlateSink.Event(e)
	if s.ext != nil {
		s.ext.Extract(e)
		if s.ext.Len() == hunt.BaselineBatch {
			s.applyBaselines()
		}
	}
}

// applyBaselines counts the events read for the baselines, as hunt.Run
// does in batches of hunt.BaselineBatch.
func (s *statefulSink) applyBaselines() {
	b := s.ext.Take(s.spare)
	s.base.Apply(b, s.emitB)
	s.spare = b
}

// statefulHunt is one configuration of BenchmarkHuntStateful: the rule
// set, and whether correlations and baselines are evaluated.
type statefulHunt struct {
	rd   *decode.Reader
	data []byte
	set  *detect.Set
	sink *statefulSink
	iter int
}

// newStatefulHunt loads the built-in pack, 500 generated rules and 20
// generated correlations with their base rules; without correlate, the
// correlations are not evaluated (their base rules and the pack's building
// blocks raise their matches as plain rules); with observe, a baseline
// evaluator of rules runs too.
func newStatefulHunt(b *testing.B, rd *decode.Reader, data []byte, rules []*baseline.Rule, geo baseline.Geo, correlate, observe bool) *statefulHunt {
	b.Helper()
	files := append(append(builtinRules(b), Rules(500, 7)...), Correlations(20, false)...)
	set := detect.Load(files, detect.Options{})
	if len(set.Failed) > 0 {
		b.Fatal(set.Failed)
	}
	if len(set.Correlations) < 20 {
		b.Fatalf("%d correlations loaded", len(set.Correlations))
	}
	s := &statefulSink{correlateSink: correlateSink{set: set, scratch: set.Engine.NewScratch()}}
	s.emit = func(*detect.CorrelationMatch) { s.matches++ }
	s.emitB = func(baseline.Match) { s.matches++ }
	if observe {
		ev, err := baseline.New(rules, baseline.Options{Geo: geo, HashSeed: 1})
		if err != nil {
			b.Fatal(err)
		}
		s.base, s.ext = ev, ev.NewExtractor()
	}
	if !correlate {
		set.CorrelationSet = nil
	}
	s.observer = set.CorrelationSet.NewObserver()
	return &statefulHunt{rd: rd, data: data, set: set, sink: s}
}

// run hunts the file once, two minutes of event time after the previous
// run.
func (h *statefulHunt) run(b *testing.B) {
	s := h.sink
	s.shift = time.Duration(h.iter) * 2 * time.Minute
	h.iter++
	s.corr = detect.NewCorrelator(h.set.CorrelationSet, detect.CorrelatorOptions{Lateness: detect.Unbounded})
	if err := h.rd.Read(bytes.NewReader(h.data), s, nil); err != nil {
		b.Fatal(err)
	}
	if s.ext != nil && s.ext.Len() > 0 {
		s.applyBaselines()
	}
	s.corr.Flush(s.emit)
}

func (h *statefulHunt) check(b *testing.B, files int) {
	b.Helper()
	if h.sink.events != files*recordsPerFile {
		b.Fatalf("decoded %d events, want %d", h.sink.events, files*recordsPerFile)
	}
	if h.sink.base != nil {
		if st := h.sink.base.Stats(); st.Late != 0 || st.BadTime != 0 {
			b.Errorf("baseline evaluator dropped events of an ordered stream: %+v", st)
		}
	}
}

// builtinBaselines loads every built-in baseline rule, active with a
// MaxMind-format database of the addresses of CloudTrailFile, closed when
// the benchmark ends.
func builtinBaselines(b *testing.B) (*baseline.Set, baseline.Geo) {
	b.Helper()
	bfiles, err := baseline.ReadFS(baselines.FS, ".")
	if err != nil {
		b.Fatal(err)
	}
	db, err := geoip.OpenBytes(geoiptest.Bytes(b, "GeoLite2-Bench", []geoiptest.Network{
		{CIDR: "198.51.100.0/24", ASN: 64500, Country: "US"},
		{CIDR: "203.0.113.0/24", ASN: 64511, Country: "NL"},
	}), "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	geo := baseline.Geo{ASN: db.ASN, Country: db.Country}
	bset := baseline.Load(bfiles, geo)
	if len(bset.Failed) > 0 || len(bset.Inactive) > 0 {
		b.Fatal(bset.Failed, bset.Inactive)
	}
	return bset, geo
}

// BenchmarkHuntStateful measures the CPU cost of stateful detection
// itself, on one core (run it with -cpu 1), without what hunt.Run adds
// around it (see BenchmarkHuntStatefulThroughput): the cost of 20
// correlation rules and the built-in baselines on top of hunting the CloudTrail file of BenchmarkHunt with the
// built-in pack and 500 rules, as cpu-ns/record (process CPU time, garbage
// collection included, steadier than elapsed time).
//
// "stateless" loads the same rule files as the others but evaluates no
// correlation (every base rule, the pack's building blocks and the 10
// generated ones, raises its matches as a plain rule) and no baseline, so
// that only the stateful work differs; "stateful" evaluates the pack's
// correlations, the 20 generated ones and every built-in baseline (GeoIP
// on a MaxMind-format database included); "correlations" and "baselines"
// each half of it. "ratio" hunts the file the stateless way and the
// stateful way in turn, so that both see the same load on a shared
// machine, and reports stateful/stateless; "ratio-correlations" and
// "ratio-baselines" do the same for each half. The correlator is new for
// each file, as in one hunt; the baseline evaluator lives across files, whose
// event times move on by two minutes each (the file spans 74 seconds), so
// that its buckets close and its keys are known as in a long hunt.
func BenchmarkHuntStateful(b *testing.B) {
	data := CloudTrailFile(recordsPerFile, 1)
	rd, err := decode.Builtin().NewReader(decode.Options{Kind: "cloudtrail"})
	if err != nil {
		b.Fatal(err)
	}
	bset, geo := builtinBaselines(b)
	for _, v := range []struct {
		name               string
		correlate, observe bool
	}{{"stateless", false, false}, {"correlations", true, false}, {"baselines", false, true}, {"stateful", true, true}} {
		b.Run("rules=builtin+500+20/"+v.name, func(b *testing.B) {
			h := newStatefulHunt(b, rd, data, bset.Rules, geo, v.correlate, v.observe)
			cpu := selfCPU()
			perRecord(b, recordsPerFile, func() { h.run(b) })
			if used := selfCPU() - cpu; used > 0 {
				b.ReportMetric(float64(used.Nanoseconds())/float64(b.N*recordsPerFile), "cpu-ns/record")
			}
			h.check(b, b.N)
			b.ReportMetric(float64(h.sink.matches)/float64(b.N), "results/file")
		})
	}
	for _, v := range []struct {
		name               string
		correlate, observe bool
	}{{"ratio-correlations", true, false}, {"ratio-baselines", false, true}, {"ratio", true, true}} {
		b.Run("rules=builtin+500+20/"+v.name, func(b *testing.B) {
			ratio(b, newStatefulHunt(b, rd, data, bset.Rules, geo, false, false), newStatefulHunt(b, rd, data, bset.Rules, geo, v.correlate, v.observe))
		})
	}
}

// ratio hunts the file the stateless way (plain) and a stateful way
// (full) in turn, and reports the CPU time of each and their ratio.
func ratio(b *testing.B, plain, full *statefulHunt) {
	var cpuPlain, cpuFull time.Duration
	for b.Loop() {
		t0 := selfCPU()
		plain.run(b)
		t1 := selfCPU()
		full.run(b)
		cpuPlain += t1 - t0
		cpuFull += selfCPU() - t1
	}
	plain.check(b, b.N)
	full.check(b, b.N)
	if cpuPlain > 0 {
		n := float64(b.N * recordsPerFile)
		b.ReportMetric(float64(cpuPlain.Nanoseconds())/n, "stateless-cpu-ns/record")
		b.ReportMetric(float64(cpuFull.Nanoseconds())/n, "stateful-cpu-ns/record")
		b.ReportMetric(float64(cpuFull)/float64(cpuPlain), "ratio")
	}
}

// BenchmarkHuntStatefulThroughput measures the figure as vigil
// hunt delivers it: the records per second of hunt.Run over 16 CloudTrail
// delivery files (32,000 records, the same 74 seconds of event time, as
// the files of several accounts and regions are), with one worker per CPU
// (run it with -cpu 2 and -cpu 1), before and after adding 20 correlation
// rules and the built-in baselines. "Before" is hunting with the built-in
// pack and 500 generated rules as vigil hunt does by default, the pack's
// own correlations included; "after" adds the 20 generated correlations
// (with their base rules) and every built-in baseline, with GeoIP on a
// MaxMind-format database and a new evaluator per hunt. Each iteration
// hunts both ways in turn, so that both see the same load on a shared
// machine. Matches are counted, not written. It reports both throughputs,
// "cost-%", the share of the throughput before that the additions take
// away, and "median-pair-cost-%", the median of that share over the
// iterations' pairs of hunts, which a few slow moments of a shared machine
// move less.
func BenchmarkHuntStatefulThroughput(b *testing.B) { throughput(b, newThroughputHunts(b, true)) }

// BenchmarkHuntStatefulThroughputNoGeoIP is BenchmarkHuntStatefulThroughput
// without a GeoIP database, as vigil runs by default: the asn and country
// baselines are inactive, 12 built-in baselines run.
func BenchmarkHuntStatefulThroughputNoGeoIP(b *testing.B) {
	throughput(b, newThroughputHunts(b, false))
}

func throughput(b *testing.B, h *throughputHunts) {
	var took [2]time.Duration
	var matches [2]int
	var costs []float64 // of each pair of hunts
	for b.Loop() {
		var pair [2]time.Duration
		for k, kind := range []huntKind{huntBefore, huntAfter} {
			d, n := h.run(b, kind)
			took[k] += d
			pair[k] = d
			matches[k] = n
		}
		costs = append(costs, 100*(1-pair[0].Seconds()/pair[1].Seconds()))
	}
	records := float64(b.N * throughputFiles * recordsPerFile)
	b.ReportMetric(records/took[0].Seconds(), "before-records/s")
	b.ReportMetric(records/took[1].Seconds(), "after-records/s")
	b.ReportMetric(100*(1-took[0].Seconds()/took[1].Seconds()), "cost-%")
	slices.Sort(costs)
	b.ReportMetric(costs[len(costs)/2], "median-pair-cost-%")
	b.ReportMetric(float64(matches[0])/throughputFiles, "before-results/file")
	b.ReportMetric(float64(matches[1])/throughputFiles, "after-results/file")
}

// BenchmarkHuntStatefulCount runs the hunts of
// BenchmarkHuntStatefulThroughput, "before" or "after", one an iteration,
// to count what they execute rather than time them: run under cachegrind
// with -benchtime 1x and 3x, the difference is what two hunts execute,
// free of the machine's load (see docs/benchmarks.md). "correlations" and
// "baselines" add one part of the additions each.
func BenchmarkHuntStatefulCount(b *testing.B) {
	h := newThroughputHunts(b, true)
	for _, kind := range []huntKind{huntBefore, huntCorrelations, huntBaselines, huntAfter} {
		b.Run(kind.String(), func(b *testing.B) {
			for b.Loop() {
				h.run(b, kind)
			}
		})
	}
}

// huntKind is what a throughput hunt evaluates.
type huntKind int

const (
	huntBefore       huntKind = iota // the built-in pack and 500 rules
	huntCorrelations                 // and the 20 correlations
	huntBaselines                    // and the built-in baselines, without the 20 correlations
	huntAfter                        // and both
)

func (k huntKind) String() string {
	return [...]string{"before", "correlations", "baselines", "after"}[k]
}

// throughputFiles is the number of CloudTrail files a throughput hunt
// reads.
const throughputFiles = 16

// throughputHunts are the hunts BenchmarkHuntStatefulThroughput compares,
// and those BenchmarkHuntStatefulCount counts: what each evaluates is a
// huntKind.
type throughputHunts struct {
	inputs        []decode.Input
	rd            *decode.Reader
	before, after *detect.Set
	baselines     *baseline.Set
	geo           baseline.Geo
}

// newThroughputHunts prepares the hunts, with the GeoIP baselines on a
// MaxMind-format database or without them.
func newThroughputHunts(b *testing.B, geoip bool) *throughputHunts {
	h := &throughputHunts{}
	for i := 0; i < throughputFiles; i++ {
		data := CloudTrailFile(recordsPerFile, uint64(i+1))
		h.inputs = append(h.inputs, decode.Input{Name: fmt.Sprintf("file-%02d", i), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }})
	}
	var err error
	if h.rd, err = decode.Builtin().NewReader(decode.Options{}); err != nil {
		b.Fatal(err)
	}
	load := func(files []detect.File) *detect.Set {
		set := detect.Load(files, detect.Options{})
		if len(set.Failed) > 0 {
			b.Fatal(set.Failed)
		}
		return set
	}
	h.before = load(append(builtinRules(b), Rules(500, 7)...))
	h.after = load(append(append(builtinRules(b), Rules(500, 7)...), Correlations(20, false)...))
	if n := len(h.after.Correlations) - len(h.before.Correlations); n != 20 {
		b.Fatalf("%d correlations added, want 20", n)
	}
	if geoip {
		h.baselines, h.geo = builtinBaselines(b)
		return h
	}
	files, err := baseline.ReadFS(baselines.FS, ".")
	if err != nil {
		b.Fatal(err)
	}
	h.baselines = baseline.Load(files, baseline.Geo{})
	if len(h.baselines.Rules) != 12 || len(h.baselines.Failed) > 0 {
		b.Fatalf("%d baselines without GeoIP, want 12 (failed: %v)", len(h.baselines.Rules), h.baselines.Failed)
	}
	return h
}

// run hunts the files once, the way kind says, and returns the time
// hunt.Run took (a new baseline evaluator, made first, is not timed) and
// the matches.
func (h *throughputHunts) run(b *testing.B, kind huntKind) (time.Duration, int) {
	opts := hunt.Options{Reader: h.rd, Engine: h.before.Engine, Correlations: h.before.CorrelationSet}
	if kind == huntCorrelations || kind == huntAfter {
		opts.Engine, opts.Correlations = h.after.Engine, h.after.CorrelationSet
	}
	if kind == huntBaselines || kind == huntAfter {
		ev, err := baseline.New(h.baselines.Rules, baseline.Options{Lateness: baseline.Unbounded, Geo: h.geo, HashSeed: 1})
		if err != nil {
			b.Fatal(err)
		}
		opts.Baselines = ev
	}
	matches := 0
	var st hunt.Stats
	start := time.Now()
	// The hunt's goroutines carry its kind as a profiler label, so that
	// one CPU profile of alternated hunts splits by kind
	// (go tool pprof -tagfocus=kind=after).
	pprof.Do(context.Background(), pprof.Labels("kind", kind.String()), func(ctx context.Context) {
		// Input errors reach report on the hunt's workers, where b.Fatal may not be called.
		st = hunt.Run(ctx, h.inputs, opts, func(hunt.Match) { matches++ }, func(e hunt.InputError) { b.Error(e.Err) })
	})
	elapsed := time.Since(start)
	if st.Events != throughputFiles*recordsPerFile {
		b.Fatalf("hunted %d events, want %d", st.Events, throughputFiles*recordsPerFile)
	}
	return elapsed, matches
}
