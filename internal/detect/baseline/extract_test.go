package baseline_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/detect/baseline/baselinetest"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// TestExtractConcurrently checks that events read by several Extractors
// on their own goroutines, in batches of various sizes that are applied
// in the order of the events, give the matches and counters of Observe,
// with the batches' memory reused; with Lateness Unbounded, where the
// events of one rule, key and bucket in a batch are merged, too.
func TestExtractConcurrently(t *testing.T) {
	for _, lateness := range []time.Duration{2 * time.Minute, baseline.Unbounded} {
		t.Run(fmt.Sprint("lateness=", lateness), func(t *testing.T) { testExtractConcurrently(t, lateness) })
	}
}

func testExtractConcurrently(t *testing.T, lateness time.Duration) {
	rules, geo := packRules(t)
	evs := traffic(t)
	evs = append(evs, &event.Event{Source: event.SourceCloudTrail, Principal: "no-time", ID: "x"}) // BadTime
	opts := baseline.Options{Lateness: lateness, Geo: geo, HashSeed: 7}
	ref := mustNew(t, rules, opts)
	want := runAll(ref, evs)
	if len(want) < 5 {
		t.Fatalf("the reference run has %d matches; the traffic should make more", len(want))
	}
	for _, size := range []int{1, 97, 4096} {
		e := mustNew(t, rules, opts)
		const workers = 3
		// Chunk i of the events goes to extractor i%workers.
		var chunks [][]*event.Event
		for i := 0; i < len(evs); i += size {
			chunks = append(chunks, evs[i:min(i+size, len(evs))])
		}
		batches := make([]chan *baseline.Batch, len(chunks))
		for i := range batches {
			batches[i] = make(chan *baseline.Batch, 1)
		}
		spare := make(chan *baseline.Batch, len(chunks))
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x := e.NewExtractor()
				for i := w; i < len(chunks); i += workers {
					for _, ev := range chunks[i] {
						x.Extract(ev)
					}
					if x.Len() != len(chunks[i]) {
						t.Errorf("chunk %d: %d events in the batch, want %d", i, x.Len(), len(chunks[i]))
					}
					var reuse *baseline.Batch
					select {
					case reuse = <-spare:
					default:
					}
					batches[i] <- x.Take(reuse)
				}
			}()
		}
		var got []baseline.Match
		for _, ch := range batches {
			b := <-ch
			e.Apply(b, collect(&got))
			spare <- b
		}
		wg.Wait()
		e.Flush(collect(&got))
		if diff := gocmp.Diff(summarize(want), summarize(got)); diff != "" {
			t.Errorf("batches of %d: matches differ from Observe (-want +got):\n%s", size, diff)
		}
		w, g := ref.Stats(), e.Stats()
		if lateness == baseline.Unbounded {
			// Merged events fill the arenas in another order, so their
			// capacities may differ.
			w.Bytes, g.Bytes = 0, 0
		}
		if w != g {
			t.Errorf("batches of %d: stats %+v, want %+v", size, g, w)
		}
	}
}

// TestExtractorAfterRestore checks that a batch extracted with the hash
// seed an evaluator had before a checkpoint brought another is refused.
func TestExtractorAfterRestore(t *testing.T) {
	rules, geo := packRules(t)
	src := mustNew(t, rules, baseline.Options{Geo: geo, HashSeed: 1})
	var buf bytes.Buffer
	if err := src.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	e := mustNew(t, rules, baseline.Options{Geo: geo, HashSeed: 2})
	x := e.NewExtractor()
	if err := e.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	x.Extract(&event.Event{Time: t0, Source: event.SourceCloudTrail, Principal: "p", Action: "a", ID: "1"})
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "make extractors after restoring") {
			t.Errorf("Apply of a stale batch: recovered %q, want a panic about the seed", msg)
		}
	}()
	e.Apply(x.Take(nil), nil)
}

