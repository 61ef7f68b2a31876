package baseline

import (
	"math"
	"time"
	"unsafe"
)

// The model of a rate rule, per key:
//
//   - A flat baseline: exponentially weighted sums of the bucket values
//     (s1), of their squares (s2) and of the weights (w), with a half-life
//     of FlatHalfLife. Buckets without events count as zeros for counts
//     and sums; they are applied in closed form when the next event comes
//     (k empty buckets multiply s1 and s2 by b^k and add (1-b^k)/(1-b) to
//     w), so an idle key costs nothing. For a mean, only buckets with
//     events count, with a half-life of FlatHalfLife worth of buckets.
//     mean = s1/w, variance = s2/w - mean².
//   - For counts and sums with seasonality week, a time-of-week profile:
//     for each of the 168 hours of the week (Monday 00:00 UTC first), the
//     weighted sums of the bucket values and their squares over the same
//     hour of past weeks, with a half-life of SeasonalHalfLife. An hour
//     is folded into its slot when it is over. A slot is used once it
//     holds a whole hour; before that the flat baseline stands in.
//
// A bucket is a spike when the key has learned for the rule's learning
// period, and observed >= min, events >= min_events, (observed -
// expected) / stddev >= zscore and observed / expected >= ratio, where
// stddev is at least sqrt(expected) (the Poisson noise of a count). A spike
// fires unless the key is cooling down from the last one. A spike's value
// is learned clipped to expected + zscore × stddev, so an attack does not
// teach the baseline that it is normal, while a lasting change of level
// still moves the baseline up, one clipped bucket at a time.

// Half-lives of the learned values.
const (
	FlatHalfLife     = 24 * time.Hour
	SeasonalHalfLife = 4 * 7 * 24 * time.Hour
)

const (
	slotsPerWeek = 168
	// hourOfWeekShift makes hour 0 of the Unix epoch, a Thursday, slot 72.
	hourOfWeekShift = 72
	minutesPerDay   = 24 * 60
	minutesPerWeek  = 7 * minutesPerDay
	// ratioFloor stands in for an expected value of zero in the ratio.
	ratioFloor = 1e-9
)

// rateRec is the learned state of one key: 40 bytes.
type rateRec struct {
	s1, s2, w float64
	first     int32 // start of the key's first bucket, minutes since the epoch
	last      int32 // start of its last closed bucket
	cool      int32 // no spike fires before this minute
	prof      int32 // index of its profile, or -1
}

// profile is the time-of-week profile of one key: 1,368 bytes.
type profile struct {
	start, cur int32   // first hour folded into slots; the hour being summed (hours since the epoch)
	hs1, hs2   float64 // sums of the current hour
	s1, s2     [slotsPerWeek]float32
}

const (
	recSize     = int64(unsafe.Sizeof(rateRec{}))
	profileSize = int64(unsafe.Sizeof(profile{}))
)

// rateState is the state of one rate rule.
type rateState struct {
	rs          *ruleState
	keys        *table // aux: index in recs
	recs        []rateRec
	freeRecs    []int32
	profs       []profile
	freeProfs   []int32
	maxProfiles int
	beta        float64 // flat decay per bucket (or per bucket with events, for a mean)
	betaW       float64 // profile decay per week
	bph         float64 // buckets per hour
	sweepDay    int64   // day of the last reclaim of idle profiles
}

func newRateState(rs *ruleState, maxKeys, maxProfiles int) *rateState {
	bucket := rs.r.Bucket
	st := &rateState{
		rs:          rs,
		keys:        newTable(maxKeys),
		maxProfiles: maxProfiles,
		beta:        math.Exp2(-float64(bucket) / float64(FlatHalfLife)),
		betaW:       math.Exp2(-float64(7*24*time.Hour) / float64(SeasonalHalfLife)),
		bph:         float64(time.Hour / bucket),
		sweepDay:    math.MinInt64,
	}
	if rs.r.Seasonality != SeasonalityWeek {
		st.maxProfiles = 0
	}
	st.keys.onEvict = func(s *slot) { st.free(s.aux) }
	return st
}

func (st *rateState) free(ri int32) {
	if ri < 0 || int(ri) >= len(st.recs) {
		return
	}
	rec := &st.recs[ri]
	if rec.prof >= 0 {
		st.freeProfs = append(st.freeProfs, rec.prof)
	}
	*rec = rateRec{prof: -1}
	st.freeRecs = append(st.freeRecs, ri)
}

