package baseline

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/event"
)

// An Extractor does the part of observing an event that reads the event:
// which rules it counts for, the hashes and values of its key, the number
// it adds and its ID. It appends what it read to a Batch, which holds no
// reference to the event, and Evaluator.Apply does the rest: the part that
// reads and changes the evaluator's state.
//
// Extractors let several goroutines read events while their batches are
// applied one at a time, as vigil hunt does: each goroutine needs its own Extractor,
// made with NewExtractor after the evaluator was restored from a
// checkpoint (a checkpoint brings the seed of the key hashes). Observe
// reads an event and applies it at once.
//
// Extract reads, of an event, only the fields that the rules of its
// source read (a plan made per source when the evaluator is built, see
// sourceRoute), hashes those that keys and caches need, and derives the
// fields computed from them, once for every rule.
//
// For an evaluator whose Lateness is Unbounded, where no bucket closes
// before Flush, the events of a batch that count for the same rule, key
// and bucket become one record, applied with one bucket lookup: what
// Apply does then is what it would have done event by event, unless
// MaxPending closes buckets early in the middle of a batch.
//
// An event surely of a first_seen rule's learning period (known once the
// rule's first event was applied, see fsState.learn) gets no record: only
// its combination's hashes, which Apply teaches the rule. When Lateness is
// Unbounded, the events of a batch alike in minute and combination mostly
// share one entry (a small filter finds them); MaxPending closing buckets
// in the middle of a batch then changes only which of them count as late.
type Extractor struct {
	e     *Evaluator // read only: the rules and the routing
	x     evctx
	seed  uint64
	batch *Batch
	merge bool // the evaluator's Lateness is Unbounded
	// taught finds, when merge is set, the events of the batch already
	// taught to a first_seen rule in its learning period, by rule, minute
	// and combination: teaching one again changes nothing. Its slots of
	// another generation than tgen, the batch's, are empty.
	taught []taughtSlot
	tgen   uint32
	// The source of the last event and its route: events of one source
	// come in runs.
	lastSource string
	lastRoute  *sourceRoute
}

// sourceRoute is what the events of one source are read for: the rules
// they may count for, and the fields those rules read, which are all that
// Extract reads of an event.
type sourceRoute struct {
	cands []cand
	// read are the envelope and raw fields read as strings, nums the raw
	// fields read as numbers, and derived the fields computed from read
	// ones (which read includes).
	read    []planField
	nums    []*fieldRef
	derived []*fieldRef
}

// planField is a field a route reads, and whether its hash is needed: for
// a key, or to look up what is derived from it.
type planField struct {
	f    *fieldRef
	hash bool
}

func newRoute(cands []cand) *sourceRoute {
	rt := &sourceRoute{cands: cands}
	pos, nums, derived := map[int]int{}, map[int]bool{}, map[int]bool{}
	read := func(f *fieldRef, hash bool) {
		if i, ok := pos[f.id]; ok {
			rt.read[i].hash = rt.read[i].hash || hash
			return
		}
		pos[f.id] = len(rt.read)
		rt.read = append(rt.read, planField{f: f, hash: hash})
	}
	str := func(f *fieldRef, hash bool) {
		if f.kind == fieldEnv || f.kind == fieldRaw {
			read(f, hash)
			return
		}
		read(f.base, true)
		if f.typ != nil {
			read(f.typ, false)
		}
		if !derived[f.id] {
			derived[f.id] = true
			rt.derived = append(rt.derived, f)
		}
	}
	clauses := func(cls []clause) {
		for _, cl := range cls {
			for i := range cl {
				str(&cl[i].f, false)
			}
		}
	}
	for _, c := range cands {
		rs := c.rs
		clauses(c.events)
		clauses(rs.except)
		for i := range rs.key {
			str(&rs.key[i], true)
		}
		for i := range rs.new {
			str(&rs.new[i], true)
		}
		for _, f := range []*fieldRef{rs.value, rs.times} {
			switch {
			case f == nil:
			case f.kind == fieldRaw:
				// A number has a slot of its own: a field read both ways
				// is read twice.
				if !nums[f.id] {
					nums[f.id] = true
					rt.nums = append(rt.nums, f)
				}
			default:
				str(f, false)
			}
		}
	}
	return rt
}

