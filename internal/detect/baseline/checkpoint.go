package baseline

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"time"

	"github.com/vigil-sec/vigil/internal/detect/state"
)

// Checkpoint format, version 2, in the body of a state file (see package
// state for the frame: magic, version, checksum):
//
//	hash seed: uvarint
//	rules: uvarint count, then each:
//	  id, digest: string; kind: uvarint (1 rate, 2 first_seen); bucket minutes: uvarint
//	  watermark, frontier: varint (Unix ns)
//	  open buckets: uvarint count, oldest first, each:
//	    start: varint (minutes); keys: uvarint count, each:
//	      hash, key hash: uvarint; key: string; events: uvarint; sum: float
//	      event IDs: uvarint count, each: time: varint; ID: string
//	  rate: last profile sweep: varint (day); keys: uvarint count, by hash, each:
//	    hash: uvarint; seen, first, last, cooldown: varint; s1, s2, w: float
//	    profile: bool, then start, current hour: varint; hour sums: 2 floats; 168 × 2 floats
//	  first_seen: start: varint; combinations: uvarint count, by hash, each: hash: uvarint; seen: varint
//	    keys: bool, then uvarint count, by hash, each: hash: uvarint; seen, first: varint
//
// Version 1 held the same fields with key hashes of an earlier hash
// function; its hashes cannot be recomputed (rate keys and combinations
// are kept as hashes alone), so it is refused and the rules learn anew.
//
// Restoring matches rules by id and keeps the state of those whose digest
// (kind, events, except, key, new, value, bucket, seasonality) is
// unchanged, so a checkpoint also carries state across a rule reload.

const (
	checkpointMagic   = "VIGILBSL"
	checkpointVersion = 2
	// Bounds of what a checkpoint may hold, beyond which it is corrupt.
	maxSnapshotRules   = 1 << 16
	maxSnapshotOpen    = 1 << 16
	maxSnapshotBuckets = 1 << 24
	maxSnapshotKeys    = 1 << 28
)

// Snapshot writes the evaluator's state to w.
func (e *Evaluator) Snapshot(w io.Writer) error {
	return state.Write(w, checkpointMagic, checkpointVersion, e.encode)
}

// Checkpoint writes the evaluator's state to path crash-safely: a crash
// while it runs leaves the previous checkpoint in place.
func (e *Evaluator) Checkpoint(path string) error {
	if err := state.WriteFile(path, checkpointMagic, checkpointVersion, e.encode); err != nil {
		return err
	}
	e.lastSave = e.opts.Clock()
	return nil
}

// MaybeCheckpoint writes a checkpoint to path if CheckpointInterval has
// passed, by the Clock, since the last one (or since the evaluator was made
// or restored). It reports whether it wrote one.
func (e *Evaluator) MaybeCheckpoint(path string) (bool, error) {
	if e.opts.Clock().Sub(e.lastSave) < e.opts.CheckpointInterval {
		return false, nil
	}
	if err := e.Checkpoint(path); err != nil {
		return false, err
	}
	return true, nil
}

func (e *Evaluator) encode(en *state.Encoder) error {
	en.Uvarint(e.seed)
	en.Uvarint(uint64(len(e.rules)))
	for _, rs := range e.rules {
		en.String(rs.r.ID)
		en.String(rs.r.digest())
		kind := uint64(1)
		if rs.fs != nil {
			kind = 2
		}
		en.Uvarint(kind)
		en.Uvarint(uint64(rs.bucketMin))
		en.Varint(rs.wm)
		en.Varint(rs.frontier)
		en.Uvarint(uint64(len(rs.open)))
		for _, ob := range rs.open {
			en.Varint(ob.b)
			en.Uvarint(uint64(len(ob.bks)))
			for _, bk := range ob.sorted() {
				en.Uvarint(bk.h)
				en.Uvarint(bk.eh)
				en.String(ob.keyOf(bk))
				en.Uvarint(uint64(bk.n))
				en.Float(bk.sum)
				en.Uvarint(uint64(bk.nids))
				for _, r := range bk.ids[:bk.nids] {
					en.Varint(r.t)
					en.String(ob.str(r.id))
				}
			}
		}
		if rs.rate != nil {
			encodeRate(en, rs.rate)
		} else {
			encodeFirstSeen(en, rs.fs)
		}
		if en.Err() != nil {
			return en.Err()
		}
	}
	return en.Err()
}

