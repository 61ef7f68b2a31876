package detect

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/detect/state"
	"github.com/vigil-sec/vigil/internal/event"
)

// propCorrelations exercise every type, early and end-of-window
// conditions, two group-by fields, aliases and a chain.
const propCorrelations = `title: P1 burst
correlation: {type: event_count, rules: [step_a, step_d], group-by: [userIdentity.arn], timespan: 2m, condition: {gte: 3}}
---
title: P2 distinct functions
correlation: {type: value_count, rules: [step_a, step_b], group-by: [userIdentity.arn], timespan: 5m, condition: {field: requestParameters.functionName, gte: 3}}
---
title: P3 all three
correlation: {type: temporal, rules: [step_a, step_b, step_c], group-by: [userIdentity.arn], timespan: 3m}
---
title: P4 a then b
name: p4
correlation: {type: temporal_ordered, rules: [step_a, step_b], group-by: [userIdentity.arn], timespan: 2m}
---
title: P5 volume
correlation: {type: value_sum, rules: [step_c], group-by: [userIdentity.arn], timespan: 2m, condition: {field: requestParameters.size, gt: 300}}
---
title: P6 small average
correlation: {type: value_avg, rules: [step_d], group-by: [userIdentity.arn], timespan: 2m, condition: {field: requestParameters.size, lt: 30}}
---
title: P7 rare function
correlation: {type: value_percentile, rules: [step_a, step_b, step_c, step_d], group-by: [userIdentity.arn], timespan: 5m, condition: {field: requestParameters.functionName, lte: 20}}
---
title: P8 repeated chains
correlation: {type: event_count, rules: [p4], group-by: [userIdentity.arn], timespan: 10m, condition: {gte: 2}}
---
title: P9 a few per function
correlation: {type: event_count, rules: [step_b, step_c], group-by: [userIdentity.arn, requestParameters.functionName], timespan: 90s, condition: {gte: 2, lte: 3}}
---
title: P10 handed over
correlation:
  type: temporal_ordered
  rules: [step_c, step_d]
  group-by: [actor]
  timespan: 3m
  aliases:
    actor: {step_c: userIdentity.arn, step_d: requestParameters.target}
`

