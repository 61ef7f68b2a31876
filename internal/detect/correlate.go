package detect

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
)

// A Correlator evaluates correlation rules over the observations of base
// rule matches, in event time.
//
// Observations may arrive out of order. The correlator keeps them in a
// reorder buffer and processes them in (event time, event ID, rule) order
// once the watermark, the latest event time seen, is more than Lateness
// past them. An observation that arrives after later ones were processed
// (more than Lateness behind the watermark) is late: it is counted and
// dropped. Every observation that is on time is processed at the same place
// in the same order however the input was batched, split among workers or
// reordered, so the matches are the same.
//
// Windows slide over event time. For each correlation and group:
//
//   - A condition that only needs the aggregate to be large enough (gt or
//     gte on event_count, value_count, temporal, temporal_ordered or
//     value_sum, and temporal types without a condition) is checked each
//     time a match joins the group; the window is the matches of the last
//     timespan, up to and including the new one. When it holds the
//     correlation fires at that match's time.
//   - Any other condition (with lt, lte, eq or neq, and every value_avg and
//     value_percentile) is checked when a window closes: a window opens at
//     the group's oldest match and covers timespan after it, ends included,
//     and closes once the processing reaches a later event time. If the
//     condition does not hold, the oldest matches leave and the window
//     reopens at the next one.
//
// A correlation fires at most once per window: firing consumes the
// window's matches, and the group starts again from the next match.
//
// A Correlator is not safe for concurrent use: feed it from one goroutine.
type Correlator struct {
	cs      *CorrelationSet
	opts    CorrelatorOptions
	tables  []*table
	pending obsHeap
	timers  timerHeap
	wm      int64  // watermark: the latest event time seen
	clock   int64  // observations older than this are late
	last    obsKey // the last observation processed
	emit    func(*CorrelationMatch)
	stats   CorrelatorStats
	// Working memory of matchEvents, and the buffers the event IDs of
	// matches and their lists are taken from.
	refs    []string
	ends    []int
	ids     []byte
	idLists []string
	// The sort keys of pending[:sealed], in sorted runs that start at
	// runs (see sortPending).
	keys   []sortKey
	runs   []int
	sealed int
	// In a partition of a parallel Flush: the correlations it owns, and
	// what is being processed, which orders its matches among the others'.
	owns  []bool
	cause flushCause
}

// CorrelatorOptions configure a Correlator.
type CorrelatorOptions struct {
	// Lateness is how far behind the latest event time an observation may
	// arrive and still be correlated; 0 means DefaultLateness. Unbounded
	// holds every observation until Flush, for offline use.
	Lateness time.Duration
	// MaxPending bounds the reorder buffer; when it is full the oldest
	// observation is processed early. 0 means 1,048,576.
	MaxPending int
	// MaxGroups bounds the groups of each correlation; the least recently
	// used is evicted first. 0 means 1,048,576.
	MaxGroups int
	// MaxEntries bounds the base matches held by each correlation, all
	// groups together; 0 means 4,194,304.
	MaxEntries int
	// Logger receives warnings (a checkpoint that cannot be read); nil
	// discards them.
	Logger *slog.Logger
}

// DefaultLateness is the lateness tolerance when none is configured.
const DefaultLateness = 5 * time.Minute

// Unbounded is a Lateness that holds every observation until Flush.
const Unbounded time.Duration = math.MaxInt64

// CorrelatorStats describe a correlator's state and what it dropped.
type CorrelatorStats struct {
	Groups  int   // groups held, all correlations together
	Entries int   // base matches held in windows
	Pending int   // observations waiting in the reorder buffer
	Bytes   int64 // estimated memory of the windows
	Matches int64 // correlation matches produced
	Late    int64 // observations dropped because they arrived too late
	Forced  int64 // observations processed early because the buffer was full
	Evicted int64 // groups dropped to respect MaxGroups or MaxEntries
	Trimmed int64 // matches dropped from windows holding MaxWindowEvents
}

// CorrelationMatch is one firing of a correlation.
type CorrelationMatch struct {
	Correlation *Correlation
	Group       []GroupValue // the group-by values, in group-by order
	Time        time.Time    // the event time at which it fired
	Start, End  time.Time    // the window
	Value       float64      // the aggregate the condition held for
	// Text is, for value_percentile, the value whose share held.
	Text  string
	Count int // base matches in the window
	// Events are the IDs of the base events that built the match, at most
	// MaxMatchEvents, oldest first; for a correlation of correlations the
	// base events of the matches it correlated. They share memory with
	// the IDs of the correlator's other matches, so that a match costs no
	// allocation of its own: a caller that keeps some of them long should
	// keep copies.
	Events []string
}

