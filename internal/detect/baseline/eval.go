package baseline

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/event"
)

// Match is one firing of a baseline rule.
type Match struct {
	Rule *Rule
	// Key holds the values of the rule's Key fields, then of its New
	// fields.
	Key []detect.GroupValue
	// Time is, for a rate spike, the start of the bucket; for a first_seen
	// match, the time of the first event with the new combination.
	Time time.Time
	// Start and End bound the bucket (a minute for first_seen).
	Start, End time.Time
	// Observed is the bucket's value: events, sum or mean (rate), or the
	// events with the new combination in its minute (first_seen).
	Observed float64
	Events   int64 // events in the bucket
	// The baseline a spike was compared with (rate only): the key's flat
	// mean, the expected value (its time-of-week slot when Seasonal), the
	// standard deviation, and the resulting z-score and ratio.
	Mean, Expected, StdDev float64
	ZScore, Ratio          float64
	Seasonal               bool
	// EventIDs are the IDs of the bucket's earliest events (by time, then
	// ID), at most MaxEventIDs.
	EventIDs []string
}

// MaxEventIDs bounds the event IDs a bucket keeps for its match.
const MaxEventIDs = 10

// DefaultLateness is the lateness tolerance when none is configured.
const DefaultLateness = 5 * time.Minute

// Unbounded is a Lateness that holds every bucket open until Flush (or
// until MaxPending forces the oldest closed), for offline use on input
// that is not in time order. A first_seen rule's learning period then
// starts with its oldest event no more than HuntHorizon older than its
// first event read (see fsState.learn).
const Unbounded time.Duration = math.MaxInt64

// Options configure an Evaluator.
type Options struct {
	// Lateness is how far behind the newest event time of a rule's
	// sources an event may arrive and still count: a bucket closes once
	// that newest time passes its end by Lateness. 0 means
	// DefaultLateness.
	Lateness time.Duration
	// MaxPending bounds the open buckets, all rules together; when it is
	// exceeded the oldest is closed early (counted in Stats.Forced). 0
	// means 1,048,576.
	MaxPending int
	// MaxKeys bounds the keys of a rate rule and the combinations of a
	// first_seen rule, unless the rule sets max_keys; the least recently
	// seen are evicted (counted). 0 means 1,048,576.
	MaxKeys int
	// MaxProfiles bounds the time-of-week profiles of each rate rule. 0
	// means 4,096.
	MaxProfiles int
	// Geo resolves the derived fields asn and country.
	Geo Geo
	// Logger receives warnings, such as a checkpoint that cannot be read;
	// nil discards them.
	Logger *slog.Logger
	// Clock tells MaybeCheckpoint the time; nil means time.Now. Nothing
	// else reads it: buckets, learning and cooldowns follow event time.
	Clock func() time.Time
	// CheckpointInterval is how often MaybeCheckpoint writes; 0 means one
	// minute.
	CheckpointInterval time.Duration
	// HashSeed keys the hash of key values; 0 picks a random one. A
	// restored checkpoint brings its own.
	HashSeed uint64
}

// Stats describe an evaluator's state and what it dropped.
type Stats struct {
	Keys         int   // keys of rate rules
	Profiles     int   // time-of-week profiles in use
	Combinations int   // combinations of first_seen rules
	Entities     int   // keys of first_seen rules with key_learning
	Pending      int   // open buckets
	Bytes        int64 // estimated memory of all the above
	Matches      int64 // matches emitted
	Late         int64 // events that arrived after their bucket closed
	Forced       int64 // buckets closed early because MaxPending was reached
	Evicted      int64 // keys and combinations evicted to respect the bounds
	NoKey        int64 // events lacking a key field or the value of a rate rule
	BadTime      int64 // events without a time, or with one outside 1716-2191
	// Early counts the events of first_seen rules that came, in a hunt,
	// more than HuntHorizon older than the rule's first event read: they
	// teach the rule, but its learning period starts without them.
	Early int64
}

