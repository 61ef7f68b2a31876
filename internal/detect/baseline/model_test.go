package baseline

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// TestTableEviction checks that a full table evicts the least recently
// seen eighth, ties broken by hash, whatever the order keys came in.
func TestTableEviction(t *testing.T) {
	keys := make([]slot, 64)
	for i := range keys {
		keys[i] = slot{h: uint64(1000 + i*7919), seen: int32(i % 16)}
	}
	var survivors [][]uint64
	for seed := uint64(0); seed < 4; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		order := slices.Clone(keys)
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		tb := newTable(63)
		var evicted []uint64
		tb.onEvict = func(s *slot) { evicted = append(evicted, s.h) }
		for _, k := range order {
			tb.insert(k.h, k.seen, 0)
		}
		if tb.n != 57 || tb.evicted != 7 || len(evicted) != 7 {
			t.Fatalf("n %d, evicted %d (%d reported), want 57 and 7", tb.n, tb.evicted, len(evicted))
		}
		var left []uint64
		tb.each(func(s *slot) { left = append(left, s.h) })
		slices.Sort(left)
		survivors = append(survivors, left)
		for _, h := range evicted {
			if tb.find(h) != nil {
				t.Errorf("evicted key %d is still found", h)
			}
		}
		for _, h := range left {
			if tb.find(h) == nil {
				t.Errorf("key %d is lost", h)
			}
		}
	}
	for _, s := range survivors[1:] {
		if !slices.Equal(s, survivors[0]) {
			t.Fatal("eviction depends on insertion order")
		}
	}
}

// TestEmptyBucketsClosedForm checks that k empty buckets applied at once
// equal k empty buckets learned one by one, for the flat baseline and for
// a profile rolled across more than a week.
func TestEmptyBucketsClosedForm(t *testing.T) {
	r := &Rule{ID: "x", Kind: Rate, Bucket: time.Minute, Seasonality: SeasonalityWeek, Key: []string{"k"}}
	rs := &ruleState{r: r, bucketMin: 1}
	st := newRateState(rs, 16, 4)
	const start = 28_000_000 // minutes since the epoch, in 2023
	a, b := st.newRec(start), st.newRec(start)
	st.attachProfile(&st.recs[a], start)
	st.attachProfile(&st.recs[b], start)
	rng := rand.New(rand.NewPCG(5, 5))
	for m := int64(start); m < start+3000; m++ {
		x := float64(rng.IntN(20))
		for _, ri := range []int32{a, b} {
			st.catchUp(&st.recs[ri], m)
			st.learn(&st.recs[ri], m, x)
		}
	}
	// a learns 13 days of empty minutes one by one, b at once.
	gap := int64(13 * 24 * 60)
	end := int64(start + 3000 + gap)
	for m := int64(start + 3000); m < end; m++ {
		st.catchUp(&st.recs[a], m)
		st.learn(&st.recs[a], m, 0)
	}
	st.catchUp(&st.recs[a], end)
	st.catchUp(&st.recs[b], end)
	ra, rb := st.recs[a], st.recs[b]
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*max(1, math.Abs(x), math.Abs(y)) }
	if !near(ra.s1, rb.s1) || !near(ra.s2, rb.s2) || !near(ra.w, rb.w) {
		t.Errorf("flat: one by one %v %v %v, at once %v %v %v", ra.s1, ra.s2, ra.w, rb.s1, rb.s2, rb.w)
	}
	pa, pb := st.profs[ra.prof], st.profs[rb.prof]
	if pa.cur != pb.cur || pa.start != pb.start {
		t.Fatalf("profiles at hours %d and %d", pa.cur, pb.cur)
	}
	for s := 0; s < slotsPerWeek; s++ {
		if math.Abs(float64(pa.s1[s]-pb.s1[s])) > 1e-4*max(1, float64(pa.s1[s])) || math.Abs(float64(pa.s2[s]-pb.s2[s])) > 1e-3*max(1, float64(pa.s2[s])) {
			t.Errorf("slot %d: one by one %v %v, at once %v %v", s, pa.s1[s], pa.s2[s], pb.s1[s], pb.s2[s])
		}
	}
	// The minutes had 9.5 events on average. Thirteen days later the flat
	// mean (half-life a day) has all but forgotten them, while the
	// profile (half-life four weeks) still expects a share at that hour.
	base := st.baseline(&st.recs[b], end)
	if !base.seasonal || base.mean > 0.01 || base.expected < 1 || base.expected > 9.5/2 {
		t.Errorf("after 13 days without events: flat mean %v, expected %v (seasonal %v)", base.mean, base.expected, base.seasonal)
	}
}

