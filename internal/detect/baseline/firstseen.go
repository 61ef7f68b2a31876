package baseline

import (
	"math"
	"sync/atomic"
	"time"
)

// fsState is the state of one first_seen rule: the hashes of the
// combinations seen, and, with key_learning, when each key was first seen.
//
// Combinations are kept as 64-bit hashes of their values, not the values:
// 21 to 43 bytes a combination whatever its length. Two different
// combinations share a hash with a probability of about n²/2⁶⁵ (3·10⁻⁸
// for a million), in which case the second is taken as seen and does not
// fire: a false negative, never a false alert. When the table is full the
// least recently seen combinations are forgotten; one that comes back
// later fires again as new.
//
// With Lateness Unbounded (a hunt), where every bucket stays open until the
// end, an event of a combination that already has a bucket open at an
// earlier minute gets no bucket of its own: that later bucket would close
// after the earlier one, with the combination known, and only mark it seen
// in its minute. pending remembers, for each combination with open
// buckets, the earliest (aux) and the latest (seen) minute it came in, and
// the close of the earliest bucket marks the combination and its key seen
// in the latest. A long hunt thus keeps a bucket per new combination past
// the learning period, which keeps none (see learn), not one per
// combination and minute.
type fsState struct {
	rs       *ruleState
	tuples   *table
	entities *table // with key_learning; aux: the minute the key was first seen
	pending  *table // with Lateness Unbounded: see above
	// start is the minute the learning period starts, see learn;
	// MinInt64 before the rule's first event.
	start int64
	// floor is the oldest minute start may go back to, once the first
	// event since the evaluator was made or restored came (MinInt64
	// before): that event's minute less slack, the lateness (in minutes,
	// rounded up, and one more) or, with Lateness Unbounded, HuntHorizon.
	floor, slack int64
	// learnEnd is the minute before which an event is of the learning
	// period for sure, floor plus the period, once floor is known and if
	// the rule has a period (MinInt64 otherwise). Extractors read it while
	// batches are applied: those events only teach the rule (see
	// Extractor.teach), so they need no record.
	learnEnd atomic.Int64
	// early counts the events that came older than floor, which teach the
	// rule but do not move the start of its period.
	early int64
}

// HuntHorizon is how much older than the first event read the events of a
// hunt (Lateness Unbounded) may be and still move the start of a
// first_seen rule's learning period: the hunt agrees with a stream of the
// same events as long as its input is out of time order by less.
const HuntHorizon = 24 * time.Hour

func newFirstSeenState(rs *ruleState, maxKeys int, lateness time.Duration) *fsState {
	st := &fsState{rs: rs, tuples: newTable(maxKeys), start: math.MinInt64, floor: math.MinInt64}
	if lateness == Unbounded {
		st.pending = newTable(math.MaxInt)
		st.slack = int64(HuntHorizon / time.Minute)
	} else {
		st.slack = int64(lateness/time.Minute) + 2 // rounded up, and one more
	}
	st.learnEnd.Store(math.MinInt64)
	if rs.r.KeyLearning > 0 {
		st.entities = newTable(maxKeys)
	}
	return st
}

// learn handles at once n events alike of the rule's learning period,
// which only teach: their combination and its key are marked seen in
// minute, with no bucket, since nothing they bring may fire. It reports
// false for
// an event that may be past the period, which takes a bucket (the close
// of its minute tells), and for every event of a rule without a period.
//
// The period starts with the oldest event that counts, whatever the order
// events arrive in, down to floor. With a bounded lateness no event that
// counts is older than the first to arrive by more than the lateness, so
// floor is no limit; with Lateness Unbounded, where any event could be the
// oldest, an event older than the first by more than HuntHorizon is of the
// period but does not move its start (it is counted in Stats.Early). So an
// event is of the period for sure when it is older than floor plus the
// period; the others wait for their minute to close, which tells.
func (st *fsState) learn(h, eh uint64, minute, n int64) bool {
	st.counted(minute, n)
	if minute >= st.learnEnd.Load() {
		return false
	}
	st.teach(h, eh, clampMinute(minute))
	return true
}

// counted takes note of n events of minute that count, for the start of
// the learning period.
func (st *fsState) counted(minute, n int64) {
	if st.floor == math.MinInt64 {
		// The first event since the evaluator was made or restored: no
		// event from now on is older by more than slack (see learn), and
		// a restored start stands.
		f := minute - st.slack
		if st.start != math.MinInt64 {
			f = min(f, st.start)
		}
		st.setFloor(f)
	}
	switch {
	case minute < st.floor:
		st.early += n
	case st.start == math.MinInt64 || minute < st.start:
		st.start = minute
	}
}