// GroupValue is one group-by field and its value.
type GroupValue struct {
	Field string
	Value string
}

// NewCorrelator returns an empty correlator for the correlations of cs.
func NewCorrelator(cs *CorrelationSet, opts CorrelatorOptions) *Correlator {
	if opts.Lateness <= 0 {
		opts.Lateness = DefaultLateness
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 1 << 20
	}
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = 1 << 20
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1 << 22
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Correlator{cs: cs, opts: opts}
	c.reset()
	return c
}

func (c *Correlator) reset() {
	c.tables = make([]*table, len(c.cs.Correlations()))
	for i, corr := range c.cs.Correlations() {
		c.tables[i] = newTable(corr)
	}
	c.pending = nil
	c.keys, c.runs, c.sealed = nil, nil, 0
	c.timers = nil
	c.wm, c.clock = math.MinInt64, math.MinInt64
	c.last = obsKey{t: math.MinInt64}
}

// obsKey orders observations.
type obsKey struct {
	t    int64
	ref  string // compact event ID
	rule int32
}

func (a obsKey) compare(b obsKey) int {
	if c := cmp.Compare(a.t, b.t); c != 0 {
		return c
	}
	if c := strings.Compare(a.ref, b.ref); c != 0 {
		return c
	}
	return cmp.Compare(a.rule, b.rule)
}

func (o *Observation) key() obsKey { return obsKey{o.t, o.ref, o.rule} }

// Add takes one observation and calls emit with every correlation match it
// completes, in order. emit may be nil.
func (c *Correlator) Add(o *Observation, emit func(*CorrelationMatch)) {
	if o == nil {
		return
	}
	if o.t < c.clock || o.key().compare(c.last) <= 0 {
		c.stats.Late++
		return
	}
	c.emit = emit
	c.wm = max(c.wm, o.t)
	if c.opts.Lateness == Unbounded {
		// Nothing is released before Flush: collect, and sort once.
		c.pending = append(c.pending, o)
		if len(c.pending) > c.opts.MaxPending {
			c.forceHalf()
		}
		c.emit = nil
		return
	}
	c.pending.push(o)
	c.release(satSub(c.wm, c.opts.Lateness))
	for len(c.pending) > c.opts.MaxPending {
		c.stats.Forced++
		o := c.pending.pop()
		c.clock = max(c.clock, o.t)
		c.process(o)
	}
	c.emit = nil
}

// forceHalf processes the older half of an unbounded buffer that is full.
func (c *Correlator) forceHalf() {
	c.sortPending()
	n := len(c.pending) - c.opts.MaxPending/2
	for _, o := range c.pending[:n] {
		c.process(o)
	}
	c.stats.Forced += int64(n)
	c.clock = max(c.clock, c.pending[n-1].t)
	c.pending = append(c.pending[:0], c.pending[n:]...)
	clear(c.pending[len(c.pending):cap(c.pending)])
}

// sortPending orders the buffer, which is then also a valid heap.
// Observations mostly arrive in time order, out of order only among those
// of one second (CloudTrail's resolution) or within the lateness: an
// insertion sort orders them in a few comparisons each, and gives up for
// a general sort when they are far from ordered.
//
// The sort works on a copy of what orders each observation (its time, the
// first bytes of its event's ID and its position in the buffer), so that
// comparisons read contiguous memory and look at the observation only for
// ties. The copies hold no pointer, so that moving them costs the garbage
// collector nothing while it runs.
func (c *Correlator) sortPending() {
	c.sealRuns()
	keys, starts := c.keys, c.runs
	switch {
	case len(starts) > maxMergeRuns || len(keys) < 16*len(starts):
		insertionSort(keys, c.pending)
	case len(starts) > 1:
		keys = mergeRuns(keys, starts, c.pending)
	}
	sorted := make([]*Observation, len(c.pending), cap(c.pending))
	for i := range keys {
		sorted[i] = c.pending[keys[i].i]
	}
	c.pending = sorted
	c.keys, c.runs, c.sealed = c.keys[:0], c.runs[:0], 0
}

// EndRun tells a correlator whose Lateness is Unbounded that the
// observations added since the last call came from one input, in its
// order. It orders them as a run of their own now, so that Flush, which
// cannot start before the last input is read, only merges the runs.
// Without it, Flush finds the runs itself.
func (c *Correlator) EndRun() {
	if c.opts.Lateness == Unbounded {
		c.sealRuns()
	}
}