// Batch is what an Extractor read from a run of events, for Apply.
type Batch struct {
	seed   uint64
	events []extracted
	recs   []record
	more   []contribution // the further events of merged records
	keys   []span         // the spans of the Key, then New, values of records
	taught []taught       // events of first_seen rules' learning periods
	arena  []byte         // values and event IDs
	// index finds the record of a rule, bucket and key hash, for merging;
	// slots of another generation are empty.
	index []mergeSlot
	gen   uint16
}

// taught is an event of a first_seen rule's learning period, which Apply
// only teaches the rule (see fsState.teach), and the number of later
// events of the batch that it stands for, of the same minute and
// combination: 32 bytes, where a record takes 72 and keeps key values and
// event IDs that nothing will read.
type taught struct {
	rule   int32
	minute int32
	h, eh  uint64
	dups   int32
}

// taughtSlot is a slot of Extractor.taught: the event of the batch (gen)
// taught to a rule (rm: rule and minute) with combination h, at index i
// of the batch's taught.
type taughtSlot struct {
	h   uint64
	rm  uint64
	gen uint32
	i   int32
}

// taughtBits sizes Extractor.taught: 512 slots, 12 KiB, which stay in the
// first-level cache beside what Extract reads; a larger filter catches
// more of the combinations of a busy rule but misses the cache more. A
// slot taken by another is overwritten, and its event taught again.
const taughtBits = 9

// contribution is one more event of a merged record, whose value the
// record's holds.
type contribution struct {
	ev   int32 // in events
	next int32 // the record's next contribution, or -1
}

// mergeSlot is a slot of a batch's index, eight bytes so that the index
// of a batch stays in the first-level cache: the high half of a hash of a
// record's rule, bucket and key hash (its low bits pick the slot), and the
// record.
type mergeSlot struct {
	tag uint32
	rec uint16
	gen uint16
}

// maxMergeRecs bounds the records a batch indexes for merging (a
// mergeSlot holds a record's position in 16 bits); records past it are
// applied one by one.
const maxMergeRecs = 1<<16 - 1

// extracted is one event of a batch.
type extracted struct {
	t     int64 // Unix nanoseconds
	bad   bool  // no time, or one outside the range evaluated
	cands []cand
	id    span
	end   int32 // recs[previous end:end] are the event's
	tend  int32 // taught[previous tend:tend] are the event's
}

// record is what one event adds to one rule, or why it adds nothing:
// 72 bytes.
type record struct {
	rule int32
	key  int32 // index in keys of the first of the rule's key values
	bk   int32 // bucket start, minutes (records with a key)
	// The record's further events (merged records only), latest merged
	// first, in more; -1 when none.
	first int32
	// counted is the number of further events merged into the record by
	// their count alone: events without a key, or events of a rule
	// without a value of which at least MaxEventIDs events of the record
	// are earlier, so that none of them can be among the event IDs a
	// bucket keeps.
	counted int32
	more    int32 // the further events in more
	// rising is the number of the record's events in more, or its own,
	// that came later than all before them: distinct events, which an
	// event repeated (same time and ID) cannot be.
	rising int32
	noKey  bool // a key field is empty
	noVal  bool // a rate rule's value is missing or not a number
	h, eh  uint64
	v      float64 // the sum of the values of the record's events
	// The latest and the earliest time of the record's events in more,
	// or its own.
	maxT, minT int64
}

// NewExtractor returns an Extractor of events for e.
func (e *Evaluator) NewExtractor() *Extractor {
	x := &Extractor{e: e, seed: e.seed, batch: &Batch{}, merge: e.opts.Lateness == Unbounded}
	x.x.init(len(e.ids), e.seed, &e.opts.Geo)
	return x
}

// Len returns the number of events in the batch being filled.
func (x *Extractor) Len() int { return len(x.batch.events) }

// Take returns the batch filled so far and starts an empty one, which
// reuses the memory of spare when it is not nil (a batch Apply is done
// with), or else has room for as much as the batch returned.
func (x *Extractor) Take(spare *Batch) *Batch {
	b := x.batch
	if spare == nil {
		spare = &Batch{
			events: make([]extracted, 0, len(b.events)),
			recs:   make([]record, 0, len(b.recs)),
			more:   make([]contribution, 0, len(b.more)),
			keys:   make([]span, 0, len(b.keys)),
			taught: make([]taught, 0, len(b.taught)),
			arena:  make([]byte, 0, len(b.arena)),
		}
	}
	spare.reset()
	x.batch = spare
	x.tgen++
	if x.tgen == 0 { // wrapped: forget every slot
		clear(x.taught)
		x.tgen = 1
	}
	return b
}

