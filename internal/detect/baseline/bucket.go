package baseline

import (
	"cmp"
	"slices"
	"strings"
	"unsafe"
)

// openBucket holds the buckets of one rule that start at the same minute:
// a slab of buckets found by key hash through an open-addressing index,
// and an arena with their keys and event IDs, so that counting an event
// allocates nothing in the common case.
type openBucket struct {
	b       int64 // start, minutes since the epoch
	index   []indexSlot
	bks     []bucket
	arena   []byte
	garbage int // arena bytes no longer referenced
}

// bucket is what one key gathered in one bucket of time: 208 bytes.
type bucket struct {
	h    uint64 // hash of the Key and New values
	eh   uint64 // hash of the Key values alone (first_seen)
	n    int64
	sum  float64
	key  span // encoded values (appendTuple) of Key, then New
	nids int32
	ids  [MaxEventIDs]evref // the earliest events, by (time, ID)
}

// span is a string in an open bucket's arena.
type span struct{ off, len uint32 }

type evref struct {
	t  int64
	id span
}

const bucketSize = int64(unsafe.Sizeof(bucket{}))

// indexSlot is a slot of an open bucket's index: a key hash (0: empty)
// and its bucket's position in the slab.
type indexSlot struct {
	h uint64
	i int32
}

func newOpenBucket(b int64) *openBucket {
	return &openBucket{b: b}
}

// reset empties ob for reuse, keeping its memory unless a flood made it
// large.
func (ob *openBucket) reset() {
	clear(ob.index)
	if cap(ob.bks) > 4096 {
		ob.bks, ob.arena, ob.index = nil, nil, nil
	}
	ob.bks, ob.arena, ob.garbage = ob.bks[:0], ob.arena[:0], 0
}

// find returns the position of the bucket of hash h in the slab, or -1.
// Hashes are never 0 (see finish).
func (ob *openBucket) find(h uint64) int32 {
	if len(ob.index) == 0 {
		return -1
	}
	mask := uint64(len(ob.index) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch ob.index[i].h {
		case h:
			return ob.index[i].i
		case 0:
			return -1
		}
	}
}

// peek reads the index slot where a search for h starts and, when it
// holds h, the lines of h's bucket that counting an event reads.
func (ob *openBucket) peek(h uint64) uint64 {
	if len(ob.index) == 0 {
		return 0
	}
	s := ob.index[h&uint64(len(ob.index)-1)]
	if s.h == h {
		bk := &ob.bks[s.i]
		return uint64(bk.n) + uint64(bk.ids[max(bk.nids-1, 0)].t)
	}
	return s.h
}

// place indexes the bucket at position i of the slab under hash h, which
// is not indexed yet, growing the index past half full.
func (ob *openBucket) place(h uint64, i int32) {
	if (len(ob.bks)+1)*2 > len(ob.index) {
		old := ob.index
		ob.index = make([]indexSlot, max(16, 2*len(old)))
		for _, s := range old {
			if s.h != 0 {
				ob.insertSlot(s)
			}
		}
	}
	ob.insertSlot(indexSlot{h: h, i: i})
}

func (ob *openBucket) insertSlot(s indexSlot) {
	mask := uint64(len(ob.index) - 1)
	j := s.h & mask
	for ob.index[j].h != 0 {
		j = (j + 1) & mask
	}
	ob.index[j] = s
}

func (ob *openBucket) str(s span) string { return string(ob.arena[s.off : s.off+s.len]) }

// bytesOf returns a span's bytes, for comparisons that need no string.
func (ob *openBucket) bytesOf(s span) []byte { return ob.arena[s.off : s.off+s.len] }

func (ob *openBucket) put(s string) span {
	sp := span{off: uint32(len(ob.arena)), len: uint32(len(s))}
	ob.arena = append(ob.arena, s...)
	return sp
}

// get returns the bucket of hash h, creating it with the key key() when
// it is new; the pointer is valid until the next get. It reports whether
// the bucket is new.
func (ob *openBucket) get(h, eh uint64, key func() []byte) (*bucket, bool) {
	if i := ob.find(h); i >= 0 {
		return &ob.bks[i], false
	}
	ob.place(h, int32(len(ob.bks)))
	k := key()
	sp := span{off: uint32(len(ob.arena)), len: uint32(len(k))}
	ob.arena = append(ob.arena, k...)
	ob.bks = append(ob.bks, bucket{h: h, eh: eh, key: sp})
	return &ob.bks[len(ob.bks)-1], true
}

// addID keeps an event among bk's earliest MaxEventIDs.
func (ob *openBucket) addID(bk *bucket, t int64, id string) {
	less := func(r evref) bool {
		return t < r.t || (t == r.t && id < string(ob.bytesOf(r.id)))
	}
	n := int(bk.nids)
	if n == MaxEventIDs && !less(bk.ids[n-1]) {
		return
	}
	i := n
	for i > 0 && less(bk.ids[i-1]) {
		i--
	}
	if i > 0 && bk.ids[i-1].t == t && string(ob.bytesOf(bk.ids[i-1].id)) == id {
		return // the same event again
	}
	var sp span
	if n == MaxEventIDs {
		// The latest event kept leaves. An ID of the same length, as the
		// IDs of one source mostly are, takes its bytes in the arena.
		if last := bk.ids[n-1].id; int(last.len) == len(id) {
			copy(ob.arena[last.off:last.off+last.len], id)
			sp = last
		} else {
			ob.garbage += int(last.len)
		}
		n--
	}
	if sp.len == 0 {
		sp = ob.put(id)
	}
	copy(bk.ids[i+1:n+1], bk.ids[i:n])
	bk.ids[i] = evref{t: t, id: sp}
	bk.nids = int32(n + 1)
	if ob.garbage > 1<<16 && ob.garbage > len(ob.arena)/2 {
		ob.compact()
	}
}

// compact rewrites the arena with only what the buckets still use, after
// many event IDs were replaced by earlier ones.
func (ob *openBucket) compact() {
	old := ob.arena
	ob.arena = make([]byte, 0, len(old)-ob.garbage)
	for i := range ob.bks {
		bk := &ob.bks[i]
		bk.key = ob.put(string(old[bk.key.off : bk.key.off+bk.key.len]))
		for j := range bk.ids[:bk.nids] {
			r := &bk.ids[j]
			r.id = ob.put(string(old[r.id.off : r.id.off+r.id.len]))
		}
	}
	ob.garbage = 0
}

// keyOf returns bk's encoded key.
func (ob *openBucket) keyOf(bk *bucket) string { return ob.str(bk.key) }

// eventIDs returns bk's event IDs, earliest first.
func (ob *openBucket) eventIDs(bk *bucket) []string {
	out := make([]string, bk.nids)
	for i := range out {
		out[i] = ob.str(bk.ids[i].id)
	}
	return out
}

// sorted returns the buckets ordered by hash, then key: the order in which
// they close.
func (ob *openBucket) sorted() []*bucket {
	out := make([]*bucket, len(ob.bks))
	for i := range ob.bks {
		out[i] = &ob.bks[i]
	}
	slices.SortFunc(out, func(a, b *bucket) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		return strings.Compare(string(ob.bytesOf(a.key)), string(ob.bytesOf(b.key)))
	})
	return out
}

// bytes estimates the memory of the open bucket: slab, map and arena.
func (ob *openBucket) bytes() int64 {
	return int64(cap(ob.bks))*bucketSize + int64(len(ob.index))*16 + int64(cap(ob.arena))
}