func encodeRate(en *state.Encoder, st *rateState) {
	en.Varint(st.sweepDay)
	slots := st.keys.sorted()
	en.Uvarint(uint64(len(slots)))
	for _, s := range slots {
		rec := &st.recs[s.aux]
		en.Uvarint(s.h)
		en.Varint(int64(s.seen))
		en.Varint(int64(rec.first))
		en.Varint(int64(rec.last))
		en.Varint(int64(rec.cool))
		en.Float(rec.s1)
		en.Float(rec.s2)
		en.Float(rec.w)
		en.Bool(rec.prof >= 0)
		if rec.prof >= 0 {
			p := &st.profs[rec.prof]
			en.Varint(int64(p.start))
			en.Varint(int64(p.cur))
			en.Float(p.hs1)
			en.Float(p.hs2)
			for i := range p.s1 {
				en.Float(float64(p.s1[i]))
				en.Float(float64(p.s2[i]))
			}
		}
	}
}

func encodeFirstSeen(en *state.Encoder, st *fsState) {
	en.Varint(st.start)
	slots := st.tuples.sorted()
	en.Uvarint(uint64(len(slots)))
	for _, s := range slots {
		en.Uvarint(s.h)
		en.Varint(int64(s.seen))
	}
	en.Bool(st.entities != nil)
	if st.entities != nil {
		slots := st.entities.sorted()
		en.Uvarint(uint64(len(slots)))
		for _, s := range slots {
			en.Uvarint(s.h)
			en.Varint(int64(s.seen))
			en.Varint(int64(s.aux))
		}
	}
}

// Restore replaces the evaluator's state with the one Snapshot wrote to r.
// On error the evaluator is left empty. The state of rules that no longer
// exist or whose digest changed is dropped; Restore logs how many.
func (e *Evaluator) Restore(r io.Reader) error {
	fresh, err := e.freshRules()
	if err != nil {
		return err
	}
	dropped := 0
	err = state.Read(r, checkpointMagic, checkpointVersion, state.Limits{}, e.body(fresh, &dropped))
	if err != nil {
		if fresh, ferr := e.freshRules(); ferr == nil {
			e.install(fresh, false)
		}
		return err
	}
	e.install(fresh, true)
	if dropped > 0 {
		e.opts.Logger.Warn("baseline checkpoint holds state of rules that are gone or changed; that state is dropped and those rules learn anew",
			"rules", dropped)
	}
	return nil
}

// LoadCheckpoint restores the state saved by Checkpoint at path. A missing
// file leaves the evaluator empty and is not an error. A file that cannot
// be read leaves it empty too: the error says why, and a warning is
// logged, since baselines then learn anew rather than fail.
func (e *Evaluator) LoadCheckpoint(path string) error {
	fresh, err := e.freshRules()
	if err != nil {
		return err
	}
	dropped := 0
	err = state.ReadFile(path, checkpointMagic, checkpointVersion, state.Limits{}, e.body(fresh, &dropped))
	e.lastSave = e.opts.Clock()
	if errors.Is(err, fs.ErrNotExist) {
		if fresh, ferr := e.freshRules(); ferr == nil {
			e.install(fresh, false)
		}
		return nil
	}
	if err != nil {
		if fresh, ferr := e.freshRules(); ferr == nil {
			e.install(fresh, false)
		}
		e.opts.Logger.Warn("baseline checkpoint cannot be read; baselines start empty and learn anew", "path", path, "error", err)
		return fmt.Errorf("restoring baselines: %w; they start empty (delete the file to silence this)", err)
	}
	e.install(fresh, true)
	if dropped > 0 {
		e.opts.Logger.Warn("baseline checkpoint holds state of rules that are gone or changed; that state is dropped and those rules learn anew",
			"rules", dropped, "path", path)
	}
	return nil
}

// body returns the reader of a checkpoint's body into fresh, which sets
// dropped to the number of rules whose state is dropped.
func (e *Evaluator) body(fresh []*ruleState, dropped *int) func(*state.Decoder, uint64) error {
	return func(d *state.Decoder, version uint64) error {
		if version < checkpointVersion {
			return fmt.Errorf("%w: format version %d was written by an earlier version of Vigil, whose key hashes this one no longer computes", state.ErrCorrupt, version)
		}
		var err error
		*dropped, err = e.decode(d, fresh)
		return err
	}
}