// Evaluator evaluates baseline rules over events in event time.
//
// Events are counted into per-key buckets as they arrive, in any order. A
// rule's buckets close in order once the newest event time of the
// sources the rule reads is Lateness past their end; only then is a
// bucket compared with the baseline and learned, and the keys of one
// bucket are handled in the order of their hashes. Every event that is
// not late therefore lands in the same bucket, and every bucket is closed
// at the same place in the same sequence, however the input was batched
// or reordered within Lateness: the matches are the same. (Matches of
// different rules may interleave differently, since each rule closes by
// the time of its own sources.) An event whose bucket has closed is late:
// it is counted and dropped.
//
// An Evaluator is not safe for concurrent use: feed it from one
// goroutine.
type Evaluator struct {
	opts      Options
	rules     []*ruleState
	bySource  map[string]*sourceRoute
	anySource *sourceRoute
	spare     []*openBucket // closed, for reuse
	warmSum   uint64        // what warm read, kept so that the reads are done
	seed      uint64        // of the key hashes
	own       *Extractor    // Observe's
	pending   int
	stats     Stats
	keybuf    []byte
	lastSave  time.Time
	ids       fieldIDs
	// pendingSeed is the hash seed of a checkpoint being restored, taken
	// up when it is installed.
	pendingSeed uint64
}

// cand is a rule an event of some source may count for, with the
// alternatives of its events that apply to that source.
type cand struct {
	rule   int32
	rs     *ruleState
	events []clause
	always bool // every event of the source counts: an alternative without conditions and no exception
}

func newCand(i int, rs *ruleState, events []clause) cand {
	c := cand{rule: int32(i), rs: rs, events: events}
	if len(rs.except) == 0 {
		for _, cl := range events {
			c.always = c.always || len(cl) == 0
		}
	}
	return c
}

// ruleState is one rule compiled, with its state.
type ruleState struct {
	r         *Rule
	idx       int
	events    []clause
	except    []clause
	key, new  []fieldRef
	value     *fieldRef
	times     *fieldRef
	bucketMin int64
	sources   []string
	wm        int64 // newest event time of the rule's sources, Unix ns
	frontier  int64 // buckets that end at or before this are closed, Unix ns
	open      []*openBucket
	rate      *rateState
	fs        *fsState
}

const minuteNs = int64(time.Minute)

// Event times outside this range (about 1716 to 2191) are refused, so that
// minutes fit in 32 bits and nanoseconds in 64.
const (
	minUnix = -8_000_000_000
	maxUnix = 7_000_000_000
)

// New returns an evaluator of rules, which must have distinct IDs. Rules
// are evaluated in ID order.
func New(rules []*Rule, opts Options) (*Evaluator, error) {
	if opts.Lateness <= 0 {
		opts.Lateness = DefaultLateness
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 1 << 20
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1 << 20
	}
	if opts.MaxProfiles <= 0 {
		opts.MaxProfiles = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Minute
	}
	sorted := slices.Clone(rules)
	slices.SortStableFunc(sorted, func(a, b *Rule) int { return strings.Compare(a.ID, b.ID) })
	e := &Evaluator{opts: opts, lastSave: opts.Clock(), ids: fieldIDs{}}
	e.seed = opts.HashSeed
	for e.seed == 0 {
		e.seed = rand.Uint64()
	}
	for i, r := range sorted {
		if i > 0 && sorted[i-1].ID == r.ID {
			return nil, fmt.Errorf("baseline rules %s:%d and %s:%d share the id %s; give each rule its own", sorted[i-1].File, sorted[i-1].Line, r.File, r.Line, r.ID)
		}
		rs, err := compileRule(r, i, &opts, e.ids)
		if err != nil {
			return nil, err
		}
		e.rules = append(e.rules, rs)
	}
	e.route()
	e.own = e.NewExtractor()
	return e, nil
}

// route builds, for each source the rules name, the rules its events
// may count for, with the alternatives that apply to it and without their
// condition on the source, which routing has checked.
func (e *Evaluator) route() {
	e.bySource = map[string]*sourceRoute{}
	var any []cand
	for i, rs := range e.rules {
		if rs.sources == nil {
			any = append(any, newCand(i, rs, rs.events))
		}
		for _, s := range rs.sources {
			e.bySource[s] = nil
		}
	}
	e.anySource = newRoute(any)
	for s := range e.bySource {
		var l []cand
		for i, rs := range e.rules {
			switch {
			case rs.sources == nil:
				l = append(l, newCand(i, rs, rs.events))
			case slices.Contains(rs.sources, s):
				l = append(l, newCand(i, rs, clausesFor(rs.events, s)))
			}
		}
		e.bySource[s] = newRoute(l)
	}
}