// TestFolds checks the count of hours folded into each slot.
func TestFolds(t *testing.T) {
	p := profile{start: 1000, cur: 1000 + 168 + 5}
	total := int64(0)
	for s := 0; s < slotsPerWeek; s++ {
		total += p.folds(s)
	}
	if total != 173 || p.folds(slotOf(1000)) != 2 || p.folds(slotOf(1000+5)) != 1 || p.folds(slotOf(999)) != 1 {
		t.Errorf("folds: total %d, of the start slot %d", total, p.folds(slotOf(1000)))
	}
	if slotOf(hourOf(time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC).Unix()/60)) != 0 {
		t.Error("Monday 00:30 UTC is not slot 0")
	}
	if slotOf(hourOf(time.Date(2026, 3, 8, 23, 59, 0, 0, time.UTC).Unix()/60)) != 167 {
		t.Error("Sunday 23:59 UTC is not slot 167")
	}
}

func TestHash(t *testing.T) {
	seen := map[uint64]string{}
	for _, s := range []string{"", "a", "b", "ab", "ba", "abcdefgh", "abcdefghi", "abcdefgh\x00", "arn:aws:iam::1:role/x", "arn:aws:iam::1:role/y"} {
		h := newKeyHash(7).sum(s)
		if prev, dup := seen[h]; dup {
			t.Errorf("%q and %q share a hash", s, prev)
		}
		seen[h] = s
		if newKeyHash(7).sum(s) != h || newKeyHash(8).sum(s) == h {
			t.Errorf("%q: the hash is not a function of seed and value", s)
		}
	}
	// Every byte of every length counts, whatever its position among the
	// overlapping words that short strings are read as.
	base := []byte("arn:aws:sts::111122223333:assumed-role/orders-api-role/orders-api-0123456789")
	for n := 1; n <= len(base); n++ {
		h := newKeyHash(7).sum(string(base[:n]))
		for i := 0; i < n; i++ {
			b := append([]byte(nil), base[:n]...)
			b[i] ^= 0x20
			if newKeyHash(7).sum(string(b)) == h {
				t.Errorf("length %d: changing byte %d leaves the hash", n, i)
			}
		}
		if newKeyHash(7).sum(string(base[:n-1])+"\x00") == h && base[n-1] != 0 {
			t.Errorf("length %d: the last byte does not count", n)
		}
	}
	// A multiply is symmetric: a block whose two words trade places, each
	// changed by a constant anyone knows, must not give the same hash
	// whatever the seed.
	for _, seed := range []uint64{1, 7, 0x9e3779b97f4a7c15} {
		for _, n := range []int{16, 17, 32, 48, 64} {
			b := []byte(strings.Repeat("arn:aws:iam::111122223333:role/x", 3)[:n])
			h := newKeyHash(seed).sum(string(b))
			for _, c := range []uint64{0, 0xe7037ed1a0b428db ^ 0x8ebc6af09c88c6e3, 0xa0761d6478bd642f, 0x589965cc75374cc3} {
				w0, w1 := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
				s := append([]byte(nil), b...)
				binary.LittleEndian.PutUint64(s, w1^c)
				binary.LittleEndian.PutUint64(s[8:], w0^c)
				if string(s) != string(b) && newKeyHash(seed).sum(string(s)) == h {
					t.Errorf("seed %#x, %d bytes: swapping the first block's words (xor %#x) keeps the hash", seed, n, c)
				}
			}
		}
	}
	if combine(combine(tupleSeed, 1), 2) == combine(combine(tupleSeed, 2), 1) {
		t.Error("the hash of a list does not depend on the order")
	}
}