// sealRuns copies the sort keys of the observations added since the last
// call, splits them into runs where time goes back (a hunt's observations
// come as a run per input, each in time order or nearly, only the
// observations of one time out of order) and orders each run.
func (c *Correlator) sealRuns() {
	p := c.pending[c.sealed:]
	base := len(c.keys)
	for i, o := range p {
		c.keys = append(c.keys, sortKey{t: o.t, pre: refPrefix(o.ref), i: int32(c.sealed + i)})
		if i == 0 || o.t < p[i-1].t {
			c.runs = append(c.runs, base+i)
		}
	}
	c.sealed = len(c.pending)
	if len(c.runs) > maxMergeRuns {
		return // too many to merge: sortPending sorts them all
	}
	for r := len(c.runs) - 1; r >= 0 && c.runs[r] >= base; r-- {
		end := len(c.keys)
		if r+1 < len(c.runs) {
			end = c.runs[r+1]
		}
		insertionSort(c.keys[c.runs[r]:end], c.pending)
	}
}

// sortKey is what orders an observation, for sortPending.
type sortKey struct {
	t   int64
	pre uint64 // the first eight bytes of the observation's ref, big-endian
	i   int32  // the observation's position in pending
}

// refPrefix returns the first eight bytes of ref as a big-endian number,
// padded with zeros: prefixes compare as the refs do, unless equal.
func refPrefix(ref string) uint64 {
	var b [8]byte
	copy(b[:], ref)
	return binary.BigEndian.Uint64(b[:])
}

// keyLess orders sort keys as obsLess orders their observations, which
// are in obs.
func keyLess(a, b *sortKey, obs []*Observation) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	if a.pre != b.pre {
		return a.pre < b.pre
	}
	return obsLess(obs[a.i], obs[b.i])
}

// insertionSort orders p, the keys of observations in obs, in a few
// comparisons per observation when it is nearly ordered, and gives up for
// a general sort when it is not.
func insertionSort(p []sortKey, obs []*Observation) {
	budget := 8 * len(p)
	for i := 1; i < len(p); i++ {
		k := p[i]
		j := i
		for j > 0 && keyLess(&k, &p[j-1], obs) {
			j--
		}
		if j == i {
			continue
		}
		if budget -= i - j; budget < 0 {
			slices.SortFunc(p, func(a, b sortKey) int {
				if a.t != b.t {
					return cmp.Compare(a.t, b.t)
				}
				if a.pre != b.pre {
					return cmp.Compare(a.pre, b.pre)
				}
				return obsCompare(obs[a.i], obs[b.i])
			})
			return
		}
		copy(p[j+1:i+1], p[j:i])
		p[j] = k
	}
}

// maxMergeRuns is the number of sorted runs up to which sortPending
// merges them rather than sorting.
const maxMergeRuns = 64

// mergeRuns merges the sorted runs of p that start at starts, two at a
// time, in log2(runs) passes between p and a second buffer: n·log(runs)
// comparisons rather than a sort's n·log(n). It returns the buffer that
// holds the result.
func mergeRuns(p []sortKey, starts []int, obs []*Observation) []sortKey {
	src, dst := p, make([]sortKey, len(p))
	bounds := append(slices.Clone(starts), len(p)) // run j is [bounds[j], bounds[j+1])
	for len(bounds) > 2 {
		next := bounds[:0:0]
		for j := 0; j+1 < len(bounds); j += 2 {
			lo, mid, hi := bounds[j], bounds[j+1], bounds[j+1]
			if j+2 < len(bounds) {
				hi = bounds[j+2]
			}
			merge2(dst[lo:hi], src[lo:mid], src[mid:hi], obs)
			next = append(next, lo)
		}
		bounds = append(next, len(p))
		src, dst = dst, src
	}
	return src
}

// merge2 merges the sorted a and b, keys of observations in obs, into out,
// which holds both.
func merge2(out, a, b []sortKey, obs []*Observation) {
	i, j := 0, 0
	for k := range out {
		if j == len(b) || (i < len(a) && !keyLess(&b[j], &a[i], obs)) {
			out[k] = a[i]
			i++
		} else {
			out[k] = b[j]
			j++
		}
	}
}

// obsCompare orders observations by (event time, event ID, rule).
func obsCompare(a, b *Observation) int {
	if a.t != b.t {
		return cmp.Compare(a.t, b.t)
	}
	if c := strings.Compare(a.ref, b.ref); c != 0 {
		return c
	}
	return cmp.Compare(a.rule, b.rule)
}