// freshRules compiles the rules again with empty state.
func (e *Evaluator) freshRules() ([]*ruleState, error) {
	out := make([]*ruleState, len(e.rules))
	for i, rs := range e.rules {
		f, err := compileRule(rs.r, i, &e.opts, e.ids)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

// install puts rules in place; with adopt, the hash seed of the
// checkpoint just read too.
func (e *Evaluator) install(rules []*ruleState, adopt bool) {
	e.rules = rules
	e.route()
	if adopt && e.pendingSeed != 0 {
		e.seed = e.pendingSeed
	}
	e.pendingSeed = 0
	e.own = e.NewExtractor()
	e.pending = 0
	for _, rs := range rules {
		for _, ob := range rs.open {
			e.pending += len(ob.bks)
		}
	}
}

// decode reads the rule sections into fresh, and returns how many
// sections it dropped.
func (e *Evaluator) decode(d *state.Decoder, fresh []*ruleState) (int, error) {
	seed := d.Uvarint()
	if seed == 0 && d.Err() == nil {
		d.Fail("hash seed is zero")
	}
	byID := map[string]*ruleState{}
	for _, rs := range fresh {
		byID[rs.r.ID] = rs
	}
	n := d.Count("rule", maxSnapshotRules)
	dropped := 0
	seen := map[string]bool{}
	buckets := 0
	for i := 0; i < n && d.Err() == nil; i++ {
		id, digest := d.String(), d.String()
		kind, bucketMin := d.Uvarint(), d.Uvarint()
		if d.Err() != nil {
			break
		}
		if kind != 1 && kind != 2 {
			d.Fail("rule %q has kind %d", id, kind)
			break
		}
		if bucketMin < 1 || bucketMin > 60 || 60%bucketMin != 0 || (kind == 2 && bucketMin != 1) {
			d.Fail("rule %q has a bucket of %d minutes", id, bucketMin)
			break
		}
		if seen[id] {
			d.Fail("rule %q appears twice", id)
			break
		}
		seen[id] = true
		target := byID[id]
		if target == nil || target.r.digest() != digest || (kind == 2) != (target.fs != nil) || uint64(target.bucketMin) != bucketMin {
			dropped++
			target = placeholder(kind, int64(bucketMin))
		}
		decodeSection(d, target, &buckets)
	}
	if d.Err() == nil {
		e.pendingSeed = seed
	}
	return dropped, d.Err()
}

// placeholder is a rule state that takes a section being dropped.
func placeholder(kind uint64, bucketMin int64) *ruleState {
	r := &Rule{ID: "dropped", Kind: Rate, Bucket: DefaultBucket, Seasonality: SeasonalityNone}
	if kind == 2 {
		r.Kind = FirstSeen
	}
	rs := &ruleState{r: r, bucketMin: bucketMin, wm: math.MinInt64, frontier: math.MinInt64}
	if kind == 2 {
		rs.fs = newFirstSeenState(rs, 1, DefaultLateness)
		rs.fs.entities = newTable(1)
	} else {
		rs.rate = newRateState(rs, 1, 0)
	}
	return rs
}

func decodeMinute(d *state.Decoder, what string) int32 {
	v := d.Varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.Fail("%s minute %d is out of range", what, v)
		return 0
	}
	return int32(v)
}

func decodeFloat(d *state.Decoder, what string) float64 {
	f := d.Float()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.Fail("%s is not a finite number", what)
		return 0
	}
	return f
}

func decodeHash(d *state.Decoder) uint64 {
	h := d.Uvarint()
	if h == 0 && d.Err() == nil {
		d.Fail("a key hash is zero")
	}
	return h
}

// inRange reports whether t (Unix ns) is a time the evaluator handles, or
// the smallest int64 that stands for none.
func inRange(t int64) bool {
	const slack = int64(24 * time.Hour)
	return t == math.MinInt64 || (t >= minUnix*int64(time.Second)-slack && t <= maxUnix*int64(time.Second)+slack)
}

func decodeSection(d *state.Decoder, rs *ruleState, buckets *int) {
	rs.wm = d.Varint()
	rs.frontier = d.Varint()
	if d.Err() == nil && (!inRange(rs.wm) || !inRange(rs.frontier)) {
		d.Fail("watermark %d or frontier %d is out of range", rs.wm, rs.frontier)
		return
	}
	nopen := d.Count("open bucket", maxSnapshotOpen)
	prev := int64(math.MinInt64)
	for i := 0; i < nopen && d.Err() == nil; i++ {
		b := d.Varint()
		if b <= prev || floorMod(b, rs.bucketMin) != 0 || b < minUnix/60-minutesPerDay || b > maxUnix/60+minutesPerDay {
			d.Fail("open bucket at minute %d is out of order or misaligned", b)
			return
		}
		prev = b
		ob := newOpenBucket(b)
		nb := d.Count("bucket key", maxSnapshotBuckets-*buckets)
		*buckets += nb
		for j := 0; j < nb && d.Err() == nil; j++ {
			h, eh, key := decodeHash(d), d.Uvarint(), d.Bytes()
			n := d.Uvarint()
			sum := decodeFloat(d, "a bucket sum")
			nid := d.Count("event ID", MaxEventIDs)
			if d.Err() != nil {
				return
			}
			if ob.find(h) >= 0 || n == 0 || n > 1<<62 {
				d.Fail("bucket key %x is repeated or has no events", h)
				return
			}
			bk, _ := ob.get(h, eh, func() []byte { return key })
			bk.n, bk.sum = int64(n), sum
			for k := 0; k < nid && d.Err() == nil; k++ {
				t, id := d.Varint(), d.String()
				ob.addID(bk, t, id)
			}
		}
		if len(ob.bks) > 0 {
			rs.open = append(rs.open, ob)
		}
	}
	if rs.rate != nil {
		decodeRate(d, rs.rate)
	} else {
		decodeFirstSeen(d, rs.fs)
	}
}