func (b *Batch) reset() {
	b.events, b.recs, b.more, b.keys, b.taught, b.arena = b.events[:0], b.recs[:0], b.more[:0], b.keys[:0], b.taught[:0], b.arena[:0]
	b.gen++
	if b.gen == 0 { // wrapped: forget every slot
		clear(b.index)
		b.gen = 1
	}
}

// merged returns the record of rule, bucket bk and hash h in the batch,
// or -1 after indexing position i for it.
func (b *Batch) merged(rule int32, bk int32, h uint64, i int32) int32 {
	if i >= maxMergeRecs {
		return -1
	}
	if 3*len(b.index) < 4*(len(b.recs)+1) {
		b.growIndex()
	}
	hash := mergeTag(rule, bk, h)
	tag := uint32(hash >> 32)
	mask := uint64(len(b.index) - 1)
	for j := hash & mask; ; j = (j + 1) & mask {
		s := &b.index[j]
		if s.gen != b.gen {
			*s = mergeSlot{tag: tag, rec: uint16(i), gen: b.gen}
			return -1
		}
		if s.tag == tag {
			if r := &b.recs[s.rec]; r.h == h && r.bk == bk && r.rule == rule {
				return int32(s.rec)
			}
		}
	}
}

func mergeTag(rule, bk int32, h uint64) uint64 {
	return h ^ (uint64(uint32(bk))<<32|uint64(uint32(rule)))*0x9e3779b97f4a7c15
}

func (b *Batch) growIndex() {
	old := b.index
	b.index = make([]mergeSlot, max(1024, 2*len(old)))
	if b.gen == 0 {
		b.gen = 1
	}
	mask := uint64(len(b.index) - 1)
	for _, s := range old {
		if s.gen != b.gen {
			continue
		}
		r := &b.recs[s.rec]
		j := mergeTag(r.rule, r.bk, r.h) & mask
		for b.index[j].gen == b.gen {
			j = (j + 1) & mask
		}
		b.index[j] = s
	}
}

// view returns a span of the arena as a string that shares its memory,
// for callers that copy what they keep.
func (b *Batch) view(s span) string {
	if s.len == 0 {
		return ""
	}
	return unsafe.String(&b.arena[s.off], int(s.len))
}

func (b *Batch) put(s string) span {
	sp := span{off: uint32(len(b.arena)), len: uint32(len(s))}
	b.arena = append(b.arena, s...)
	return sp
}

// Extract reads ev into the batch. The event is not retained: what the
// batch keeps of it is copied.
func (x *Extractor) Extract(ev *event.Event) {
	b := x.batch
	b.seed = x.seed
	if badTime(ev) {
		// Apply counts it.
		b.events = append(b.events, extracted{bad: true, end: int32(len(b.recs)), tend: int32(len(b.taught))})
		return
	}
	rt := x.routeOf(ev.Source)
	x.x.load(rt, ev)
	id := b.put(ev.ID)
	t := ev.Time.UnixNano()
	minute := floorDiv(t, minuteNs)
	cands := rt.cands
	for ci := range cands {
		c := &cands[ci]
		rs := c.rs
		if !c.always && !rs.matches(&x.x, c.events) {
			continue
		}
		bk := int32(bucketStart(minute, rs.bucketMin))
		h, eh, ok := x.hashKey(rs)
		if !ok {
			// The events without a key of a rule and bucket are only
			// counted: one record, of hash 0, which no key has.
			if x.merge {
				if i := b.merged(c.rule, bk, 0, int32(len(b.recs))); i >= 0 {
					b.recs[i].counted++
					continue
				}
			}
			b.recs = append(b.recs, record{rule: c.rule, noKey: true, bk: bk, first: -1, rising: 1, maxT: t, minT: t})
			continue
		}
		if fs := rs.fs; fs != nil && minute < fs.learnEnd.Load() {
			x.teach(c.rule, minute, h, eh)
			continue
		}
		var v float64
		noVal := false
		if rs.value != nil {
			v, ok = rs.valueOf(&x.x)
			noVal = !ok
		}
		if x.merge && !noVal {
			if i := b.merged(c.rule, bk, h, int32(len(b.recs))); i >= 0 {
				b.addTo(i, int32(len(b.events)), v, t, rs.value == nil)
				continue
			}
		}
		key := int32(len(b.keys))
		for i := range rs.key {
			b.keys = append(b.keys, x.value(&rs.key[i]))
		}
		for i := range rs.new {
			b.keys = append(b.keys, x.value(&rs.new[i]))
		}
		b.recs = append(b.recs, record{rule: c.rule, noVal: noVal, h: h, eh: eh, v: v, key: key, bk: bk, first: -1, rising: 1, maxT: t, minT: t})
	}
	b.events = append(b.events, extracted{t: t, cands: cands, id: id, end: int32(len(b.recs)), tend: int32(len(b.taught))})
}