// clausesFor returns the alternatives that accept source s, without
// their condition on the source.
func clausesFor(cs []clause, s string) []clause {
	var out []clause
	for _, c := range cs {
		var rest clause
		ok := true
		for _, cd := range c {
			if cd.f.name == "source" && cd.values != nil {
				ok = ok && slices.Contains(cd.values, s)
				continue
			}
			rest = append(rest, cd)
		}
		if ok {
			out = append(out, rest)
		}
	}
	return out
}

func compileRule(r *Rule, idx int, opts *Options, ids fieldIDs) (*ruleState, error) {
	where := fmt.Sprintf("baseline rule %s (%s:%d)", r.ID, r.File, r.Line)
	for _, f := range r.Fields() {
		if ok, why := knownField(f); !ok {
			return nil, fmt.Errorf("%s: %s", where, why)
		}
	}
	if reason := inactiveReason(r, opts.Geo); reason != "" {
		return nil, fmt.Errorf("%s cannot run: %s", where, reason)
	}
	rs := &ruleState{r: r, idx: idx, events: compileClauses(r.Events, ids), except: compileClauses(r.Except, ids),
		sources: sourcesOf(r), wm: math.MinInt64, frontier: math.MinInt64}
	for _, f := range r.Key {
		rs.key = append(rs.key, ids.compile(f))
	}
	for _, f := range r.New {
		rs.new = append(rs.new, ids.compile(f))
	}
	maxKeys := opts.MaxKeys
	if r.MaxKeys > 0 {
		maxKeys = r.MaxKeys
	}
	switch r.Kind {
	case Rate:
		if r.Bucket < time.Minute || r.Bucket%time.Minute != 0 || time.Hour%r.Bucket != 0 {
			return nil, fmt.Errorf("%s: bucket %s must be a whole number of minutes that divides an hour", where, r.Bucket)
		}
		if len(r.Key) == 0 || len(r.New) > 0 {
			return nil, fmt.Errorf("%s: a rate rule needs key and no new", where)
		}
		if r.Value != nil {
			v := ids.compile(r.Value.Field)
			rs.value = &v
			if r.Value.Times != "" {
				t := ids.compile(r.Value.Times)
				rs.times = &t
			}
			if r.Value.Scale == 0 {
				r.Value.Scale = 1
			}
		}
		rs.bucketMin = int64(r.Bucket / time.Minute)
		rs.rate = newRateState(rs, maxKeys, opts.MaxProfiles)
	case FirstSeen:
		if len(r.New) == 0 {
			return nil, fmt.Errorf("%s: a first_seen rule needs new", where)
		}
		rs.bucketMin = 1
		rs.fs = newFirstSeenState(rs, maxKeys, opts.Lateness)
	default:
		return nil, fmt.Errorf("%s: kind %q is not rate or first_seen", where, r.Kind)
	}
	return rs, nil
}

// Rules returns the evaluated rules in evaluation (ID) order.
func (e *Evaluator) Rules() []*Rule {
	out := make([]*Rule, len(e.rules))
	for i, rs := range e.rules {
		out[i] = rs.r
	}
	return out
}

// Observe counts ev for every rule it concerns and calls emit with each
// match of the buckets that close. The event is not retained: Observe
// copies what it keeps. emit may be nil.
func (e *Evaluator) Observe(ev *event.Event, emit func(Match)) {
	e.own.Extract(ev)
	e.Apply(e.own.batch, emit)
	e.own.Take(e.own.batch) // the next batch, in the same memory
}

// Advance tells the evaluator that event time has reached t for every
// source, although no event says so (for example while the input is
// idle): the buckets Lateness no longer keeps open close.
func (e *Evaluator) Advance(t time.Time, emit func(Match)) {
	if t.Unix() < minUnix || t.Unix() > maxUnix {
		return
	}
	all := make([]cand, len(e.rules))
	for i, rs := range e.rules {
		all[i] = cand{rule: int32(i), rs: rs}
		rs.wm = max(rs.wm, t.UnixNano())
	}
	e.release(all, emit)
}