// TestTableRemove checks removal from the open-addressing table against a
// map, with keys made to collide in long runs that wrap around the end of
// the table.
func TestTableRemove(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tb := newTable(1 << 20)
	model := map[uint64]int32{}
	pool := make([]uint64, 300)
	for i := range pool {
		// Homes in the last and first 32 slots of a table of 512.
		pool[i] = uint64(i+1)<<16 | uint64(480+r.IntN(64))%512
	}
	for i := 0; i < 20000; i++ {
		h := pool[r.IntN(len(pool))]
		if r.IntN(3) == 0 {
			tb.remove(h)
			delete(model, h)
		} else if s := tb.find(h); s != nil {
			s.aux = int32(i)
			model[h] = int32(i)
		} else {
			tb.insert(h, 0, int32(i))
			model[h] = int32(i)
		}
		if i%500 == 0 || i == 19999 {
			if tb.n != len(model) {
				t.Fatalf("step %d: table holds %d keys, want %d", i, tb.n, len(model))
			}
			for _, h := range pool {
				s := tb.find(h)
				v, ok := model[h]
				if (s != nil) != ok || (ok && s.aux != v) {
					t.Fatalf("step %d: key %x: found %v, want %v (%d)", i, h, s != nil, ok, v)
				}
			}
		}
	}
}

// TestCache checks that the cache of derived values answers for each
// argument what compute gave for it, however the arguments share memo
// sets, computes each answer once while it is held, and starts over once
// it holds cacheSize answers.
func TestCache(t *testing.T) {
	var c cache[uint64]
	computed := map[uint64]int{}
	get := func(h uint64) uint64 {
		return c.get(h, func() uint64 { computed[h]++; return h * 3 })
	}
	// Four arguments in one set of two slots, then one in another set.
	set := uint64(5) << (64 - memoBits)
	args := []uint64{set | 2, set | 4, set | 8, set | 16, 9 << (64 - memoBits)}
	for round := 0; round < 3; round++ {
		for _, h := range args {
			if got := get(h); got != h*3 {
				t.Fatalf("round %d: get(%#x) = %#x, want %#x", round, h, got, h*3)
			}
		}
		// Hits of the second slot move it first.
		for _, h := range []uint64{args[3], args[2], args[3], args[2]} {
			if got := get(h); got != h*3 {
				t.Fatalf("round %d: get(%#x) = %#x after a swap", round, h, got)
			}
		}
	}
	for _, h := range args {
		if computed[h] != 1 {
			t.Errorf("%#x computed %d times, want once", h, computed[h])
		}
	}
	for h := uint64(1); h <= cacheSize; h++ {
		get(h << 20)
	}
	// Push args[4] out of its memo set: it is then found in the map only
	// if the map kept it.
	get(args[4] | 2)
	get(args[4] | 4)
	if get(args[4]); computed[args[4]] != 2 {
		t.Errorf("after %d more answers, %#x was computed %d times, want again", cacheSize, args[4], computed[args[4]])
	}
}