// badTime reports an event without a time, or with one outside the range
// evaluated.
func badTime(ev *event.Event) bool {
	return ev.Time.IsZero() || ev.Time.Unix() < minUnix || ev.Time.Unix() > maxUnix
}

func (x *Extractor) routeOf(source string) *sourceRoute {
	if x.lastRoute != nil && source == x.lastSource {
		return x.lastRoute
	}
	rt, ok := x.e.bySource[source]
	if !ok {
		rt = x.e.anySource
	}
	x.lastSource, x.lastRoute = strings.Clone(source), rt
	return rt
}

// addTo merges event ev of time t, which adds v, into record i. With
// countOnly (the rule has no value), an event later than MaxEventIDs
// distinct events of the record is only counted.
func (b *Batch) addTo(i, ev int32, v float64, t int64, countOnly bool) {
	r := &b.recs[i]
	r.v += v
	if t > r.maxT {
		if countOnly && r.rising >= MaxEventIDs {
			r.counted++
			return
		}
		r.rising++
		r.maxT = t
	}
	r.minT = min(r.minT, t)
	r.more++
	b.more = append(b.more, contribution{ev: ev, next: r.first})
	r.first = int32(len(b.more) - 1)
}

// teach adds to the batch an event of the learning period of rule, a
// first_seen rule, unless the batch has one of the same minute and
// combination already.
func (x *Extractor) teach(rule int32, minute int64, h, eh uint64) {
	b := x.batch
	if x.merge {
		if x.taught == nil {
			x.taught, x.tgen = make([]taughtSlot, 1<<taughtBits), 1
		}
		rm := uint64(uint32(rule))<<32 | uint64(uint32(minute))
		s := &x.taught[(h^rm*0x9e3779b97f4a7c15)>>(64-taughtBits)]
		if s.h == h && s.rm == rm && s.gen == x.tgen {
			b.taught[s.i].dups++
			return
		}
		*s = taughtSlot{h: h, rm: rm, gen: x.tgen, i: int32(len(b.taught))}
	}
	b.taught = append(b.taught, taught{rule: rule, minute: int32(minute), h: h, eh: eh})
}

// value returns the span of f's value for the current event in the
// batch's arena, copying it there once per event.
func (x *Extractor) value(f *fieldRef) span {
	s := &x.x.f[f.id]
	if s.sgen != x.x.gen {
		s.sp, s.sgen = x.batch.put(s.val), x.x.gen
	}
	return s.sp
}

// hashKey returns the hash of the event's Key and New values and of its Key
// values alone; false when one is empty. A rule of one key field and at
// most one new field, as every built-in rule is, takes a path without
// loops.
func (x *Extractor) hashKey(rs *ruleState) (h, eh uint64, ok bool) {
	fs := x.x.f
	if len(rs.key) == 1 && len(rs.new) <= 1 {
		s := &fs[rs.key[0].id]
		if len(s.val) == 0 {
			return 0, 0, false
		}
		h = combine(tupleSeed, s.hash)
		eh = finish(h)
		if len(rs.new) == 0 {
			return eh, eh, true
		}
		s = &fs[rs.new[0].id]
		if len(s.val) == 0 {
			return 0, 0, false
		}
		return finish(combine(h, s.hash)), eh, true
	}
	if h, ok = x.fold(tupleSeed, rs.key); !ok {
		return 0, 0, false
	}
	eh = finish(h)
	if h, ok = x.fold(h, rs.new); !ok {
		return 0, 0, false
	}
	return finish(h), eh, true
}

// fold combines h with the hashes of fields' values; false when one is
// empty.
func (x *Extractor) fold(h uint64, fields []fieldRef) (uint64, bool) {
	for i := range fields {
		s := &x.x.f[fields[i].id]
		if len(s.val) == 0 {
			return 0, false
		}
		h = combine(h, s.hash)
	}
	return h, true
}