// obsLess orders observations by (event time, event ID, rule).
func obsLess(a, b *Observation) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	if a.ref != b.ref {
		return a.ref < b.ref
	}
	return a.rule < b.rule
}

// Advance tells the correlator that event time has reached t although no
// observation says so, for example when the input is idle: observations and
// windows that Lateness no longer keeps open are processed and closed.
func (c *Correlator) Advance(t time.Time, emit func(*CorrelationMatch)) {
	c.emit = emit
	c.wm = max(c.wm, t.UnixNano())
	c.release(satSub(c.wm, c.opts.Lateness))
	c.emit = nil
}

// Flush processes every pending observation and closes every window, as at
// the end of the input. Observations added afterwards that are older than
// the last one processed are late.
func (c *Correlator) Flush(emit func(*CorrelationMatch)) {
	c.emit = emit
	c.sortPending()
	if !c.flushParallel() {
		eachAhead(c.pending, func(_ int, o *Observation) { c.process(o) })
		c.fireTimers(math.MaxInt64)
	}
	clear(c.pending)
	c.pending = c.pending[:0]
	for i, tb := range c.tables {
		// No window can fire any more.
		st := &c.stats
		st.Evicted += tb.evicted
		st.Trimmed += tb.trimmed
		c.tables[i] = newTable(tb.c)
	}
	if c.wm > c.clock {
		c.clock = c.wm + 1 // the windows of wm are closed
	}
	c.emit = nil
}

// WithRules returns a correlator for the correlations of cs, for example
// after a rule reload, with the options of c and the state of c for the
// correlations that are unchanged (see Restore). c is left as it was.
func (c *Correlator) WithRules(cs *CorrelationSet) (*Correlator, error) {
	var buf bytes.Buffer
	if err := c.Snapshot(&buf); err != nil {
		return nil, err
	}
	next := NewCorrelator(cs, c.opts)
	if err := next.Restore(&buf); err != nil {
		return nil, err
	}
	return next, nil
}

// Stats returns the correlator's counters and the size of its state.
func (c *Correlator) Stats() CorrelatorStats {
	st := c.stats
	st.Pending = len(c.pending)
	for _, tb := range c.tables {
		st.Groups += tb.live
		st.Entries += tb.nent
		st.Evicted += tb.evicted
		st.Trimmed += tb.trimmed
		st.Bytes += tb.memory()
	}
	return st
}

// memory estimates the bytes a table holds.
func (tb *table) memory() int64 {
	const groupSize, entrySize = 40, 32
	n := int64(cap(tb.groups))*groupSize + int64(cap(tb.entries))*entrySize + int64(len(tb.index))*4 + tb.bytes
	n += int64(cap(tb.counts))*8 + int64(cap(tb.sums))*8 + int64(cap(tb.perSrc))*4 + int64(cap(tb.ord))*12
	for _, m := range tb.counts {
		n += int64(len(m)) * 48 // a map slot and its share of the map's overhead
	}
	return n
}

// release processes the pending observations older than limit, in order,
// and closes the windows that end before it.
func (c *Correlator) release(limit int64) {
	for len(c.pending) > 0 && c.pending[0].t < limit {
		c.process(c.pending.pop())
	}
	c.fireTimers(limit)
	c.clock = max(c.clock, limit)
}

// process applies one observation: first the windows that end before it
// close, then it joins the group of each correlation it feeds.
func (c *Correlator) process(o *Observation) {
	c.fireTimers(o.t)
	c.last = o.key()
	for j, it := range o.items {
		if c.owns != nil {
			if !c.owns[it.corr.num] {
				continue
			}
			c.cause.phase, c.cause.item = 1, j
		}
		s := o.ref // the entry string of an item without a value
		if it.val != "" {
			s = o.ref + it.val
		}
		c.add(c.tables[it.corr.num], o.t, s, it.src, it.key)
	}
}