// TestRoleOf checks the roles built from session ARNs and from session
// issuers: both leave out the role's path, so that they agree.
func TestRoleOf(t *testing.T) {
	for _, c := range []struct{ session, issuer, want string }{
		{"arn:aws:sts::1:assumed-role/app/s1", "arn:aws:iam::1:role/app", "arn:aws:iam::1:role/app"},
		{"arn:aws-cn:sts::2:assumed-role/sso-admin/alice", "arn:aws-cn:iam::2:role/aws-reserved/sso.amazonaws.com/sso-admin", "arn:aws-cn:iam::2:role/sso-admin"},
		{"arn:aws:sts::1:assumed-role/", "arn:aws:iam::1:role/", ""},
		{"arn:aws:iam::1:user/u", "arn:aws:iam::1:user/u", ""},
		{"arn::sts::1:assumed-role/r/s", "arn::iam::1:role/r", ""},
		{"arn:aws:sts:::assumed-role/r/s", "arn:aws:iam:::role/r", ""},
		{"arn:aws:sts::1:assumed-role//s", "arn:aws:iam::1:role/path/", ""},
		{"arn:aws:iam::1:assumed-role/r/s", "arn:aws:sts::1:role/r", ""},
		{"AROAEXAMPLE:s", "", ""},
	} {
		if got := roleOfSession(c.session); got != c.want {
			t.Errorf("roleOfSession(%q) = %q, want %q", c.session, got, c.want)
		}
		if got := roleOfIssuer(c.issuer); got != c.want {
			t.Errorf("roleOfIssuer(%q) = %q, want %q", c.issuer, got, c.want)
		}
	}
}

// restoreCase returns the first_seen rule of the restore tests, learning
// for an hour, and a maker of its events, calls of principal p.
func restoreCase(t *testing.T) ([]*Rule, func(minute int, action string) *event.Event) {
	t.Helper()
	rules, err := Parse("fs.baseline", []byte("id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\nlearning: 1h\n"))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	return rules, func(minute int, action string) *event.Event {
		return &event.Event{Time: base.Add(time.Duration(minute) * time.Minute), Source: "aws.cloudtrail", Principal: "p", Action: action, ID: action}
	}
}

// restoredAs returns a new evaluator of rules with opts, restored from a
// snapshot of e.
func restoredAs(t *testing.T, e *Evaluator, rules []*Rule, opts Options) *Evaluator {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	next, err := New(rules, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	return next
}

// TestRestoreWithoutStart restores a checkpoint of the kind written before
// the start of a first_seen rule's learning period was taken as events
// came: buckets open and no start. The oldest bucket gives the start, so
// that the period ends where it did.
func TestRestoreWithoutStart(t *testing.T) {
	rules, at := restoreCase(t)
	opts := Options{Lateness: time.Hour}
	e, err := New(rules, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.Observe(at(0, "a"), nil)
	e.Observe(at(2, "b"), nil)
	if e.Stats().Pending != 2 {
		t.Fatalf("stats %+v; want the two minutes open", e.Stats())
	}
	e.rules[0].fs.start = math.MinInt64
	e = restoredAs(t, e, rules, opts)
	var got []Match
	e.Observe(at(61, "c"), func(m Match) { got = append(got, m) })
	e.Flush(func(m Match) { got = append(got, m) })
	if len(got) != 1 || got[0].Key[1].Value != "c" {
		t.Errorf("matches %+v; want c, past the period that started at minute 0", got)
	}
}

// TestRestoreWithLessLateness restores a stream's checkpoint with a
// smaller lateness: events the larger one let count still do, and still
// move the start of the learning period, whatever the restored start.
func TestRestoreWithLessLateness(t *testing.T) {
	rules, at := restoreCase(t)
	e, err := New(rules, Options{Lateness: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.Observe(at(100, "a"), nil)
	e = restoredAs(t, e, rules, Options{Lateness: 5 * time.Minute})
	var got []Match
	emit := func(m Match) { got = append(got, m) }
	e.Observe(at(45, "b"), emit) // not late: the hour of lateness left the frontier at 40
	e.Observe(at(106, "c"), emit)
	e.Flush(emit)
	if st := e.Stats(); st.Late != 0 || len(got) != 1 || got[0].Key[1].Value != "c" {
		t.Errorf("matches %+v, stats %+v; want c, past the period that started at minute 45", got, st)
	}
}