// Apply counts the events of a batch, in order, as Observe would have, and
// calls emit with each match of the buckets that close. The batch must
// come from an Extractor of e made after e's last restore. emit may be
// nil.
func (e *Evaluator) Apply(b *Batch, emit func(Match)) {
	if len(b.events) > 0 && b.seed != e.seed {
		panic(fmt.Sprintf("baseline: a batch extracted with hash seed %#x applied to an evaluator with seed %#x: make extractors after restoring a checkpoint", b.seed, e.seed))
	}
	if len(b.recs)+len(b.taught) >= warmMin {
		e.warm(b)
	}
	start, tstart := int32(0), int32(0)
	for i := range b.events {
		ev := &b.events[i]
		e.apply(b, ev, b.recs[start:ev.end], b.taught[tstart:ev.tend], emit)
		start, tstart = ev.end, ev.tend
	}
}

// warmMin is the number of records from which Apply reads ahead.
const warmMin = 16

// warm reads, for every record of the batch, the memory that counting it
// starts with: the slots of the first_seen tables, and the open bucket's
// index slot and bucket. The state of a long hunt is megabytes, so most
// of these reads miss the cache; counting the records one after the
// other waits for each miss in turn, while the reads here do not depend
// on each other, so the processor overlaps them, and counting then finds
// what it reads in the cache.
func (e *Evaluator) warm(b *Batch) {
	var sum uint64
	for i := range b.taught {
		tr := &b.taught[i]
		fs := e.rules[tr.rule].fs
		sum += fs.tuples.peek(tr.h)
		if fs.entities != nil {
			sum += fs.entities.peek(tr.eh)
		}
	}
	for i := range b.recs {
		r := &b.recs[i]
		if r.noKey || r.noVal {
			continue
		}
		rs := e.rules[r.rule]
		if fs := rs.fs; fs != nil {
			sum += fs.tuples.peek(r.h)
			if fs.pending != nil {
				sum += fs.pending.peek(r.h)
			}
		}
		// As add does: events come in time order or nearly, so their
		// bucket is among the last open.
		for i := len(rs.open) - 1; i >= 0 && rs.open[i].b >= int64(r.bk); i-- {
			if rs.open[i].b == int64(r.bk) {
				sum += rs.open[i].peek(r.h)
				break
			}
		}
	}
	e.warmSum = sum
}

// apply counts one event of a batch.
func (e *Evaluator) apply(b *Batch, ev *extracted, recs []record, taught []taught, emit func(Match)) {
	if ev.bad {
		e.stats.BadTime++
		return
	}
	t := ev.t
	minute := floorDiv(t, minuteNs)
	for i := range ev.cands {
		rs := ev.cands[i].rs
		rs.wm = max(rs.wm, t)
	}
	for i := range taught {
		tr := &taught[i]
		rs := e.rules[tr.rule]
		if (int64(tr.minute)+1)*minuteNs <= rs.frontier {
			e.stats.Late += 1 + int64(tr.dups)
			continue
		}
		rs.fs.counted(int64(tr.minute), 1+int64(tr.dups))
		rs.fs.teach(tr.h, tr.eh, tr.minute)
	}
	for i := range recs {
		r := &recs[i]
		rs := e.rules[r.rule]
		bk := int64(r.bk)
		if (bk+rs.bucketMin)*minuteNs <= rs.frontier {
			e.stats.Late += 1 + r.merges()
			continue
		}
		if r.noKey {
			e.stats.NoKey += 1 + int64(r.counted)
			continue
		}
		if fs := rs.fs; fs != nil && (fs.learn(r.h, r.eh, minute, 1+r.merges()) || fs.known(r.h, r.eh, minute) || fs.later(r.h, minute)) {
			continue
		}
		if r.noVal {
			e.stats.NoKey++
			continue
		}
		e.add(rs, bk, r, b, t, ev.id)
	}
	// Close buckets only when the event moved a watermark past the end of
	// a rule's oldest open bucket, or too many are open.
	// With Lateness Unbounded no watermark moves a frontier.
	closable := e.pending > e.opts.MaxPending
	if e.opts.Lateness != Unbounded {
		for i := range ev.cands {
			rs := ev.cands[i].rs
			rs.frontier = max(rs.frontier, satSub(rs.wm, e.opts.Lateness))
			closable = closable || (len(rs.open) > 0 && (rs.open[0].b+rs.bucketMin)*minuteNs <= rs.frontier)
		}
	}
	if closable {
		e.release(ev.cands, emit)
	}
}

// merges returns the number of events merged into r after its own.
func (r *record) merges() int64 {
	return int64(r.more) + int64(r.counted)
}