// Flush closes every open bucket, as at the end of the input. Events that
// arrive afterwards for a bucket that closed are late.
func (e *Evaluator) Flush(emit func(Match)) {
	for {
		rs := e.oldestOpen(nil, math.MaxInt64)
		if rs == nil {
			break
		}
		e.closeHead(rs, emit)
	}
	for _, rs := range e.rules {
		if rs.wm != math.MinInt64 {
			b := bucketStart(floorDiv(rs.wm, minuteNs), rs.bucketMin)
			rs.frontier = max(rs.frontier, (b+rs.bucketMin)*minuteNs)
		}
	}
}

// release closes, oldest first, the buckets of the given rules that their
// watermark lets close, then enforces MaxPending.
func (e *Evaluator) release(cands []cand, emit func(Match)) {
	for _, c := range cands {
		rs := e.rules[c.rule]
		rs.frontier = max(rs.frontier, satSub(rs.wm, e.opts.Lateness))
	}
	for {
		rs := e.oldestOpen(cands, -1)
		if rs == nil {
			break
		}
		e.closeHead(rs, emit)
	}
	for e.pending > e.opts.MaxPending {
		rs := e.oldestOpen(nil, math.MaxInt64)
		if rs == nil {
			break
		}
		e.stats.Forced += int64(len(rs.open[0].bks))
		rs.frontier = max(rs.frontier, (rs.open[0].b+rs.bucketMin)*minuteNs)
		e.closeHead(rs, emit)
	}
}

// oldestOpen returns the rule (among cands, or all when cands is nil)
// whose oldest open bucket starts first (ties: the first rule), counting
// only buckets that may close: those ending at or before the rule's
// frontier when limit is -1, any bucket otherwise.
func (e *Evaluator) oldestOpen(cands []cand, limit int64) *ruleState {
	var best *ruleState
	consider := func(rs *ruleState) {
		if len(rs.open) == 0 {
			return
		}
		ob := rs.open[0]
		if limit < 0 && (ob.b+rs.bucketMin)*minuteNs > rs.frontier {
			return
		}
		if best == nil || ob.b < best.open[0].b {
			best = rs
		}
	}
	if cands == nil {
		for _, rs := range e.rules {
			consider(rs)
		}
	} else {
		for _, c := range cands {
			consider(e.rules[c.rule])
		}
	}
	return best
}

// closeHead closes the oldest open bucket of rs.
func (e *Evaluator) closeHead(rs *ruleState, emit func(Match)) {
	ob := rs.open[0]
	rs.open[0] = nil
	rs.open = rs.open[1:]
	if len(rs.open) == 0 {
		rs.open = nil
	}
	e.pending -= len(ob.bks)
	out := func(m Match) {
		e.stats.Matches++
		if emit != nil {
			emit(m)
		}
	}
	for _, bk := range ob.sorted() {
		if rs.rate != nil {
			rs.rate.close(ob, bk, out)
		} else {
			rs.fs.close(ob, bk, out)
		}
	}
	if len(e.spare) < 64 {
		ob.reset()
		e.spare = append(e.spare, ob)
	}
}

// matches reports whether the current event counts for the rule, given
// the alternatives of its events that apply to the event's source.
func (rs *ruleState) matches(x *evctx, events []clause) bool {
	hit := false
	for i := range events {
		if events[i].match(x) {
			hit = true
			break
		}
	}
	if !hit {
		return false
	}
	for i := range rs.except {
		if rs.except[i].match(x) {
			return false
		}
	}
	return true
}

// buildKey encodes the key values of a record, in a buffer reused by the
// next call.
func (e *Evaluator) buildKey(rs *ruleState, r *record, b *Batch) []byte {
	k := e.keybuf[:0]
	for _, sp := range b.keys[r.key : int(r.key)+len(rs.key)+len(rs.new)] {
		k = appendTuple(k, b.view(sp))
	}
	e.keybuf = k
	return k
}