// randomEvents returns n events over 30 minutes, in time order, with
// ties, for a few users and functions.
func randomEvents(r *rand.Rand, n int) []tev {
	users := []string{"u1", "u2", "u3", "u4"}
	fns := []string{"f1", "f2", "f3", "f4", "f5", "f6"}
	names := []string{"A", "B", "C", "D", "E"}
	evs := make([]tev, n)
	for i := range evs {
		evs[i] = tev{
			at:   r.IntN(1800),
			name: names[r.IntN(len(names))],
			user: users[r.IntN(len(users))],
			fn:   fns[r.IntN(len(fns))],
			size: float64(r.IntN(200)),
			dst:  users[r.IntN(len(users))],
			id:   fmt.Sprintf("%08x", r.Uint32()),
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	return evs
}

// huntOrder evaluates events as vigil hunt does: every observation, in any
// order, into a correlator that holds them all until Flush.
func huntOrder(t *testing.T, set *Set, evs []tev, r *rand.Rand) []string {
	obs, _ := observe(t, set, evs)
	r.Shuffle(len(obs), func(i, j int) { obs[i], obs[j] = obs[j], obs[i] })
	got, c := correlate(set, obs, CorrelatorOptions{Lateness: Unbounded})
	if st := c.Stats(); st.Late != 0 || st.Forced != 0 {
		t.Fatalf("hunt order: %+v", st)
	}
	return got
}

// serveOrder evaluates events as vigil serve does: they arrive out of
// order (each up to delay late), in batches of random sizes that several
// workers match concurrently; one goroutine feeds the correlator with the
// batches as the workers finish them, and advances it now and then.
func serveOrder(t *testing.T, set *Set, evs []tev, r *rand.Rand, workers int, delay, lateness time.Duration) []string {
	type arrival struct {
		ev  *event.Event
		key time.Time
	}
	arr := make([]arrival, len(evs))
	for i, e := range evs {
		ev := e.event(t, i)
		arr[i] = arrival{ev, ev.Time.Add(time.Duration(r.Int64N(int64(delay) + 1)))}
	}
	sort.SliceStable(arr, func(i, j int) bool { return arr[i].key.Before(arr[j].key) })
	var batches [][]*event.Event
	for i := 0; i < len(arr); {
		n := 1 + r.IntN(12)
		var b []*event.Event
		for ; n > 0 && i < len(arr); n-- {
			b = append(b, arr[i].ev)
			i++
		}
		batches = append(batches, b)
	}
	// Workers take batches in order and finish them in any order, but a
	// batch is handed out only once the one workers batches before it was
	// fed: the disorder stays within a few batches, as the bus's
	// acknowledgement window bounds it in vigil serve.
	type job struct {
		n  int
		ev []*event.Event
	}
	type result struct {
		n   int
		obs []*Observation
	}
	work := make(chan job)
	done := make(chan result)
	fed := make([]chan struct{}, len(batches))
	for i := range fed {
		fed[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := set.Engine.NewScratch()
			ob := set.CorrelationSet.NewObserver()
			for b := range work {
				var out []*Observation
				for _, ev := range b.ev {
					set.Engine.Match(ev, s, func(r *Rule) {
						if o := ob.Observe(r, ev, s); o != nil {
							out = append(out, o)
						}
					})
				}
				done <- result{b.n, out}
			}
		}()
	}
	go func() {
		for i, b := range batches {
			if i >= workers {
				<-fed[i-workers]
			}
			work <- job{i, b}
		}
		close(work)
		wg.Wait()
		close(done)
	}()
	c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{Lateness: lateness})
	var got []string
	emit := func(m *CorrelationMatch) { got = append(got, format(m)) }
	var latest time.Time
	for res := range done {
		for _, o := range res.obs {
			c.Add(o, emit)
			if o.Time().After(latest) {
				latest = o.Time()
			}
		}
		if r.IntN(4) == 0 {
			c.Advance(latest, emit) // what an idle tick does: no more than the input says
		}
		close(fed[res.n])
	}
	c.Flush(emit)
	if st := c.Stats(); st.Late != 0 {
		t.Fatalf("serve order dropped %d late observations: the test's delays exceed the lateness", st.Late)
	}
	return got
}

// TestHuntAndServeAgree checks, over random inputs, that the correlation
// matches do not depend on the arrival order within the lateness, the
// batching, or the number of workers.
func TestHuntAndServeAgree(t *testing.T) {
	set := loadSet(t, baseRules, propCorrelations)
	total := 0
	for seed := uint64(1); seed <= 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		evs := randomEvents(r, 150+r.IntN(300))
		want := huntOrder(t, set, evs, r)
		total += len(want)
		workers := 1 + r.IntN(4)
		got := serveOrder(t, set, evs, r, workers, time.Duration(r.IntN(90))*time.Second, 20*time.Minute)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("seed %d, %d workers: serve and hunt differ (-hunt +serve):\n%s", seed, workers, diff)
		}
	}
	if total < 200 {
		t.Errorf("only %d matches over all seeds: the inputs exercise too little", total)
	}
	// Every correlation fires somewhere.
	r := rand.New(rand.NewPCG(99, 7))
	seen := map[string]bool{}
	for i := 0; i < 10; i++ {
		for _, m := range huntOrder(t, set, randomEvents(r, 400), r) {
			seen[m[:3]] = true
		}
	}
	for _, c := range set.Correlations {
		if c.Emits() && !seen[c.Rule.Title[:3]] {
			t.Errorf("%s never fired", c.Rule.Title)
		}
	}
}

// TestCheckpointRestart interrupts the stream at random points: the state
// is saved, restored into a correlator of a freshly loaded rule set, and
// the rest of the stream gives the same matches as without interruption.
func TestCheckpointRestart(t *testing.T) {
	set := loadSet(t, baseRules, propCorrelations)
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		evs := randomEvents(r, 300)
		obs, _ := observe(t, set, evs)
		// Some disorder, within the lateness.
		for i := range obs {
			if j := i + r.IntN(5); j < len(obs) && obs[j].t-obs[i].t < int64(time.Minute) {
				obs[i], obs[j] = obs[j], obs[i]
			}
		}
		opts := CorrelatorOptions{Lateness: 2 * time.Minute}
		want, _ := correlate(set, obs, opts)

		cut := r.IntN(len(obs))
		c := NewCorrelator(set.CorrelationSet, opts)
		var got []string
		emit := func(m *CorrelationMatch) { got = append(got, format(m)) }
		for _, o := range obs[:cut] {
			c.Add(o, emit)
		}
		var buf bytes.Buffer
		if err := c.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		fresh := loadSet(t, baseRules, propCorrelations)
		freshObs, _ := observe(t, fresh, evs)
		byKey := map[obsKey]*Observation{}
		for _, o := range freshObs {
			byKey[o.key()] = o
		}
		c = NewCorrelator(fresh.CorrelationSet, opts)
		if err := c.Restore(&buf); err != nil {
			t.Fatalf("seed %d: restore: %v", seed, err)
		}
		for _, o := range obs[cut:] {
			c.Add(byKey[o.key()], emit)
		}
		c.Flush(emit)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("seed %d, cut at %d of %d: restarted run differs (-uninterrupted +restarted):\n%s", seed, cut, len(obs), diff)
		}
	}
}

