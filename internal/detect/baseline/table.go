package baseline

import (
	"cmp"
	"slices"
)

// table is an open-addressing hash table of 64-bit key hashes with linear
// probing. Each slot holds the hash, the minute the key was last seen and
// one more 32-bit value (a record index or a first-seen minute): 16 bytes.
// The table grows by doubling past three quarters full, so it holds 21 to
// 43 bytes per key.
//
// When it holds max keys and another comes, it evicts the least recently
// seen eighth at once (ties broken by hash), which costs one pass over the
// table for every max/8 insertions and depends only on the content, not
// on the order keys arrived in.
type table struct {
	slots   []slot
	n       int
	max     int
	evicted int64
	// onEvict is called with each slot evicted, before it goes.
	onEvict func(*slot)
}

type slot struct {
	h    uint64 // 0: empty
	seen int32  // minute last seen
	aux  int32
}

const slotSize = 16

func newTable(max int) *table { return &table{max: max} }

// find returns the slot of h, or nil. The pointer is valid until the next
// insert.
func (t *table) find(h uint64) *slot {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.h == h {
			return s
		}
		if s.h == 0 {
			return nil
		}
	}
}

// peek reads the slot where a search for h starts.
func (t *table) peek(h uint64) uint64 {
	if len(t.slots) == 0 {
		return 0
	}
	return t.slots[h&uint64(len(t.slots)-1)].h
}

// insert adds h, which must be absent, evicting first if the table is
// full. The pointer is valid until the next insert.
func (t *table) insert(h uint64, seen, aux int32) *slot {
	if t.n >= t.max {
		t.evict(max(1, t.max/8))
	}
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(16, len(t.slots)*2))
	}
	s := t.place(h)
	*s = slot{h: h, seen: seen, aux: aux}
	t.n++
	return s
}

// place returns the empty slot where h goes.
func (t *table) place(h uint64) *slot {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].h != 0 {
		i = (i + 1) & mask
	}
	return &t.slots[i]
}

func (t *table) resize(size int) {
	old := t.slots
	t.slots = make([]slot, size)
	for _, s := range old {
		if s.h != 0 {
			*t.place(s.h) = s
		}
	}
}

// remove drops h, if present, shifting back the slots after it that
// linear probing placed past its slot.
func (t *table) remove(h uint64) {
	if len(t.slots) == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].h != h {
		if t.slots[i].h == 0 {
			return
		}
		i = (i + 1) & mask
	}
	for {
		t.slots[i] = slot{}
		j := i
		for {
			j = (j + 1) & mask
			if t.slots[j].h == 0 {
				t.n--
				return
			}
			// The slot at j may move to i if its home is not in (i, j].
			home := t.slots[j].h & mask
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				break
			}
		}
		t.slots[i] = t.slots[j]
		i = j
	}
}

// evict drops the k least recently seen keys (ties: smaller hash first)
// and rebuilds the table.
func (t *table) evict(k int) {
	live := make([]slot, 0, t.n)
	for _, s := range t.slots {
		if s.h != 0 {
			live = append(live, s)
		}
	}
	slices.SortFunc(live, func(a, b slot) int {
		if c := cmp.Compare(a.seen, b.seen); c != 0 {
			return c
		}
		return cmp.Compare(a.h, b.h)
	})
	k = min(k, len(live))
	for i := range live[:k] {
		if t.onEvict != nil {
			t.onEvict(&live[i])
		}
	}
	t.evicted += int64(k)
	clear(t.slots)
	for _, s := range live[k:] {
		*t.place(s.h) = s
	}
	t.n = len(live) - k
}

// each calls fn with every slot in use, in table order.
func (t *table) each(fn func(*slot)) {
	for i := range t.slots {
		if t.slots[i].h != 0 {
			fn(&t.slots[i])
		}
	}
}

// sorted returns the slots in use ordered by hash, for checkpoints that
// do not depend on the table's layout.
func (t *table) sorted() []slot {
	out := make([]slot, 0, t.n)
	t.each(func(s *slot) { out = append(out, *s) })
	slices.SortFunc(out, func(a, b slot) int { return cmp.Compare(a.h, b.h) })
	return out
}

func (t *table) bytes() int64 { return int64(len(t.slots)) * slotSize }
