package detect

import (
	"cmp"
	"container/heap"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// A Flush of many observations (a hunt's) processes independent
// correlations in parallel: the correlations are split into partitions,
// none of which feeds another (a correlation of correlations is in the
// partition of the correlations it reads), and each partition processes
// every observation in order for its own correlations, with its own
// window timers. Each match is tagged with what made it (the observation
// being processed, or a window timer before it) so that the matches of
// all partitions come out in the order one correlator would have made
// them.

// parallelFlushMin is the number of pending observations from which a
// Flush runs in parallel.
var parallelFlushMin = 4096

// flushWorkers returns how many partitions a parallel Flush may use.
var flushWorkers = func() int { return runtime.GOMAXPROCS(0) }

// flushCause is what made a match in a partition: while processing
// observation i (len(pending) for the end of the input), a window timer
// (phase 0, in timer order: end, correlation, group) or the observation's
// item (phase 1).
type flushCause struct {
	i     int
	phase int
	end   int64
	corr  int32
	key   string
	item  int
}

func (a *flushCause) compare(b *flushCause) int {
	if c := cmp.Compare(a.i, b.i); c != 0 {
		return c
	}
	if c := cmp.Compare(a.phase, b.phase); c != 0 {
		return c
	}
	if a.phase == 1 {
		return cmp.Compare(a.item, b.item)
	}
	if c := cmp.Compare(a.end, b.end); c != 0 {
		return c
	}
	if c := cmp.Compare(a.corr, b.corr); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

// caused is a match of a partition with what made it.
type caused struct {
	cause flushCause
	m     *CorrelationMatch
}

// flushParallel processes the sorted pending observations and closes every
// window, in partitions run at once, and emits the matches in order. It
// reports false, having done nothing, when the work is too small or the
// correlations cannot be split.
func (c *Correlator) flushParallel() bool {
	workers := flushWorkers()
	if len(c.pending) < parallelFlushMin || workers < 2 {
		return false
	}
	parts := c.partitions(workers)
	if len(parts) < 2 {
		return false
	}
	subs := make([]*Correlator, len(parts))
	for p, owns := range parts {
		sub := &Correlator{cs: c.cs, opts: c.opts, tables: c.tables, wm: c.wm, clock: c.clock, last: c.last, owns: owns}
		for _, tm := range c.timers {
			if owns[tm.corr] {
				sub.timers = append(sub.timers, tm)
			}
		}
		heap.Init(&sub.timers)
		subs[p] = sub
	}
	outs := make([][]caused, len(parts))
	var wg sync.WaitGroup
	for p, sub := range subs {
		wg.Go(func() {
			sub.emit = func(m *CorrelationMatch) { outs[p] = append(outs[p], caused{sub.cause, m}) }
			eachAhead(c.pending, func(i int, o *Observation) {
				sub.cause = flushCause{i: i}
				sub.process(o)
			})
			sub.cause = flushCause{i: len(c.pending)}
			sub.fireTimers(math.MaxInt64)
		})
	}
	wg.Wait()
	// A cause belongs to one partition, whose matches come in the order of
	// their causes: merging the partitions' lists by cause restores the
	// order of one correlator.
	all := mergeCaused(outs)
	for _, sub := range subs {
		c.stats.Matches += sub.stats.Matches
	}
	c.timers = c.timers[:0]
	if n := len(c.pending); n > 0 {
		c.last = c.pending[n-1].key()
	}
	if c.emit != nil {
		for _, m := range all {
			c.emit(m)
		}
	}
	return true
}

// mergeCaused merges lists of matches, each in the order of their causes,
// into one in that order; of matches of one cause, which come from one
// list, it keeps the list's order.
func mergeCaused(lists [][]caused) []*CorrelationMatch {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]*CorrelationMatch, 0, n)
	for len(out) < n {
		best := -1
		for i, l := range lists {
			if len(l) > 0 && (best < 0 || l[0].cause.compare(&lists[best][0].cause) < 0) {
				best = i
			}
		}
		out = append(out, lists[best][0].m)
		lists[best] = lists[best][1:]
	}
	return out
}

// partitions splits the correlations that have pending work into at most
// n sets, none of which feeds another, balanced by the number of pending
// items; nil when there are fewer than two.
func (c *Correlator) partitions(n int) [][]bool {
	corrs := c.cs.Correlations()
	// Union the correlations that feed one another.
	root := make([]int, len(corrs))
	for i := range root {
		root[i] = i
	}
	find := func(i int) int {
		for root[i] != i {
			root[i] = root[root[i]]
			i = root[i]
		}
		return i
	}
	for _, corr := range corrs {
		for _, f := range corr.feeds {
			root[find(corr.num)] = find(f.corr.num)
		}
	}
	weight := make([]int, len(corrs))
	for _, o := range c.pending {
		for _, it := range o.items {
			weight[find(it.corr.num)]++
		}
	}
	type comp struct{ root, weight int }
	var comps []comp
	for i := range corrs {
		if find(i) == i && weight[i] > 0 {
			comps = append(comps, comp{i, weight[i]})
		}
	}
	if len(comps) < 2 {
		return nil
	}
	// Heaviest first, each to the lightest partition.
	slices.SortFunc(comps, func(a, b comp) int { return cmp.Compare(b.weight, a.weight) })
	n = min(n, len(comps))
	load := make([]int, n)
	of := make([]int, len(corrs)) // partition of each component root
	for _, cp := range comps {
		p := 0
		for q := range load {
			if load[q] < load[p] {
				p = q
			}
		}
		load[p] += cp.weight
		of[cp.root] = p
	}
	parts := make([][]bool, n)
	for p := range parts {
		parts[p] = make([]bool, len(corrs))
	}
	for i := range corrs {
		parts[of[find(i)]][i] = true
	}
	return parts
}

// readAhead is how many observations ahead of the one processed
// eachAhead reads.
const readAhead = 8

// eachAhead calls fn with every observation of p in order, having read
// the one readAhead places further first: its time and the key of its
// first item. A flush's observations are in time order, not in the order
// they were allocated in, so each is a cache miss; reading ahead lets the
// processor overlap the misses of several instead of waiting for each.
func eachAhead(p []*Observation, fn func(i int, o *Observation)) {
	var sum int64
	for i, o := range p {
		if j := i + readAhead; j < len(p) {
			n := p[j]
			sum += n.t
			if len(n.items) > 0 && len(n.items[0].key) > 0 {
				sum += int64(n.items[0].key[0])
			}
		}
		fn(i, o)
	}
	readSum.Add(sum)
}

// readSum keeps what eachAhead reads, so that the reads are done.
var readSum atomic.Int64