func TestCheckpointFile(t *testing.T) {
	set := loadSet(t, baseRules, propCorrelations)
	r := rand.New(rand.NewPCG(5, 5))
	evs := randomEvents(r, 200)
	obs, _ := observe(t, set, evs)
	want, _ := correlate(set, obs, CorrelatorOptions{})

	path := filepath.Join(t.TempDir(), "correlations.state")
	c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{})
	var got []string
	emit := func(m *CorrelationMatch) { got = append(got, format(m)) }
	for _, o := range obs[:120] {
		c.Add(o, emit)
	}
	if err := c.Checkpoint(path); err != nil {
		t.Fatal(err)
	}
	c = NewCorrelator(set.CorrelationSet, CorrelatorOptions{})
	if err := c.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	if c.Stats().Entries+c.Stats().Pending == 0 {
		t.Fatal("the checkpoint restored no state")
	}
	for _, o := range obs[120:] {
		c.Add(o, emit)
	}
	c.Flush(emit)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restarted from a file (-want +got):\n%s", diff)
	}

	// A missing file is a fresh start; a corrupt one too, with an error
	// and a warning.
	if err := NewCorrelator(set.CorrelationSet, CorrelatorOptions{}).LoadCheckpoint(filepath.Join(t.TempDir(), "none")); err != nil {
		t.Errorf("missing checkpoint: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c = NewCorrelator(set.CorrelationSet, CorrelatorOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	c.Add(obs[0], nil)
	err = c.LoadCheckpoint(path)
	if err == nil || !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "start with empty windows") {
		t.Errorf("corrupt checkpoint: %v", err)
	}
	if st := c.Stats(); st.Pending != 0 || st.Groups != 0 {
		t.Errorf("state after a corrupt checkpoint: %+v", st)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), path) {
		t.Errorf("no warning logged: %q", logs.String())
	}
}

// TestRestoreAfterRuleChange restores a checkpoint into a rule set in which
// one correlation changed and one is gone: their state is dropped, the
// others' kept.
func TestRestoreAfterRuleChange(t *testing.T) {
	set := loadSet(t, baseRules, `title: Kept
id: 7b1d0c55-6b5f-4a53-8e8e-0d5b1e0a0001
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 3}}
---
title: Changed
id: 7b1d0c55-6b5f-4a53-8e8e-0d5b1e0a0002
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 3}}
---
title: Removed
id: 7b1d0c55-6b5f-4a53-8e8e-0d5b1e0a0003
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 3}}`)
	evs := []tev{{0, "A", "u1", "", 0, "", "e1"}, {10, "A", "u1", "", 0, "", "e2"}, {20, "A", "u1", "", 0, "", "e3"}}
	obs, _ := observe(t, set, evs)
	c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{Lateness: time.Nanosecond})
	for _, o := range obs[:2] {
		c.Add(o, nil)
	}
	c.Advance(t0.Add(15*time.Second), nil)
	next := loadSet(t, baseRules, `title: Kept
id: 7b1d0c55-6b5f-4a53-8e8e-0d5b1e0a0001
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 3}}
---
title: Changed
id: 7b1d0c55-6b5f-4a53-8e8e-0d5b1e0a0002
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 4}}`)
	nextObs, _ := observe(t, next, evs)
	c, err := c.WithRules(next.CorrelationSet)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	emit := func(m *CorrelationMatch) { got = append(got, format(m)) }
	c.Add(nextObs[2], emit)
	c.Flush(emit)
	want := []string{"Kept [userIdentity.arn=u1] at=20s value=3 count=3 events=e1,e2,e3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
}

func TestRestoreCorrupt(t *testing.T) {
	set := loadSet(t, baseRules, propCorrelations)
	r := rand.New(rand.NewPCG(3, 3))
	obs, _ := observe(t, set, randomEvents(r, 200))
	c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{})
	for _, o := range obs {
		c.Add(o, nil)
	}
	var buf bytes.Buffer
	if err := c.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)/2]},
		{"flipped byte", flip(good, len(good)/3)},
		{"wrong magic", append([]byte("NOTVIGIL"), good[8:]...)},
		{"newer version", append(append([]byte("VIGILCOR"), 9), good[9:]...)},
		{"trailing data", append(slices.Clone(good), 0)},
	} {
		c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{})
		c.Add(obs[0], nil)
		err := c.Restore(bytes.NewReader(tc.data))
		if err == nil {
			t.Errorf("%s: restored", tc.name)
			continue
		}
		if st := c.Stats(); st.Pending != 0 || st.Groups != 0 {
			t.Errorf("%s: state left after a failed restore: %+v", tc.name, st)
		}
	}
}

