package detect

import (
	"hash/maphash"
	"slices"
	"strconv"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
)

// The state of one correlation is a table of groups (one per distinct
// group-by value), each holding the base matches of its current window in
// arrival order. Groups and entries live in slabs addressed by int32 and
// are found through an open-addressing hash index, so a group costs about
// 40 bytes plus its key and 5 to 11 bytes of index, and an entry 32 bytes
// plus its compact event ID and value: no per-group allocation but the key.
// The groups are also kept in a list by last use; since matches arrive in
// event-time order, the least recently used group is the one whose newest
// match is oldest, which is the one expired or evicted first.
//
// Aggregates are kept up to date as matches join and leave a window, so a
// condition is checked in constant time: the count, the sum (value_sum and
// value_avg), matches per referenced rule (temporal), and, once a window
// holds more than smallWindow matches, the occurrences of each value
// (value_count, value_percentile); smaller windows are scanned instead,
// which spares a map per group.

// entry is one base match in a group's window.
type entry struct {
	t    int64  // event time, Unix nanoseconds
	s    string // compact event ID(s), then the value (see appendRef)
	src  int32  // position of the producer in the correlation's rules
	next int32  // next entry of the group, or of the free list; -1 ends
}

// group is the window of one group-by value.
type group struct {
	key         string
	prev, next  int32 // by last use, head most recent; next links free groups
	first, last int32 // entries, oldest first
	n           int32 // entries
	gen         uint32
}

// smallWindow is the number of matches up to which a window's distinct
// values are counted by scanning it rather than kept in a map.
const smallWindow = 8

// table is the state of one correlation.
type table struct {
	c      *Correlation
	groups []group
	// Aggregates, parallel to groups, for the types that keep them.
	counts []map[string]int32 // value_count, value_percentile: occurrences of each value, past smallWindow
	sums   []float64          // value_sum, value_avg
	perSrc []int32            // temporal: matches per referenced rule, c.inputs per group
	ord    []chain            // temporal_ordered
	freeG  int32
	live   int
	head   int32
	tail   int32
	index  []int32 // slot → group+1; 0 is empty
	seed   maphash.Seed
	// entries is the slab of all groups' matches.
	entries []entry
	freeE   int32
	nent    int
	bytes   int64 // key and entry string bytes held

	evicted int64 // groups dropped to respect MaxGroups or MaxEntries
	trimmed int64 // entries dropped to respect MaxWindowEvents
}

// chain is the longest prefix of a temporal_ordered correlation's rules
// that a window's matches follow in order, found by taking each step at its
// earliest match. steps is -1 when unknown, after the first step's match
// left the window.
type chain struct {
	steps       int32
	first, last int32 // the entries of the first and last step
}

// valued reports whether the correlation counts occurrences of values.
func (tb *table) valued() bool {
	return tb.c.Type == sigma.CorrelationValueCount || tb.c.Type == sigma.CorrelationValuePercentile
}

// summed reports whether the correlation adds up values.
func (tb *table) summed() bool {
	return tb.c.Type == sigma.CorrelationValueSum || tb.c.Type == sigma.CorrelationValueAvg
}

// grow returns s with room for one more element: doubling while it is
// small, then by an eighth rather than append's quarter, so that large
// slabs waste less.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s
	}
	n := len(s)
	if n > 1<<16 {
		n /= 8
	}
	return slices.Grow(s, max(16, n))
}

func newTable(c *Correlation) *table {
	return &table{c: c, freeG: -1, head: -1, tail: -1, freeE: -1, seed: maphash.MakeSeed()}
}

func (tb *table) hash(key string) uint64 { return maphash.String(tb.seed, key) }

// find returns the group of key, or -1.
func (tb *table) find(key string) int32 {
	if len(tb.index) == 0 {
		return -1
	}
	mask := uint64(len(tb.index) - 1)
	for i := tb.hash(key) & mask; ; i = (i + 1) & mask {
		g := tb.index[i]
		if g == 0 {
			return -1
		}
		if tb.groups[g-1].key == key {
			return g - 1
		}
	}
}