// setFloor sets floor, and so the minute before which events are of the
// learning period for sure.
func (st *fsState) setFloor(f int64) {
	st.floor = f
	end := int64(math.MinInt64)
	if period := int64(st.rs.r.Learning / time.Minute); period > 0 {
		end = f + period
	}
	st.learnEnd.Store(end)
}

// restored sets floor from a start restored from a checkpoint, in a hunt,
// where the first event read is long gone: the oldest it may have allowed.
// With a bounded lateness the first event after the restore sets it.
func (st *fsState) restored() {
	if st.pending != nil && st.start != math.MinInt64 {
		st.setFloor(st.start - st.slack)
	}
}

// teach marks a combination and its key seen in minute m, of the learning
// period.
func (st *fsState) teach(h, eh uint64, m int32) {
	if s := st.tuples.find(h); s != nil {
		s.seen = max(s.seen, m)
	} else {
		st.tuples.insert(h, m, 0)
	}
	if st.entities != nil {
		if s := st.entities.find(eh); s != nil {
			s.seen = max(s.seen, m)
			s.aux = min(s.aux, m)
		} else {
			st.entities.insert(eh, m, m)
		}
	}
}

// known handles at once an event whose combination is already known,
// which is most of them: the combination and its key are marked seen in
// minute, and no bucket is needed. It reports false for a combination
// that must wait for its minute to close. Marking at arrival rather than
// at close can change, under eviction pressure only, which combination is
// the least recently seen.
func (st *fsState) known(h, eh uint64, minute int64) bool {
	s := st.tuples.find(h)
	if s == nil {
		return false
	}
	s.seen = max(s.seen, clampMinute(minute))
	if st.entities != nil {
		if es := st.entities.find(eh); es != nil {
			es.seen = max(es.seen, clampMinute(minute))
		}
	}
	return true
}

// later reports whether a combination that is not known, coming in at
// minute, already has a bucket open at an earlier minute, and takes note
// of the minute either way. It is always false without pending.
func (st *fsState) later(h uint64, minute int64) bool {
	if st.pending == nil {
		return false
	}
	m := clampMinute(minute)
	s := st.pending.find(h)
	switch {
	case s == nil:
		st.pending.insert(h, m, m)
		return false
	case s.aux < m:
		s.seen = max(s.seen, m)
		return true
	default:
		s.aux = min(s.aux, m)
		s.seen = max(s.seen, m)
		return false
	}
}

// close handles the combinations of one minute.
func (st *fsState) close(ob *openBucket, bk *bucket, emit func(Match)) {
	r := st.rs.r
	b := ob.b
	if st.pending != nil {
		if s := st.pending.find(bk.h); s != nil && int64(s.aux) == b {
			last := s.seen
			st.pending.remove(bk.h)
			defer st.markSeen(bk, last)
		}
	}
	// The events surely of the learning period got no bucket (see learn);
	// this decides for the others.
	period := int64(r.Learning / time.Minute)
	learning := period > 0 && b-st.start < period
	young := false
	if st.entities != nil {
		if s := st.entities.find(bk.eh); s != nil {
			s.seen = max(s.seen, int32(b))
			young = b-int64(s.aux) < int64(r.KeyLearning/time.Minute)
		} else {
			st.entities.insert(bk.eh, int32(b), int32(b))
			young = true
		}
	}
	if s := st.tuples.find(bk.h); s != nil {
		// Its events (known) or the close of its first bucket
		// (markSeen) may have marked it seen later already: that
		// minute stays.
		s.seen = max(s.seen, int32(b))
		return
	}
	st.tuples.insert(bk.h, int32(b), 0)
	if learning || young {
		return
	}
	emit(st.rs.firstSeenMatch(ob, bk))
}

// markSeen marks bk's combination and its key seen in minute m, the
// latest their later events came in.
func (st *fsState) markSeen(bk *bucket, m int32) {
	if s := st.tuples.find(bk.h); s != nil {
		s.seen = max(s.seen, m)
	}
	if st.entities != nil {
		if s := st.entities.find(bk.eh); s != nil {
			s.seen = max(s.seen, m)
		}
	}
}

func (st *fsState) bytes() int64 {
	n := st.tuples.bytes()
	if st.pending != nil {
		n += st.pending.bytes()
	}
	if st.entities != nil {
		n += st.entities.bytes()
	}
	return n
}