// add puts one match (entry string s, from producer src) into the group key
// of tb at time t.
func (c *Correlator) add(tb *table, t int64, s string, src int32, key string) {
	corr := tb.c
	span := int64(corr.Timespan)
	g := tb.find(key)
	if g < 0 {
		if corr.early && tb.ord != nil && src > 0 {
			return // only the first step's match starts a chain
		}
		for tb.live >= c.opts.MaxGroups && tb.tail >= 0 {
			tb.remove(tb.tail)
			tb.evicted++
		}
		g = tb.insert(key)
	}
	if corr.early {
		for tb.groups[g].n > 0 && tb.anchor(g) < t-span {
			tb.popFront(g)
		}
		// A match of a later step than the chain has reached can never
		// be part of a chain: the matches before it only leave.
		if tb.ord != nil && src > tb.steps(g) {
			if tb.groups[g].n == 0 {
				tb.remove(g)
			}
			return
		}
	}
	for tb.nent >= c.opts.MaxEntries && tb.tail >= 0 && tb.tail != g {
		tb.remove(tb.tail)
		tb.evicted++
	}
	if n := tb.groups[g].n; n > 0 && (n >= MaxWindowEvents || tb.nent >= c.opts.MaxEntries) {
		tb.popFront(g)
		tb.trimmed++
	}
	if !corr.early && tb.groups[g].n == 0 {
		c.schedule(tb, g, t+span)
	}
	tb.push(g, t, s, src)
	tb.touch(g)
	if corr.early {
		if v, text, ok := tb.aggregate(g); ok && tb.holds(v) {
			c.fire(tb, g, t, t-span, t, v, text)
		}
		// Groups whose newest match left the window can never fire again.
		for tb.tail >= 0 && tb.newest(tb.tail) < t-span {
			tb.remove(tb.tail)
		}
	}
}

// fire builds the match of g's window, drops the window and emits the
// match.
func (c *Correlator) fire(tb *table, g int32, at, start, end int64, value float64, text string) {
	corr := tb.c
	var m *CorrelationMatch
	if len(corr.GroupBy) == 1 {
		// The match and its group in one allocation.
		mg := &struct {
			m CorrelationMatch
			g [1]GroupValue
		}{}
		m = &mg.m
		mg.g[0] = GroupValue{Field: corr.GroupBy[0], Value: tb.groups[g].key}
		m.Group = mg.g[:]
	} else {
		m = &CorrelationMatch{Group: make([]GroupValue, len(corr.GroupBy))}
	}
	m.Correlation, m.Time, m.Start, m.End = corr, time.Unix(0, at).UTC(), time.Unix(0, start).UTC(), time.Unix(0, end).UTC()
	m.Value, m.Text, m.Count = value, text, int(tb.groups[g].n)
	if len(corr.GroupBy) != 1 {
		vals := decodeTuple(tb.groups[g].key, len(corr.GroupBy))
		for i, f := range corr.GroupBy {
			m.Group[i] = GroupValue{Field: f, Value: vals[i]}
		}
	}
	m.Events = c.matchEvents(tb, g)
	tb.remove(g)
	c.emitMatch(m)
}

// matchEvents returns the IDs of the events in g's window, at most
// MaxMatchEvents, oldest first and without duplicates (an event that two of
// the correlation's rules match is in the window twice). The IDs are
// decoded into a buffer that the IDs of later matches share, as their
// lists share a slice, so that a match costs no allocation of its own in
// the common case; the list of encoded IDs is working memory of c.
func (c *Correlator) matchEvents(tb *table, g int32) []string {
	refs := c.refs[:0]
	var seen map[string]bool // only for the events of correlation matches
	prev := ""
	size := 0
	tb.each(g, func(e *entry) {
		if len(refs) >= MaxMatchEvents {
			return
		}
		ref := refPart(e.s)
		if ref == "" || ref[0] != refList {
			// The observations of one event are processed one after the
			// other, so a duplicate is the previous entry.
			if ref != prev && !seen[ref] {
				refs = append(refs, ref)
				size += idLen(ref)
			}
			prev = ref
			return
		}
		if seen == nil {
			seen = make(map[string]bool, len(refs))
			for _, r := range refs {
				seen[r] = true
			}
		}
		list, _ := splitRef(ref)
		eachTuple(list, func(x string) {
			r := string(appendRef(nil, x))
			if !seen[r] && len(refs) < MaxMatchEvents {
				seen[r] = true
				refs = append(refs, r)
				size += len(x)
			}
		})
	})
	if len(refs) == 0 {
		return []string{}
	}
	// Decode them into the shared buffer, in room for exactly size bytes,
	// which later matches do not write again.
	if cap(c.ids)-len(c.ids) < size {
		c.ids = make([]byte, 0, max(idChunk, size))
	}
	buf := c.ids
	start := len(buf)
	ends := c.ends[:0]
	for _, ref := range refs {
		if len(ref) == 17 && ref[0] == refUUID {
			buf = appendUUID(buf, ref[1:])
		} else {
			id, _ := splitRef(ref)
			buf = append(buf, id...)
		}
		ends = append(ends, len(buf)-start)
	}
	c.ids = buf
	all := unsafe.String(unsafe.SliceData(buf[start:]), len(buf)-start)
	if cap(c.idLists)-len(c.idLists) < len(refs) {
		c.idLists = make([]string, 0, max(idChunk/64, len(refs)))
	}
	n := len(c.idLists)
	c.idLists = c.idLists[:n+len(refs)]
	out := c.idLists[n : n+len(refs) : n+len(refs)]
	from := 0
	for i, end := range ends {
		out[i] = all[from:end]
		from = end
	}
	clear(refs)
	c.refs, c.ends = refs[:0], ends[:0]
	return out
}

