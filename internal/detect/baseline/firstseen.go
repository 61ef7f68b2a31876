package baseline

import (
	"math"
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
type fsState struct {
	rs       *ruleState
	tuples   *table
	entities *table // with key_learning; aux: the minute the key was first seen
	start    int64  // the rule's first bucket, minutes since the epoch; MinInt64 before
}

func newFirstSeenState(rs *ruleState, maxKeys int) *fsState {
	st := &fsState{rs: rs, tuples: newTable(maxKeys), start: math.MinInt64}
	if rs.r.KeyLearning > 0 {
		st.entities = newTable(maxKeys)
	}
	return st
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

// close handles the combinations of one minute.
func (st *fsState) close(ob *openBucket, bk *bucket, emit func(Match)) {
	r := st.rs.r
	b := ob.b
	if st.start == math.MinInt64 {
		st.start = b
	}
	learning := b-st.start < int64(r.Learning/time.Minute)
	young := false
	if st.entities != nil {
		if s := st.entities.find(bk.eh); s != nil {
			s.seen = int32(b)
			young = b-int64(s.aux) < int64(r.KeyLearning/time.Minute)
		} else {
			st.entities.insert(bk.eh, int32(b), int32(b))
			young = true
		}
	}
	if s := st.tuples.find(bk.h); s != nil {
		s.seen = int32(b)
		return
	}
	st.tuples.insert(bk.h, int32(b), 0)
	if learning || young {
		return
	}
	emit(st.rs.firstSeenMatch(ob, bk))
}

func (st *fsState) bytes() int64 {
	n := st.tuples.bytes()
	if st.entities != nil {
		n += st.entities.bytes()
	}
	return n
}