// insert adds a group for key, which must not have one, as the most
// recently used.
func (tb *table) insert(key string) int32 {
	if (tb.live+1)*4 > len(tb.index)*3 {
		tb.grow()
	}
	var g int32
	if tb.freeG >= 0 {
		g = tb.freeG
		tb.freeG = tb.groups[g].next
		gen := tb.groups[g].gen
		tb.groups[g] = group{gen: gen}
	} else {
		g = int32(len(tb.groups))
		tb.groups = append(grow(tb.groups), group{})
		switch {
		case tb.valued():
			tb.counts = append(grow(tb.counts), nil)
		case tb.summed():
			tb.sums = append(grow(tb.sums), 0)
		case tb.c.Type == sigma.CorrelationTemporal:
			tb.perSrc = append(tb.perSrc, make([]int32, tb.c.inputs)...)
		case tb.c.Type == sigma.CorrelationTemporalOrdered:
			tb.ord = append(grow(tb.ord), chain{})
		}
	}
	if tb.ord != nil {
		tb.ord[g] = chain{first: -1, last: -1}
	}
	gr := &tb.groups[g]
	gr.key, gr.first, gr.last, gr.prev, gr.next = key, -1, -1, -1, -1
	tb.place(g)
	tb.live++
	tb.bytes += int64(len(key))
	tb.pushFront(g)
	return g
}

func (tb *table) place(g int32) {
	mask := uint64(len(tb.index) - 1)
	i := tb.hash(tb.groups[g].key) & mask
	for tb.index[i] != 0 {
		i = (i + 1) & mask
	}
	tb.index[i] = g + 1
}

func (tb *table) grow() {
	size := max(16, len(tb.index)*2)
	tb.index = make([]int32, size)
	for g := range tb.groups {
		if tb.groups[g].first != -2 { // not a free slot
			tb.place(int32(g))
		}
	}
}

// remove drops group g and its entries.
func (tb *table) remove(g int32) {
	// The aggregates are reset below: free the entries without them.
	gr := &tb.groups[g]
	for e := gr.first; e >= 0; {
		ent := &tb.entries[e]
		next := ent.next
		tb.bytes -= int64(len(ent.s))
		*ent = entry{next: tb.freeE}
		tb.freeE = e
		e = next
	}
	tb.nent -= int(gr.n)
	gr.n = 0
	tb.unlink(g)
	tb.unindex(g)
	tb.bytes -= int64(len(gr.key))
	gr.key = ""
	gr.first, gr.last = -2, -2 // marks a free slot
	gr.gen++
	gr.next = tb.freeG
	tb.freeG = g
	tb.live--
	switch {
	case tb.valued():
		tb.counts[g] = nil
	case tb.summed():
		tb.sums[g] = 0
	case tb.c.Type == sigma.CorrelationTemporal:
		clear(tb.perSrc[int(g)*tb.c.inputs : int(g+1)*tb.c.inputs])
	}
}

// steps returns how many of a temporal_ordered correlation's rules g's
// matches follow in order, scanning the window only when the earliest
// match of the chain has left it.
func (tb *table) steps(g int32) int32 {
	ch := &tb.ord[g]
	if ch.steps >= 0 {
		return ch.steps
	}
	*ch = chain{first: -1, last: -1}
	for e := tb.groups[g].first; e >= 0; e = tb.entries[e].next {
		tb.extend(ch, e)
	}
	return ch.steps
}

// extend takes entry e, the newest of the window, as the chain's next step
// if it matches that step's rule and is another event than the last step's.
func (tb *table) extend(ch *chain, e int32) {
	ent := &tb.entries[e]
	if int(ch.steps) >= tb.c.inputs || ent.src != ch.steps {
		return
	}
	if ch.last >= 0 && refPart(tb.entries[ch.last].s) == refPart(ent.s) {
		return
	}
	if ch.steps == 0 {
		ch.first = e
	}
	ch.last = e
	ch.steps++
}