func (st *rateState) newRec(b int64) int32 {
	var ri int32
	if n := len(st.freeRecs); n > 0 {
		ri = st.freeRecs[n-1]
		st.freeRecs = st.freeRecs[:n-1]
	} else {
		ri = int32(len(st.recs))
		st.recs = append(grow(st.recs), rateRec{})
	}
	st.recs[ri] = rateRec{first: int32(b), last: int32(b - st.rs.bucketMin), cool: math.MinInt32, prof: -1}
	return ri
}

// grow returns s with room for one more element, growing by an eighth
// rather than append's quarter or double, so that large slabs waste less.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s
	}
	n := max(16, len(s)/8)
	out := make([]T, len(s), len(s)+n)
	copy(out, s)
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// bucketStart returns the start of the bucket of size minutes that holds
// minute, without a division for one-minute buckets, the most common.
func bucketStart(minute, size int64) int64 {
	if size == 1 {
		return minute
	}
	return floorDiv(minute, size) * size
}

func hourOf(minute int64) int64 { return floorDiv(minute, 60) }

func slotOf(hour int64) int { return int(floorMod(hour+hourOfWeekShift, slotsPerWeek)) }

// baselineAt is what a bucket is compared with.
type baselineAt struct {
	mean     float64 // the flat mean
	expected float64 // the slot's mean, or the flat mean
	stddev   float64
	seasonal bool
}

// close folds a closed bucket into its key and reports a spike that fires.
func (st *rateState) close(ob *openBucket, bk *bucket, emit func(Match)) {
	rs := st.rs
	b := ob.b
	r := rs.r
	x := float64(bk.n)
	switch r.aggregate() {
	case AggregateSum:
		x = bk.sum
	case AggregateMean:
		x = bk.sum / float64(bk.n)
	}
	var ri int32
	if s := st.keys.find(bk.h); s != nil {
		ri = s.aux
		s.seen = int32(b)
	} else {
		ri = st.newRec(b)
		st.keys.insert(bk.h, int32(b), ri)
	}
	rec := &st.recs[ri]
	known := rec.w > 0
	st.catchUp(rec, b)
	if rec.prof < 0 && st.maxProfiles > 0 {
		st.attachProfile(rec, b)
	}
	base := st.baseline(rec, b)
	z := (x - base.expected) / base.stddev
	ratio := x / max(base.expected, ratioFloor)
	learned := known && b-int64(rec.first) >= int64(r.Learning/time.Minute)
	th := &r.Threshold
	unusual := learned && z >= th.ZScore
	if unusual && x >= th.Min && bk.n >= int64(th.MinEvents) && ratio >= th.Ratio && b >= int64(rec.cool) {
		rec.cool = clampMinute(b + int64(r.Cooldown/time.Minute))
		emit(rs.rateMatch(ob, bk, x, z, ratio, base))
	}
	learn := x
	if unusual && th.ZScore > 0 {
		learn = min(x, base.expected+th.ZScore*base.stddev)
	}
	st.learn(rec, b, learn)
}

// catchUp applies the empty buckets between the key's last bucket and b,
// and brings its profile to b's hour.
func (st *rateState) catchUp(rec *rateRec, b int64) {
	if st.rs.r.aggregate() != AggregateMean {
		if gap := (b-int64(rec.last))/st.rs.bucketMin - 1; gap > 0 {
			f := math.Pow(st.beta, float64(gap))
			rec.s1 *= f
			rec.s2 *= f
			rec.w = f*rec.w + (1-f)/(1-st.beta)
		}
	}
	if rec.prof >= 0 {
		st.roll(&st.profs[rec.prof], hourOf(b))
	}
}

// baseline returns what the bucket starting at b is compared with.
func (st *rateState) baseline(rec *rateRec, b int64) baselineAt {
	var out baselineAt
	variance := 0.0
	if rec.w > 0 {
		out.mean = rec.s1 / rec.w
		variance = max(0, rec.s2/rec.w-out.mean*out.mean)
	}
	out.expected = out.mean
	if rec.prof >= 0 {
		p := &st.profs[rec.prof]
		s := slotOf(hourOf(b))
		if n := p.folds(s); n >= 1 {
			w := st.bph * (1 - math.Pow(st.betaW, float64(n))) / (1 - st.betaW)
			m := float64(p.s1[s]) / w
			out.expected = m
			variance = max(0, float64(p.s2[s])/w-m*m)
			out.seasonal = true
		}
	}
	floor := 1e-12
	if st.rs.r.aggregate() != AggregateMean {
		floor = max(floor, out.expected) // Poisson noise
	}
	out.stddev = math.Sqrt(max(variance, floor))
	return out
}