// TestHuntKeepsOneBucketPerCombination checks that with Lateness
// Unbounded a first_seen rule keeps one open bucket per new combination,
// not one per combination and minute, and still finds what an evaluator
// that closes buckets as it goes finds, with the same combinations
// remembered.
func TestHuntKeepsOneBucketPerCombination(t *testing.T) {
	rules := mustRules(t, "id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\nlearning: 0s\n")
	var evs []*event.Event
	for m := 0; m < 100; m++ {
		evs = append(evs, &event.Event{Time: t0.Add(time.Duration(m) * time.Minute), Source: event.SourceCloudTrail, Principal: "p", Action: "a", ID: fmt.Sprint("a", m)})
		if m >= 50 {
			evs = append(evs, &event.Event{Time: t0.Add(time.Duration(m)*time.Minute + time.Second), Source: event.SourceCloudTrail, Principal: "p", Action: "b", ID: fmt.Sprint("b", m)})
		}
	}
	hunt := mustNew(t, rules, baseline.Options{Lateness: baseline.Unbounded})
	var got []baseline.Match
	for _, ev := range evs {
		hunt.Observe(ev, collect(&got))
	}
	if st := hunt.Stats(); st.Pending != 2 {
		t.Errorf("open buckets before the end: %d, want 2 (one per combination)", st.Pending)
	}
	hunt.Flush(collect(&got))
	want := runAll(mustNew(t, rules, baseline.Options{Lateness: time.Minute}), evs)
	if diff := gocmp.Diff(summarize(want), summarize(got)); diff != "" {
		t.Errorf("matches (-closing as it goes +hunt):\n%s", diff)
	}
	if len(got) != 2 {
		t.Errorf("%d matches, want the two combinations", len(got))
	}
	// Both remember the two combinations: they do not fire again.
	var again []baseline.Match
	late := &event.Event{Time: t0.Add(200 * time.Minute), Source: event.SourceCloudTrail, Principal: "p", Action: "a", ID: "again"}
	hunt.Observe(late, collect(&again))
	hunt.Flush(collect(&again))
	if len(again) != 0 || hunt.Stats().Combinations != 2 {
		t.Errorf("after the end: %d more matches, stats %+v", len(again), hunt.Stats())
	}
}

// TestMergedEventIDs checks that a batch that merges many events of one
// combination keeps the event IDs a bucket would keep event by event: the
// earliest by time, then ID, whatever their order in the batch, ties of
// time and repeated events included; and that every merged event is
// counted.
func TestMergedEventIDs(t *testing.T) {
	rules := mustRules(t, "id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\nlearning: 0s\n")
	var evs []*event.Event
	add := func(sec int, id string) {
		evs = append(evs, &event.Event{Time: t0.Add(time.Duration(sec) * time.Second), Source: event.SourceCloudTrail, Principal: "p", Action: "a", ID: id})
	}
	for i := 0; i < 12; i++ { // one event repeated, as a re-delivery does
		add(3, "dup")
	}
	for i := 0; i < 12; i++ { // one time, IDs rising
		add(5, fmt.Sprintf("z-%02d", i))
	}
	for i := 0; i < 12; i++ { // in order
		add(6+i, fmt.Sprintf("in-%02d", i))
	}
	for i := 30; i > 0; i-- { // the time of the first, IDs falling and lower
		add(5, fmt.Sprintf("a-tie-%02d", i))
	}
	for i := 0; i < 5; i++ { // earlier than all
		add(1, fmt.Sprintf("early-%d", i))
	}
	for i := 0; i < 20; i++ { // later than all
		add(59, fmt.Sprintf("late-%d", i))
	}
	want := runAll(mustNew(t, rules, baseline.Options{Lateness: time.Minute}), evs)
	if len(want) != 1 || want[0].Events != int64(len(evs)) || len(want[0].EventIDs) != baseline.MaxEventIDs {
		t.Fatalf("reference: %+v", want)
	}
	e := mustNew(t, rules, baseline.Options{Lateness: baseline.Unbounded})
	x := e.NewExtractor()
	for _, ev := range evs {
		x.Extract(ev)
	}
	var got []baseline.Match
	e.Apply(x.Take(nil), collect(&got))
	e.Flush(collect(&got))
	if diff := gocmp.Diff(summarize(want), summarize(got)); diff != "" {
		t.Errorf("one merged batch (-event by event +merged):\n%s", diff)
	}
}

// TestEventMemoryReused checks that the evaluator keeps nothing of an
// event's memory, through Observe and through an Extractor, whose batch
// is applied long after its events were read: decoders reuse it for the
// next event, which is simulated here by writing every event's strings
// into one buffer.
func TestEventMemoryReused(t *testing.T) {
	rules, geo := packRules(t)
	evs := traffic(t)
	for _, lateness := range []time.Duration{2 * time.Minute, baseline.Unbounded} {
		opts := baseline.Options{Lateness: lateness, Geo: geo, HashSeed: 3}
		want := summarize(runAll(mustNew(t, rules, opts), evs))
		if len(want) == 0 {
			t.Fatal("the reference run has no match")
		}
		for _, extract := range []bool{false, true} {
			e := mustNew(t, rules, opts)
			x := e.NewExtractor()
			var got []baseline.Match
			buf := make([]byte, 0, 4096)
			alias := func(s string) string { // s in the shared buffer
				if s == "" {
					return ""
				}
				start := len(buf)
				buf = append(buf, s...)
				return unsafe.String(&buf[start], len(s))
			}
			for i, ev := range evs {
				buf = buf[:0]
				c := *ev
				c.Source, c.ID, c.Principal, c.PrincipalType = alias(ev.Source), alias(ev.ID), alias(ev.Principal), alias(ev.PrincipalType)
				c.Account, c.Region, c.Action, c.SourceIP, c.UserAgent, c.Function = alias(ev.Account), alias(ev.Region), alias(ev.Action), alias(ev.SourceIP), alias(ev.UserAgent), alias(ev.Function)
				c.Cloud, c.Service, c.ErrorCode = alias(ev.Cloud), alias(ev.Service), alias(ev.ErrorCode)
				if !extract {
					e.Observe(&c, collect(&got))
					continue
				}
				x.Extract(&c)
				if (i+1)%1000 == 0 {
					e.Apply(x.Take(nil), collect(&got))
				}
			}
			if extract {
				e.Apply(x.Take(nil), collect(&got))
			}
			e.Flush(collect(&got))
			if diff := gocmp.Diff(want, summarize(got)); diff != "" {
				t.Errorf("lateness %s, extract %v: matches with the event memory reused differ (-own memory +reused):\n%s", lateness, extract, diff)
			}
		}
	}
}