// unindex deletes g from the index, shifting later entries of its probe
// run back so lookups need no tombstones.
func (tb *table) unindex(g int32) {
	mask := uint64(len(tb.index) - 1)
	i := tb.hash(tb.groups[g].key) & mask
	for tb.index[i] != g+1 {
		i = (i + 1) & mask
	}
	j := i
	for {
		j = (j + 1) & mask
		h := tb.index[j]
		if h == 0 {
			break
		}
		k := tb.hash(tb.groups[h-1].key) & mask
		// Leave the entry at j if its home slot k lies cyclically in (i, j].
		if (i < j && i < k && k <= j) || (i > j && (i < k || k <= j)) {
			continue
		}
		tb.index[i] = h
		i = j
	}
	tb.index[i] = 0
}

func (tb *table) pushFront(g int32) {
	gr := &tb.groups[g]
	gr.prev, gr.next = -1, tb.head
	if tb.head >= 0 {
		tb.groups[tb.head].prev = g
	}
	tb.head = g
	if tb.tail < 0 {
		tb.tail = g
	}
}

func (tb *table) unlink(g int32) {
	gr := &tb.groups[g]
	if gr.prev >= 0 {
		tb.groups[gr.prev].next = gr.next
	} else {
		tb.head = gr.next
	}
	if gr.next >= 0 {
		tb.groups[gr.next].prev = gr.prev
	} else {
		tb.tail = gr.prev
	}
	gr.prev, gr.next = -1, -1
}

// touch marks g as the most recently used.
func (tb *table) touch(g int32) {
	if tb.head == g {
		return
	}
	tb.unlink(g)
	tb.pushFront(g)
}

// push appends a match to g's window.
func (tb *table) push(g int32, t int64, s string, src int32) {
	var e int32
	if tb.freeE >= 0 {
		e = tb.freeE
		tb.freeE = tb.entries[e].next
	} else {
		e = int32(len(tb.entries))
		tb.entries = append(grow(tb.entries), entry{})
	}
	tb.entries[e] = entry{t: t, s: s, src: src, next: -1}
	gr := &tb.groups[g]
	if gr.last >= 0 {
		tb.entries[gr.last].next = e
	} else {
		gr.first = e
	}
	gr.last = e
	gr.n++
	tb.nent++
	tb.bytes += int64(len(s))
	tb.account(g, e, 1)
}

// popFront drops the oldest match of g's window.
func (tb *table) popFront(g int32) {
	gr := &tb.groups[g]
	e := gr.first
	tb.account(g, e, -1)
	ent := &tb.entries[e]
	gr.first = ent.next
	if gr.first < 0 {
		gr.last = -1
	}
	gr.n--
	tb.nent--
	tb.bytes -= int64(len(ent.s))
	*ent = entry{next: tb.freeE}
	tb.freeE = e
}

// account updates g's aggregates for entry e joining (d=1) or leaving
// (d=-1) the window.
func (tb *table) account(g, e int32, d int32) {
	ent := &tb.entries[e]
	switch {
	case tb.valued():
		// push calls this once e is in the window, popFront before e
		// leaves it: n counts e either way.
		m := tb.counts[g]
		n := tb.groups[g].n
		if m == nil {
			if d > 0 && n > smallWindow {
				tb.counts[g] = tb.countValues(g)
			}
			return
		}
		tb.eachValue(ent, func(x string) {
			if c := m[x] + d; c > 0 {
				m[x] = c
			} else {
				delete(m, x)
			}
		})
		if d < 0 && n-1 <= smallWindow/2 {
			tb.counts[g] = nil // small again: scan it
		}
	case tb.summed():
		if f, err := strconv.ParseFloat(valuePart(ent.s), 64); err == nil {
			tb.sums[g] += float64(d) * f
		}
	case tb.c.Type == sigma.CorrelationTemporal:
		if int(ent.src) < tb.c.inputs {
			tb.perSrc[int(g)*tb.c.inputs+int(ent.src)] += d
		}
	case tb.ord != nil:
		ch := &tb.ord[g]
		switch {
		case ch.steps < 0:
		case d > 0:
			tb.extend(ch, e)
		case e == ch.first:
			ch.steps = -1 // the chain lost its first step: find it again
		}
	}
}

// eachValue calls fn with the values an entry adds: the elements of its
// value list for value_count, its value for value_percentile.
func (tb *table) eachValue(ent *entry, fn func(string)) {
	v := valuePart(ent.s)
	if tb.c.Type == sigma.CorrelationValueCount {
		eachTuple(v, fn)
		return
	}
	fn(v)
}