// idChunk is the size of the buffers that the event IDs of correlation
// matches are decoded into; a list of IDs takes a 64th of it.
const idChunk = 16 << 10

// idLen returns the length of the event ID that ref decodes to.
func idLen(ref string) int {
	if len(ref) == 17 && ref[0] == refUUID {
		return 36
	}
	id, _ := splitRef(ref)
	return len(id)
}

// emitMatch hands a match to the caller, if the correlation emits, and to
// the correlations that consume it.
func (c *Correlator) emitMatch(m *CorrelationMatch) {
	corr := m.Correlation
	c.stats.Matches++
	if corr.Emits() && c.emit != nil {
		c.emit(m)
	}
	if len(corr.feeds) == 0 {
		return
	}
	vals := make([]string, len(m.Group))
	for i, g := range m.Group {
		vals[i] = g.Value
	}
	ref := string(appendRefList(nil, m.Events))
	at := m.Time.UnixNano()
	for _, f := range corr.feeds {
		var key string
		if len(f.groupIdx) == 1 {
			key = vals[f.groupIdx[0]]
		} else {
			var b []byte
			for _, i := range f.groupIdx {
				b = appendTuple(b, vals[i])
			}
			key = string(b)
		}
		val := ""
		switch f.corr.Type {
		case sigma.CorrelationValueCount:
			var combo []byte
			for _, i := range f.valueIdx {
				combo = appendTuple(combo, vals[i])
			}
			if len(f.valueIdx) == 1 {
				combo = []byte(vals[f.valueIdx[0]])
			}
			val = string(appendTuple(nil, string(combo)))
		case sigma.CorrelationValueSum, sigma.CorrelationValueAvg, sigma.CorrelationValuePercentile:
			val = vals[f.valueIdx[0]]
		}
		c.add(c.tables[f.corr.num], at, ref+val, f.src, key)
	}
}

// timer closes the window of a group that checks its condition at the end.
type timer struct {
	end  int64
	corr int32
	g    int32
	gen  uint32
	key  string
}

func (c *Correlator) schedule(tb *table, g int32, end int64) {
	gr := &tb.groups[g]
	c.timers.push(timer{end: end, corr: int32(tb.c.num), g: g, gen: gr.gen, key: gr.key})
}

// fireTimers closes, in order, the windows that end before limit.
func (c *Correlator) fireTimers(limit int64) {
	for len(c.timers) > 0 && c.timers[0].end < limit {
		tm := c.timers.pop()
		if c.owns != nil {
			c.cause = flushCause{i: c.cause.i, end: tm.end, corr: tm.corr, key: tm.key}
		}
		tb := c.tables[tm.corr]
		g := tm.g
		if int(g) >= len(tb.groups) || tb.groups[g].gen != tm.gen || tb.groups[g].n == 0 {
			continue // the group was consumed or evicted since
		}
		span := int64(tb.c.Timespan)
		start := tb.anchor(g)
		if end := start + span; end != tm.end {
			c.schedule(tb, g, end) // the oldest match was trimmed
			continue
		}
		if v, text, ok := tb.aggregate(g); ok && tb.holds(v) {
			c.fire(tb, g, tm.end, start, tm.end, v, text)
			continue
		}
		for tb.groups[g].n > 0 && tb.anchor(g) == start {
			tb.popFront(g)
		}
		if tb.groups[g].n == 0 {
			tb.remove(g)
			continue
		}
		c.schedule(tb, g, tb.anchor(g)+span)
	}
}

// satSub returns t-d, saturating at the smallest int64.
func satSub(t int64, d time.Duration) int64 {
	if t == math.MinInt64 {
		return t
	}
	if int64(d) > 0 && t < math.MinInt64+int64(d) {
		return math.MinInt64
	}
	return t - int64(d)
}