func decodeRate(d *state.Decoder, st *rateState) {
	st.sweepDay = d.Varint()
	n := d.Count("key", maxSnapshotKeys)
	for i := 0; i < n && d.Err() == nil; i++ {
		h := decodeHash(d)
		seen := decodeMinute(d, "seen")
		rec := rateRec{prof: -1}
		rec.first = decodeMinute(d, "first")
		rec.last = decodeMinute(d, "last")
		rec.cool = decodeMinute(d, "cooldown")
		rec.s1 = decodeFloat(d, "a sum")
		rec.s2 = decodeFloat(d, "a sum of squares")
		rec.w = decodeFloat(d, "a weight")
		var p *profile
		if d.Bool() {
			p = &profile{start: decodeMinute(d, "profile start"), cur: decodeMinute(d, "profile hour")}
			p.hs1 = decodeFloat(d, "an hour sum")
			p.hs2 = decodeFloat(d, "an hour sum of squares")
			for k := range p.s1 {
				p.s1[k] = float32(decodeFloat(d, "a slot sum"))
				p.s2[k] = float32(decodeFloat(d, "a slot sum of squares"))
			}
			if d.Err() == nil && int64(p.cur) < int64(p.start)-1 {
				d.Fail("a profile's hour %d is before its start %d", p.cur, p.start)
			}
		}
		if d.Err() != nil {
			return
		}
		if rec.w < 0 || rec.s2 < 0 || rec.last < rec.first-int32(st.rs.bucketMin) {
			d.Fail("key %x has an impossible baseline", h)
			return
		}
		if st.keys.find(h) != nil {
			d.Fail("key %x appears twice", h)
			return
		}
		ri := st.newRec(0)
		st.recs[ri] = rec
		st.keys.insert(h, seen, ri)
		if p != nil && st.maxProfiles > 0 {
			if pi := st.takeProfile(); pi >= 0 {
				st.profs[pi] = *p
				st.recs[ri].prof = pi
			}
		}
	}
}

// takeProfile returns a free profile's index, or -1.
func (st *rateState) takeProfile() int32 {
	if n := len(st.freeProfs); n > 0 {
		pi := st.freeProfs[n-1]
		st.freeProfs = st.freeProfs[:n-1]
		return pi
	}
	if len(st.profs) < st.maxProfiles {
		st.profs = append(grow(st.profs), profile{})
		return int32(len(st.profs) - 1)
	}
	return -1
}

func decodeFirstSeen(d *state.Decoder, st *fsState) {
	st.start = d.Varint()
	if d.Err() == nil && st.start != math.MinInt64 && (st.start < minUnix/60-minutesPerDay || st.start > maxUnix/60+minutesPerDay) {
		d.Fail("first_seen start minute %d is out of range", st.start)
		return
	}
	if open := st.rs.open; st.start == math.MinInt64 && len(open) > 0 {
		// Written before starts were taken as events came.
		st.start = open[0].b
	}
	st.restored()
	n := d.Count("combination", maxSnapshotKeys)
	for i := 0; i < n && d.Err() == nil; i++ {
		h := decodeHash(d)
		seen := decodeMinute(d, "seen")
		if d.Err() != nil {
			return
		}
		if st.tuples.find(h) != nil {
			d.Fail("combination %x appears twice", h)
			return
		}
		st.tuples.insert(h, seen, 0)
	}
	if !d.Bool() {
		return
	}
	n = d.Count("key", maxSnapshotKeys)
	for i := 0; i < n && d.Err() == nil; i++ {
		h := decodeHash(d)
		seen, first := decodeMinute(d, "seen"), decodeMinute(d, "first")
		if d.Err() != nil {
			return
		}
		if st.entities == nil {
			continue // key_learning was turned off
		}
		if st.entities.find(h) != nil {
			d.Fail("key %x appears twice", h)
			return
		}
		st.entities.insert(h, seen, first)
	}
}