// countValues returns the occurrences of each value in g's window.
func (tb *table) countValues(g int32) map[string]int32 {
	m := map[string]int32{}
	add := func(x string) { m[x]++ }
	tb.each(g, func(e *entry) { tb.eachValue(e, add) })
	return m
}

// distinct returns the number of distinct values in g's window.
func (tb *table) distinct(g int32) int {
	if m := tb.counts[g]; m != nil {
		return len(m)
	}
	var buf [2 * smallWindow]string
	seen := buf[:0]
	for e := tb.groups[g].first; e >= 0; e = tb.entries[e].next {
		v := valuePart(tb.entries[e].s)
		for len(v) > 0 {
			x, rest, ok := nextTuple(v)
			if !ok {
				break
			}
			if !slices.Contains(seen, x) {
				seen = append(seen, x)
			}
			v = rest
		}
	}
	return len(seen)
}

// anchor returns the time of g's oldest match.
func (tb *table) anchor(g int32) int64 { return tb.entries[tb.groups[g].first].t }

// newest returns the time of g's newest match.
func (tb *table) newest(g int32) int64 { return tb.entries[tb.groups[g].last].t }

// each calls fn with g's matches, oldest first.
func (tb *table) each(g int32, fn func(e *entry)) {
	for e := tb.groups[g].first; e >= 0; e = tb.entries[e].next {
		fn(&tb.entries[e])
	}
}

// aggregate returns the value the condition compares for g, and for
// value_percentile the value whose share it is. ok is false when there is
// nothing to compare (no numeric value for value_avg).
func (tb *table) aggregate(g int32) (value float64, text string, ok bool) {
	gr := &tb.groups[g]
	switch tb.c.Type {
	case sigma.CorrelationEventCount:
		return float64(gr.n), "", true
	case sigma.CorrelationValueCount:
		return float64(tb.distinct(g)), "", true
	case sigma.CorrelationTemporal:
		n := 0
		for _, c := range tb.perSrc[int(g)*tb.c.inputs : int(g+1)*tb.c.inputs] {
			if c > 0 {
				n++
			}
		}
		return float64(n), "", true
	case sigma.CorrelationTemporalOrdered:
		// The longest prefix of the rules list matched by distinct events
		// in order; matching each step at its earliest event is optimal.
		return float64(tb.steps(g)), "", true
	case sigma.CorrelationValueSum:
		return tb.sums[g], "", true
	case sigma.CorrelationValueAvg:
		// Observe keeps only numeric values: every match has one.
		return tb.sums[g] / float64(gr.n), "", gr.n > 0
	case sigma.CorrelationValuePercentile:
		return tb.rarest(g)
	}
	return 0, "", false
}

// rarest returns, for value_percentile, the share in percent of the
// window's matches carrying each distinct value, reduced to the value the
// condition holds for with the smallest share (ties: the smaller value).
func (tb *table) rarest(g int32) (float64, string, bool) {
	counts := tb.counts[g]
	if counts == nil {
		counts = tb.countValues(g)
	}
	total := tb.groups[g].n
	best, bestText, found := 0.0, "", false
	for v, n := range counts {
		share := 100 * float64(n) / float64(total)
		if !tb.holds(share) {
			continue
		}
		if !found || share < best || (share == best && v < bestText) {
			best, bestText, found = share, v, true
		}
	}
	return best, bestText, found
}

// holds reports whether the condition holds for value.
func (tb *table) holds(value float64) bool {
	if len(tb.c.Thresholds) == 0 {
		return value >= float64(tb.c.inputs)
	}
	for _, th := range tb.c.Thresholds {
		x := th.Value.Float
		var ok bool
		switch th.Op {
		case sigma.OpGT:
			ok = value > x
		case sigma.OpGTE:
			ok = value >= x
		case sigma.OpLT:
			ok = value < x
		case sigma.OpLTE:
			ok = value <= x
		case sigma.OpEQ:
			ok = value == x
		case sigma.OpNEQ:
			ok = value != x
		}
		if !ok {
			return false
		}
	}
	return true
}