func flip(b []byte, i int) []byte {
	out := slices.Clone(b)
	out[i] ^= 0x5a
	return out
}

// TestParallelFlush checks that a Flush that processes independent
// correlations in parallel emits the matches, in the same order, and the
// counters of a Flush on one goroutine.
func TestParallelFlush(t *testing.T) {
	set := loadSet(t, baseRules, propCorrelations)
	defer func(min int, workers func() int) { parallelFlushMin, flushWorkers = min, workers }(parallelFlushMin, flushWorkers)
	total := 0
	for seed := uint64(1); seed <= 30; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		obs, _ := observe(t, set, randomEvents(r, 200+r.IntN(600)))
		parallelFlushMin = math.MaxInt
		want, one := correlate(set, obs, CorrelatorOptions{Lateness: Unbounded})
		for _, workers := range []int{2, 3, 8} {
			parallelFlushMin, flushWorkers = 1, func() int { return workers }
			c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{Lateness: Unbounded})
			c.pending = obsHeap(obs)
			if parts := len(c.partitions(workers)); parts < 2 {
				t.Fatalf("seed %d: %d partitions of the correlations; the test needs several", seed, parts)
			}
			got, many := correlate(set, obs, CorrelatorOptions{Lateness: Unbounded})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("seed %d, %d workers: matches differ (-one goroutine +parallel):\n%s", seed, workers, diff)
			}
			if a, b := one.Stats(), many.Stats(); a != b {
				t.Errorf("seed %d, %d workers: stats %+v, want %+v", seed, workers, b, a)
			}
		}
		total += len(want)
	}
	if total < 200 {
		t.Errorf("only %d matches over all seeds: the inputs exercise too little", total)
	}
}

// TestSortPending checks that the pending observations come out in
// (time, event, rule) order whatever their arrival: in order, as a few
// runs (the inputs of a hunt, merged), nearly in order (strays inserted),
// and shuffled (sorted); ties of time within and across runs included.
func TestSortPending(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	mk := func(n int) []*Observation {
		out := make([]*Observation, n)
		for i := range out {
			out[i] = &Observation{t: int64(r.IntN(n / 3)), ref: fmt.Sprintf("e%06d", r.IntN(1000000)), rule: int32(r.IntN(3))}
		}
		return out
	}
	cases := map[string]func() []*Observation{
		"ordered": func() []*Observation { p := mk(3000); slices.SortFunc(p, obsCompare); return p },
		"runs": func() []*Observation {
			var p []*Observation
			for i := 0; i < 16; i++ {
				run := mk(200 + r.IntN(400))
				// In time order, the observations of one time in any order.
				slices.SortFunc(run, func(a, b *Observation) int { return int(a.t - b.t) })
				p = append(p, run...)
			}
			return p
		},
		"strays": func() []*Observation {
			p := mk(3000)
			slices.SortFunc(p, obsCompare)
			for i := 0; i < 200; i++ {
				j := 1 + r.IntN(len(p)-1)
				p[j], p[j-1] = p[j-1], p[j]
			}
			return p
		},
		"shuffled": func() []*Observation { return mk(3000) },
	}
	for name, gen := range cases {
		for _, sealed := range []bool{false, true} {
			p := gen()
			want := slices.Clone(p)
			slices.SortStableFunc(want, obsCompare)
			c := &Correlator{opts: CorrelatorOptions{Lateness: Unbounded}}
			if sealed {
				// As a hunt adds them: an input at a time, each ordered as
				// its run ends.
				for len(p) > 0 {
					n := min(len(p), 1+r.IntN(700))
					c.pending = append(c.pending, p[:n]...)
					c.EndRun()
					p = p[n:]
				}
				name += ", ordered as they came"
			} else {
				c.pending = p
			}
			c.sortPending()
			if c.sealed != 0 || len(c.keys) != 0 || len(c.runs) != 0 {
				t.Errorf("%s: sort keys left after the sort: %d sealed, %d keys, %d runs", name, c.sealed, len(c.keys), len(c.runs))
			}
			if len(c.pending) != len(want) {
				t.Fatalf("%s: %d observations, want %d", name, len(c.pending), len(want))
			}
			for i := range want {
				if obsCompare(c.pending[i], want[i]) != 0 {
					t.Errorf("%s: position %d holds %+v, want %+v", name, i, *c.pending[i], *want[i])
					break
				}
			}
		}
	}
}