// learn adds the value of the bucket at b.
func (st *rateState) learn(rec *rateRec, b int64, x float64) {
	rec.s1 = st.beta*rec.s1 + x
	rec.s2 = st.beta*rec.s2 + x*x
	rec.w = st.beta*rec.w + 1
	rec.last = int32(b)
	if rec.prof >= 0 {
		p := &st.profs[rec.prof]
		p.hs1 += x
		p.hs2 += x * x
	}
}

// attachProfile gives rec a profile starting with the hour after b, if
// one is free; once a day it takes back the profiles of keys idle for a
// week.
func (st *rateState) attachProfile(rec *rateRec, b int64) {
	if len(st.freeProfs) == 0 && len(st.profs) >= st.maxProfiles {
		day := floorDiv(b, minutesPerDay)
		if day == st.sweepDay {
			return
		}
		st.sweepDay = day
		st.keys.each(func(s *slot) {
			o := &st.recs[s.aux]
			if o.prof >= 0 && int64(o.last) < b-minutesPerWeek {
				st.freeProfs = append(st.freeProfs, o.prof)
				o.prof = -1
			}
		})
	}
	var pi int32
	if n := len(st.freeProfs); n > 0 {
		pi = st.freeProfs[n-1]
		st.freeProfs = st.freeProfs[:n-1]
	} else if len(st.profs) < st.maxProfiles {
		pi = int32(len(st.profs))
		st.profs = append(grow(st.profs), profile{})
	} else {
		return
	}
	h := hourOf(b)
	st.profs[pi] = profile{start: int32(h + 1), cur: int32(h)}
	rec.prof = pi
}

// roll folds the hours before hour into the profile's slots: the hour
// being summed, then empty hours.
func (st *rateState) roll(p *profile, hour int64) {
	cur := int64(p.cur)
	if hour <= cur {
		return
	}
	if cur >= int64(p.start) {
		s := slotOf(cur)
		p.s1[s] = float32(st.betaW*float64(p.s1[s]) + p.hs1)
		p.s2[s] = float32(st.betaW*float64(p.s2[s]) + p.hs2)
	}
	p.hs1, p.hs2 = 0, 0
	lo := max(cur+1, int64(p.start))
	if n := hour - lo; n > 0 {
		if n <= slotsPerWeek {
			for h := lo; h < hour; h++ {
				s := slotOf(h)
				p.s1[s] = float32(st.betaW * float64(p.s1[s]))
				p.s2[s] = float32(st.betaW * float64(p.s2[s]))
			}
		} else {
			q, r := n/slotsPerWeek, n%slotsPerWeek
			base := slotOf(lo)
			fq, fq1 := math.Pow(st.betaW, float64(q)), math.Pow(st.betaW, float64(q+1))
			for i := 0; i < slotsPerWeek; i++ {
				s := (base + i) % slotsPerWeek
				f := fq
				if int64(i) < r {
					f = fq1
				}
				p.s1[s] = float32(f * float64(p.s1[s]))
				p.s2[s] = float32(f * float64(p.s2[s]))
			}
		}
	}
	p.cur = int32(hour)
}

// folds returns how many hours slot s has received: those from start up
// to the hour being summed.
func (p *profile) folds(s int) int64 {
	n := int64(p.cur) - int64(p.start)
	if n <= 0 {
		return 0
	}
	q, r := n/slotsPerWeek, n%slotsPerWeek
	off := floorMod(int64(s-slotOf(int64(p.start))), slotsPerWeek)
	if off < r {
		q++
	}
	return q
}

// clampMinute fits a minute into the int32 the state keeps.
func clampMinute(m int64) int32 {
	return int32(min(max(m, math.MinInt32+1), math.MaxInt32))
}

func (st *rateState) bytes() int64 {
	return st.keys.bytes() + int64(cap(st.recs))*recSize + int64(cap(st.profs))*profileSize +
		int64(cap(st.freeRecs)+cap(st.freeProfs))*4
}
