package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// BenchmarkObserve measures making one observation of a matched event.
func BenchmarkObserve(b *testing.B) {
	set := loadSet(b, baseRules, `title: Burst
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 5m, condition: {gte: 1000}}`)
	var d jsondoc.Doc
	if err := d.Parse([]byte(`{"eventName":"A","userIdentity":{"arn":"arn:aws:iam::111122223333:user/alice"}}`)); err != nil {
		b.Fatal(err)
	}
	ev := &event.Event{Source: event.SourceCloudTrail, Action: "A", Raw: d.Root(), Time: t0, ID: "5a0f3c8e-1d2b-4e6f-9a7c-3b5d7e9f1a01"}
	s := set.Engine.NewScratch()
	ob := set.CorrelationSet.NewObserver()
	var rule *Rule
	set.Engine.Match(ev, s, func(r *Rule) { rule = r })
	b.ReportAllocs()
	for b.Loop() {
		set.Engine.Match(ev, s, func(*Rule) {})
		if ob.Observe(rule, ev, s) == nil {
			b.Fatal("no observation")
		}
	}
}

// BenchmarkCorrelatorAdd measures processing observations in time order,
// as vigil serve does (bounded lateness) and as vigil hunt does (sorted
// at the end), over 1,000 groups.
func BenchmarkCorrelatorAdd(b *testing.B) {
	set := loadSet(b, baseRules, `title: Burst
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 5m, condition: {gte: 1000}}`)
	const n = 10_000
	var obs []*Observation
	s := set.Engine.NewScratch()
	ob := set.CorrelationSet.NewObserver()
	for i := 0; i < n; i++ {
		var d jsondoc.Doc
		if err := d.Parse([]byte(fmt.Sprintf(`{"eventName":"A","userIdentity":{"arn":"arn:aws:iam::111122223333:user/u%d"}}`, i%1000))); err != nil {
			b.Fatal(err)
		}
		ev := &event.Event{Source: event.SourceCloudTrail, Action: "A", Raw: d.Root(), Time: t0.Add(time.Duration(i) * 37 * time.Millisecond),
			ID: fmt.Sprintf("%08x-7e2a-4f0b-8c3d-%012x", i, i)}
		set.Engine.Match(ev, s, func(r *Rule) { obs = append(obs, ob.Observe(r, ev, s)) })
	}
	for _, lateness := range []time.Duration{time.Minute, Unbounded} {
		name := "lateness=1m"
		if lateness == Unbounded {
			name = "lateness=unbounded"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{Lateness: lateness})
				for _, o := range obs {
					c.Add(o, nil)
				}
				c.Flush(nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/observation")
		})
	}
}
