package baseline_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/detect/baseline/baselinetest"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/geoip"
	"github.com/vigil-sec/vigil/internal/geoip/geoiptest"
)

// BenchmarkObserve measures Observe with every built-in baseline enabled,
// GeoIP lookups on a MaxMind-format database included, on the event mix
// of baselinetest.Mix: Lambda reports and log lines, CloudTrail calls,
// Azure and Google HTTP requests, for 200 functions. Time moves on through
// the loop, so buckets close and baselines learn as in production.
func BenchmarkObserve(b *testing.B) {
	path := geoiptest.Write(b, b.TempDir(), "GeoLite2-Bench", []geoiptest.Network{
		{CIDR: "198.51.100.0/24", ASN: 64500, Country: "US"},
		{CIDR: "203.0.113.0/24", ASN: 64511, Country: "NL"},
		{CIDR: "192.0.2.0/24", ASN: 64512, Country: "DE"},
	})
	db, err := geoip.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	geo := baseline.Geo{ASN: db.ASN, Country: db.Country}
	files, err := baseline.ReadFS(packFS(), ".")
	if err != nil {
		b.Fatal(err)
	}
	set := baseline.Load(files, geo)
	if len(set.Rules) < 14 {
		b.Fatalf("%d active rules", len(set.Rules))
	}
	const span = 2 * time.Hour
	mix := baselinetest.Mix(rand.New(rand.NewPCG(3, 4)), t0, span, 200_000, 200)
	var trail []*event.Event
	for _, ev := range mix {
		if ev.Source == event.SourceCloudTrail {
			trail = append(trail, ev)
		}
	}
	for _, in := range []struct {
		name string
		evs  []*event.Event
	}{{"mix", mix}, {"cloudtrail", trail}} {
		b.Run(in.name, func(b *testing.B) {
			evs := in.evs
			times := make([]time.Time, len(evs))
			for i, ev := range evs {
				times[i] = ev.Time
			}
			e := mustNew(b, set.Rules, baseline.Options{Geo: geo})
			matches := 0
			emit := func(baseline.Match) { matches++ }
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % len(evs)
				ev := evs[k]
				ev.Time = times[k].Add(time.Duration(i/len(evs)) * span)
				e.Observe(ev, emit)
			}
			b.StopTimer()
			for k, ev := range evs {
				ev.Time = times[k]
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			if st := e.Stats(); st.Late != 0 {
				b.Errorf("late events in an ordered stream: %+v", st)
			}
		})
	}
}

// BenchmarkState1M learns 1,000,000 distinct keys in one rate rule and,
// separately, 1,000,000 combinations in one first_seen rule, and reports
// the heap they hold (runtime.MemStats after a collection, before and
// after) per key and in total, with the evaluator's own estimate.
func BenchmarkState1M(b *testing.B) {
	const keys = 1_000_000
	rules := map[string]string{
		"rate": apiRule,
		"first_seen": "id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\n" +
			"key_learning: 1d\nmax_keys: 2000000\n",
	}
	for _, name := range []string{"rate", "first_seen"} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				heap, est := learnKeys(b, mustRules(b, rules[name]), keys)
				b.ReportMetric(float64(heap)/keys, "heap-bytes/key")
				b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(est)/keys, "est-bytes/key")
			}
		})
	}
}

// learnKeys feeds an evaluator of rules one event for each of n distinct
// principals (1,000 a minute), closes every bucket, and returns the heap
// the evaluator holds and its estimate.
func learnKeys(tb testing.TB, rules []*baseline.Rule, n int) (heap, estimate int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := mustNew(tb, rules, baseline.Options{MaxKeys: 2 * n})
	ev := &event.Event{Source: "aws.cloudtrail", Action: "GetObject", ID: "e"}
	var buf []byte
	for i := 0; i < n; i++ {
		buf = fmt.Appendf(buf[:0], "arn:aws:iam::123456789012:user/user-%07d", i)
		ev.Principal = string(buf)
		ev.Time = t0.Add(time.Duration(i/1000) * time.Minute)
		e.Observe(ev, nil)
	}
	e.Flush(nil)
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := e.Stats()
	if got := st.Keys + st.Combinations; got != n {
		tb.Fatalf("learned %d keys, want %d", got, n)
	}
	heap = int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(e)
	return heap, st.Bytes
}

// TestStateBound checks the documented bound on 100,000 keys, with the
// evaluator's estimate (deterministic) and the measured heap: under 200
// bytes a key, so that 1,000,000 keys stay under 200 MB.
func TestStateBound(t *testing.T) {
	if testing.Short() {
		t.Skip("learns 100,000 keys")
	}
	const n = 100_000
	for _, src := range []string{apiRule, "id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\nkey_learning: 1d\n"} {
		rules := mustRules(t, src)
		heap, est := learnKeys(t, rules, n)
		if est/n > 200 || heap/n > 200 {
			t.Errorf("%s: %d bytes a key estimated, %d measured; the bound is 200", rules[0].Kind, est/n, heap/n)
		}
		t.Logf("%s: %d bytes a key estimated, %d measured", rules[0].Kind, est/n, heap/n)
	}
}

// BenchmarkHuntPath evaluates the event mix of BenchmarkObserve as vigil
// hunt does: a new evaluator with Lateness Unbounded, an Extractor filling
// batches of 1,024 events, Apply, and Flush at the end, which closes every
// bucket. It reports the cost per event, the flush included. (Two hours
// of the mix are still in every baseline's learning period: nothing
// fires.)
func BenchmarkHuntPath(b *testing.B) {
	files, err := baseline.ReadFS(packFS(), ".")
	if err != nil {
		b.Fatal(err)
	}
	set := baseline.Load(files, baseline.Geo{})
	mix := baselinetest.Mix(rand.New(rand.NewPCG(3, 4)), t0, 2*time.Hour, 200_000, 200)
	for b.Loop() {
		e := mustNew(b, set.Rules, baseline.Options{Lateness: baseline.Unbounded, HashSeed: 1})
		x := e.NewExtractor()
		var spare *baseline.Batch
		for _, ev := range mix {
			x.Extract(ev)
			if x.Len() == 1024 {
				batch := x.Take(spare)
				e.Apply(batch, nil)
				spare = batch
			}
		}
		e.Apply(x.Take(spare), nil)
		e.Flush(nil)
		if st := e.Stats(); st.Late != 0 || st.Forced != 0 {
			b.Fatalf("stats %+v", st)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(mix)), "ns/event")
}