// TestRawRecordReused checks that an Extractor, whose batch is applied
// after many events were read, finds what Observe finds for fields of the
// raw record, raw fields in a key and in an exception, and for the role,
// while the decoder reuses the event's strings and the parsed record. The
// role is the one in the session's ARN, for the records that name their
// issuer (with the role's path) and for those that do not.
func TestRawRecordReused(t *testing.T) {
	rules := mustRules(t, `id: role-ua
title: Role and client
kind: first_seen
events: [{source: aws.cloudtrail, raw.kind: a}]
key: [role]
new: [user_agent]
learning: 0s
---
id: team-action
title: Team and action
kind: first_seen
events: [{source: aws.cloudtrail}]
except: [{raw.skip: "yes"}]
key: [raw.team]
new: [action]
learning: 0s
`)
	const (
		session = "arn:aws:sts::111122223333:assumed-role/sso-admin/alice"
		issuer  = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/sso-admin"
		fromARN = "arn:aws:iam::111122223333:role/sso-admin"
	)
	withIssuer := `,"userIdentity":{"sessionContext":{"sessionIssuer":{"arn":"` + issuer + `"}}}`
	type rec struct {
		raw, ua, action string
	}
	var recs []rec
	for m := 0; m < 3; m++ {
		recs = append(recs,
			rec{`{"kind":"b","team":"red"}`, "ua-b", "ListRoles"},                                // no issuer, not role-ua's
			rec{`{"kind":"a","team":"blue"` + withIssuer + `}`, fmt.Sprint("ua-", m), "GetRole"}, // issuer
			rec{`{"kind":"a","team":"blue"}`, "ua-x", fmt.Sprint("Call", m)},                     // no issuer
			rec{`{"kind":"a","team":"green","skip":"yes"}`, "ua-y", "PutRole"},                   // team-action's exception
		)
	}
	mkEvent := func(i int, r rec, raw jsondoc.Value) *event.Event {
		return &event.Event{Time: t0.Add(time.Duration(i) * 20 * time.Second), Source: event.SourceCloudTrail,
			ID: fmt.Sprintf("e-%02d", i), Principal: session, PrincipalType: "AssumedRole",
			UserAgent: r.ua, Action: r.action, Raw: raw}
	}
	var own []*event.Event
	for i, r := range recs {
		own = append(own, mkEvent(i, r, baselinetest.Raw(r.raw)))
	}
	for _, lateness := range []time.Duration{time.Minute, baseline.Unbounded} {
		opts := baseline.Options{Lateness: lateness, HashSeed: 5}
		want := summarize(runAll(mustNew(t, rules, opts), own))
		roles := map[string]bool{}
		for _, s := range want {
			if s.Rule == "role-ua" {
				roles[strings.SplitN(strings.TrimPrefix(s.Key, "role="), ",", 2)[0]] = true
			}
		}
		if len(roles) != 1 || !roles[fromARN] {
			t.Fatalf("lateness %s: role-ua keys %v, want the role %s, with or without the issuer %s", lateness, roles, fromARN, issuer)
		}
		e := mustNew(t, rules, opts)
		x := e.NewExtractor()
		var d jsondoc.Doc
		var buf, strs []byte
		alias := func(s string) string {
			start := len(strs)
			strs = append(strs, s...)
			return unsafe.String(unsafe.SliceData(strs[start:]), len(s))
		}
		for i, r := range recs {
			buf = append(buf[:0], r.raw...) // the record's bytes and nodes are reused
			if err := d.Parse(buf); err != nil {
				t.Fatal(err)
			}
			strs = make([]byte, 0, 256)
			ev := mkEvent(i, r, d.Root())
			ev.ID, ev.Principal, ev.UserAgent, ev.Action = alias(ev.ID), alias(ev.Principal), alias(ev.UserAgent), alias(ev.Action)
			x.Extract(ev)
			clear(strs[:cap(strs)]) // the decoder writes the next event over this one
		}
		var got []baseline.Match
		e.Apply(x.Take(nil), collect(&got))
		e.Flush(collect(&got))
		if diff := gocmp.Diff(want, summarize(got)); diff != "" {
			t.Errorf("lateness %s: a batch read from reused memory differs from Observe (-observe +batch):\n%s", lateness, diff)
		}
	}
}
