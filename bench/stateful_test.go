package bench

import (
	"bytes"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/geoip"
	"github.com/vigil-sec/vigil/internal/geoip/geoiptest"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/rules/baselines"
)

// statefulSink evaluates every decoded event as vigil hunt does with
// stateful detection: the single-event rules, the correlator fed with the
// base matches, and the baseline evaluator fed with every event, in file
// order. shift moves event time on, so that one baseline evaluator sees a
// continuous stream across the benchmark's iterations.
type statefulSink struct {
	set      *detect.Set
	scratch  *detect.Scratch
	observer *detect.Observer
	corr     *detect.Correlator
	base     *baseline.Evaluator
	shift    time.Duration
	emit     func(*detect.CorrelationMatch)
	emitB    func(baseline.Match)
	events   int
	matches  int
}

func (s *statefulSink) Event(e *event.Event) {
	s.events++
	e.Time = e.Time.Add(s.shift)
	cs := s.set.CorrelationSet
	s.set.Engine.Match(e, s.scratch, func(r *detect.Rule) {
		if cs.Emits(r) {
			s.matches++
		}
		if o := s.observer.Observe(r, e, s.scratch); o != nil {
			s.corr.Add(o, s.emit)
		}
	})
	if s.base != nil {
		s.base.Observe(e, s.emitB)
	}
}
func (s *statefulSink) Fail(err *source.RecordError) { panic(err) }
func (s *statefulSink) Note(string)                  {}

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
	s := &statefulSink{set: set, scratch: set.Engine.NewScratch()}
	s.emit = func(*detect.CorrelationMatch) { s.matches++ }
	s.emitB = func(baseline.Match) { s.matches++ }
	if observe {
		ev, err := baseline.New(rules, baseline.Options{Geo: geo, HashSeed: 1})
		if err != nil {
			b.Fatal(err)
		}
		s.base = ev
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

// BenchmarkHuntStateful measures the figure on one core (run it
// with -cpu 1): the cost of 20 correlation rules and the built-in
// baselines on top of hunting the CloudTrail file of BenchmarkHunt with the
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
// machine, and reports stateful/stateless. The correlator is new for each
// file, as in one hunt; the baseline evaluator lives across files, whose
// event times move on by two minutes each (the file spans 74 seconds), so
// that its buckets close and its keys are known as in a long hunt.
func BenchmarkHuntStateful(b *testing.B) {
	data := CloudTrailFile(recordsPerFile, 1)
	rd, err := decode.Builtin().NewReader(decode.Options{Kind: "cloudtrail"})
	if err != nil {
		b.Fatal(err)
	}
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
	defer db.Close()
	geo := baseline.Geo{ASN: db.ASN, Country: db.Country}
	bset := baseline.Load(bfiles, geo)
	if len(bset.Failed) > 0 || len(bset.Inactive) > 0 {
		b.Fatal(bset.Failed, bset.Inactive)
	}
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
	b.Run("rules=builtin+500+20/ratio", func(b *testing.B) {
		plain := newStatefulHunt(b, rd, data, bset.Rules, geo, false, false)
		full := newStatefulHunt(b, rd, data, bset.Rules, geo, true, true)
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
	})
}