// valueOf returns the number a rate rule adds for the current event.
func (rs *ruleState) valueOf(x *evctx) (float64, bool) {
	v, ok := number(x, rs.value)
	if !ok {
		return 0, false
	}
	if rs.times != nil {
		t, ok := number(x, rs.times)
		if !ok {
			return 0, false
		}
		v *= t
	}
	v *= rs.r.Value.Scale
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func number(x *evctx, f *fieldRef) (float64, bool) {
	s := &x.f[f.id]
	if f.kind == fieldRaw {
		return s.num, s.numOK
	}
	v, err := strconv.ParseFloat(s.val, 64)
	return v, err == nil
}

// add counts the event of record r into its bucket b.
func (e *Evaluator) add(rs *ruleState, b int64, r *record, batch *Batch, t int64, id span) {
	var ob *openBucket
	i := len(rs.open)
	for i > 0 && rs.open[i-1].b >= b {
		i--
	}
	if i < len(rs.open) && rs.open[i].b == b {
		ob = rs.open[i]
	} else {
		if n := len(e.spare); n > 0 {
			ob = e.spare[n-1]
			e.spare = e.spare[:n-1]
			ob.b = b
		} else {
			ob = newOpenBucket(b)
		}
		rs.open = slices.Insert(rs.open, i, ob)
	}
	bk, created := ob.get(r.h, r.eh, func() []byte { return e.buildKey(rs, r, batch) })
	if created {
		e.pending++
	}
	bk.n += 1 + int64(r.more) + int64(r.counted)
	bk.sum += r.v
	if bk.nids == MaxEventIDs && r.minT > bk.ids[MaxEventIDs-1].t {
		return // the record's events are all later than those the bucket keeps
	}
	ob.addID(bk, t, batch.view(id))
	for c := r.first; c >= 0; c = batch.more[c].next {
		ev := &batch.events[batch.more[c].ev]
		ob.addID(bk, ev.t, batch.view(ev.id))
	}
}

func (rs *ruleState) keyValues(key string) []detect.GroupValue {
	fields := rs.r.Fields()
	vals := decodeTuple(key, len(fields))
	out := make([]detect.GroupValue, len(fields))
	for i, f := range fields {
		out[i] = detect.GroupValue{Field: f, Value: vals[i]}
	}
	return out
}

func minuteTime(m int64) time.Time { return time.Unix(m*60, 0).UTC() }

func (rs *ruleState) rateMatch(ob *openBucket, bk *bucket, x, z, ratio float64, base baselineAt) Match {
	b := ob.b
	return Match{
		Rule: rs.r, Key: rs.keyValues(ob.keyOf(bk)),
		Time: minuteTime(b), Start: minuteTime(b), End: minuteTime(b + rs.bucketMin),
		Observed: x, Events: bk.n,
		Mean: base.mean, Expected: base.expected, StdDev: base.stddev, ZScore: z, Ratio: ratio, Seasonal: base.seasonal,
		EventIDs: ob.eventIDs(bk),
	}
}

func (rs *ruleState) firstSeenMatch(ob *openBucket, bk *bucket) Match {
	b := ob.b
	m := Match{
		Rule: rs.r, Key: rs.keyValues(ob.keyOf(bk)),
		Time: minuteTime(b), Start: minuteTime(b), End: minuteTime(b + 1),
		Observed: float64(bk.n), Events: bk.n, EventIDs: ob.eventIDs(bk),
	}
	if bk.nids > 0 {
		m.Time = time.Unix(0, bk.ids[0].t).UTC()
	}
	return m
}

// Stats returns the evaluator's counters and the size of its state.
func (e *Evaluator) Stats() Stats {
	st := e.stats
	st.Pending = e.pending
	for _, rs := range e.rules {
		if rs.rate != nil {
			st.Keys += rs.rate.keys.n
			st.Profiles += len(rs.rate.profs) - len(rs.rate.freeProfs)
			st.Evicted += rs.rate.keys.evicted
			st.Bytes += rs.rate.bytes()
		} else {
			st.Early += rs.fs.early
			st.Combinations += rs.fs.tuples.n
			st.Evicted += rs.fs.tuples.evicted
			if rs.fs.entities != nil {
				st.Entities += rs.fs.entities.n
				st.Evicted += rs.fs.entities.evicted
			}
			st.Bytes += rs.fs.bytes()
		}
		for _, ob := range rs.open {
			st.Bytes += ob.bytes()
		}
	}
	return st
}

// satSub returns t-d, saturating at the smallest int64.
func satSub(t int64, d time.Duration) int64 {
	if d == Unbounded || t < math.MinInt64+int64(d) {
		return math.MinInt64
	}
	return t - int64(d)
}
