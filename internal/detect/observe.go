package detect

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// Observation is one base rule match prepared for a Correlator: the event's
// time and ID and, for each correlation the rule feeds, the group the event
// falls in and the value it adds. It holds no reference to the event, so
// matching goroutines make observations and one correlator goroutine
// consumes them.
type Observation struct {
	t     int64  // event time, Unix nanoseconds
	ref   string // the event ID, compact (see appendRef); also orders observations
	rule  int32  // the base rule's position in the engine
	items []obsItem
	one   [1]obsItem // backs items when the rule feeds one correlation
}

// obsItem is what an observation adds to one correlation.
type obsItem struct {
	corr *Correlation
	src  int32  // position of the producer in corr's rules
	key  string // the group: encoded group-by values
	val  string // the aggregated value, encoded for the correlation's type
}

// Time returns the event time.
func (o *Observation) Time() time.Time { return time.Unix(0, o.t).UTC() }

// EventID returns the event's ID.
func (o *Observation) EventID() string {
	id, _ := splitRef(o.ref)
	return id
}

// Observer makes observations; each goroutine that matches events needs
// its own, like a Scratch. It keeps copies of the group keys and values it
// has seen, so that a busy principal's key is not copied for every event.
type Observer struct {
	cs     *CorrelationSet
	intern []string // recent copies, by hash; nil for an Observer of one observation
	seed   maphash.Seed
	buf    []byte
	slab   []Observation // observations are allocated obsChunk at a time
	items  []obsItem     // and the items of those that feed several correlations
	// The compact ID of the event last observed, shared by the
	// observations of the event, which the scratch's event count tells.
	lastRef     string
	lastScratch *Scratch
	lastSeq     uint64
}

// obsChunk is how many observations an Observer allocates at once. A chunk
// is freed once all its observations are processed, which happens in
// order.
const obsChunk = 128

// internSlots is the number of copies an Observer keeps, each in the slot
// its hash picks, the latest replacing the one before.
const internSlots = 4096

// NewObserver returns working memory for one goroutine; nil, which makes
// no observations, when cs is nil.
func (cs *CorrelationSet) NewObserver() *Observer {
	if cs == nil {
		return nil
	}
	return &Observer{cs: cs, intern: make([]string, internSlots), seed: maphash.MakeSeed()}
}

// Observe is Observer.Observe without the copies kept between events, for
// callers that make few observations.
func (cs *CorrelationSet) Observe(r *Rule, ev *event.Event, s *Scratch) *Observation {
	return (&Observer{cs: cs}).Observe(r, ev, s)
}

// Observe returns the observation of r matching ev, or nil when r feeds no
// correlation, the event has no time, or it lacks the group-by fields of
// every correlation r feeds. s must be the scratch space that matched ev,
// and Observe must be called before it matches another event (from Match's
// callback, or right after Match).
func (ob *Observer) Observe(r *Rule, ev *event.Event, s *Scratch) *Observation {
	if ob == nil {
		return nil
	}
	cs := ob.cs
	if !cs.Correlated(r) || ev.Time.IsZero() {
		return nil
	}
	var o *Observation
	var prev *feed // the last feed whose key was read, to share it
	var prevKey string
	var prevOK bool
	for i := range cs.feeds[r.num] {
		f := &cs.feeds[r.num][i]
		var key string
		var ok bool
		if prev != nil && sameFields(prev.group, f.group) {
			key, ok = prevKey, prevOK
		} else {
			key, ok = ob.readKey(f.group, s, ev)
			prev, prevKey, prevOK = f, key, ok
		}
		if !ok {
			continue
		}
		val, ok := ob.readValue(f, s, ev)
		if !ok {
			continue
		}
		if o == nil {
			o = ob.newObservation(ev, r, len(cs.feeds[r.num]), s)
		}
		o.items = append(o.items, obsItem{corr: f.corr, src: f.src, key: key, val: val})
	}
	return o
}

// newObservation returns an empty observation of r matching ev, which s
// was matching, with room for n items. Observations and their items come
// from slabs, and the observations of one event share the copy of its ID.
func (ob *Observer) newObservation(ev *event.Event, r *Rule, n int, s *Scratch) *Observation {
	var o *Observation
	if ob.intern == nil {
		o = new(Observation)
	} else {
		if len(ob.slab) == 0 {
			ob.slab = make([]Observation, obsChunk)
		}
		o = &ob.slab[0]
		ob.slab = ob.slab[1:]
	}
	if ob.intern == nil || s != ob.lastScratch || s.seq != ob.lastSeq {
		ob.buf = appendRef(ob.buf[:0], ev.ID)
		ob.lastRef = string(ob.buf)
		ob.lastScratch, ob.lastSeq = s, s.seq
	}
	*o = Observation{t: ev.Time.UnixNano(), ref: ob.lastRef, rule: r.num}
	switch {
	case n == 1:
		o.items = o.one[:0]
	case ob.intern == nil:
		o.items = make([]obsItem, 0, n)
	default:
		if len(ob.items) < n {
			ob.items = make([]obsItem, max(n, obsChunk*2))
		}
		o.items = ob.items[:0:n]
		ob.items = ob.items[n:]
	}
	return o
}

// keep returns a copy of b (or of the text s, when b is nil) that does not
// share the event's memory, reusing an earlier copy when there is one.
func (ob *Observer) keep(b []byte, s string) string {
	if b != nil {
		s = unsafe.String(unsafe.SliceData(b), len(b)) // only looked up, never kept
	}
	if ob.intern == nil {
		return strings.Clone(s)
	}
	slot := &ob.intern[maphash.String(ob.seed, s)&(internSlots-1)]
	if *slot != s {
		*slot = strings.Clone(s)
	}
	return *slot
}

// sameFields reports whether two lists of fields read the same slots.
func sameFields(a, b []fieldRef) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].id != b[i].id {
			return false
		}
	}
	return true
}

// firstValue returns the first non-null scalar of a field.
func firstValue(f *fieldRef, s *Scratch, ev *event.Event) (string, bool) {
	slot := s.field(f, ev)
	for _, v := range slot.vals {
		if v.kind != jsondoc.Null {
			return v.text, true
		}
	}
	return "", false
}

// readKey returns the group key of an event: its first value of each
// group-by field. An event that lacks one is in no group.
func (ob *Observer) readKey(fields []fieldRef, s *Scratch, ev *event.Event) (string, bool) {
	if len(fields) == 1 {
		v, ok := firstValue(&fields[0], s, ev)
		if !ok {
			return "", false
		}
		return ob.keep(nil, v), true
	}
	b := ob.buf[:0]
	for i := range fields {
		v, ok := firstValue(&fields[i], s, ev)
		if !ok {
			return "", false
		}
		b = appendTuple(b, v)
	}
	ob.buf = b
	return ob.keep(b, ""), true
}

// readValue returns what an event adds to the aggregate of f's correlation:
// nothing for counts of events and rules; for value_count the distinct
// values (every value of one field, or the combination of the first values
// of several); for value_sum and value_avg its first numeric value; for
// value_percentile its first value.
func (ob *Observer) readValue(f *feed, s *Scratch, ev *event.Event) (string, bool) {
	switch f.corr.Type {
	case sigma.CorrelationValueCount:
		b := ob.buf[:0]
		if len(f.value) == 1 {
			slot := s.field(&f.value[0], ev)
			for _, v := range slot.vals {
				if v.kind != jsondoc.Null {
					b = appendTuple(b, v.text)
				}
			}
		} else {
			var combo []byte
			for i := range f.value {
				v, ok := firstValue(&f.value[i], s, ev)
				if !ok {
					return "", false
				}
				combo = appendTuple(combo, v)
			}
			b = appendTuple(b, string(combo))
		}
		ob.buf = b
		if len(b) == 0 {
			return "", false
		}
		return ob.keep(b, ""), true
	case sigma.CorrelationValueSum, sigma.CorrelationValueAvg:
		slot := s.field(&f.value[0], ev)
		for _, v := range slot.vals {
			text := strings.TrimSpace(v.text)
			if _, err := strconv.ParseFloat(text, 64); err == nil && v.kind != jsondoc.Null {
				return ob.keep(nil, text), true
			}
		}
		return "", false
	case sigma.CorrelationValuePercentile:
		v, ok := firstValue(&f.value[0], s, ev)
		if !ok {
			return "", false
		}
		return ob.keep(nil, v), true
	}
	return "", true
}

// appendTuple appends s with its length in front, so that a list of
// strings concatenates unambiguously.
func appendTuple(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// eachTuple calls fn with every string of an encoded list. A malformed list
// (only from a corrupt checkpoint) ends early.
func eachTuple(s string, fn func(string)) {
	for len(s) > 0 {
		x, rest, ok := nextTuple(s)
		if !ok {
			return
		}
		fn(x)
		s = rest
	}
}

// nextTuple splits the first string off an encoded list.
func nextTuple(s string) (x, rest string, ok bool) {
	var n uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		n |= uint64(b&0x7f) << shift
		if b < 0x80 {
			w := i + 1
			if uint64(len(s)-w) < n {
				return "", "", false
			}
			return s[w : w+int(n)], s[w+int(n):], true
		}
		shift += 7
	}
	return "", "", false
}

// decodeTuple returns the n strings of an encoded list, padded with empty
// strings if it holds fewer.
func decodeTuple(s string, n int) []string {
	out := make([]string, 0, n)
	eachTuple(s, func(x string) { out = append(out, x) })
	for len(out) < n {
		out = append(out, "")
	}
	return out[:n]
}

// Event IDs are kept in window entries in a compact form: a canonical
// lower-case UUID (CloudTrail, Azure) as 0xFF and its 16 bytes, anything
// else as 0xFE, its length and its bytes; the base events of a correlation
// match as 0xFD, the length and the list of their IDs. The aggregated
// value follows.

const (
	refUUID  = 0xFF
	refOther = 0xFE
	refList  = 0xFD // the events of a correlation match: a list of IDs
)

// appendRefList appends the compact form of a list of event IDs.
func appendRefList(b []byte, ids []string) []byte {
	var list []byte
	for _, id := range ids {
		list = appendTuple(list, id)
	}
	b = append(b, refList)
	return appendTuple(b, string(list))
}

func appendRef(b []byte, id string) []byte {
	if u, ok := parseUUID(id); ok {
		b = append(b, refUUID)
		return append(b, u[:]...)
	}
	b = append(b, refOther)
	return appendTuple(b, id)
}

// refLen returns the length of the encoded ID at the start of an entry
// string, or -1 if it is malformed (only in a corrupt checkpoint).
func refLen(s string) int {
	if len(s) == 0 {
		return -1
	}
	switch s[0] {
	case refUUID:
		if len(s) >= 17 {
			return 17
		}
	case refOther, refList:
		rest := s[1:]
		n, w := binary.Uvarint([]byte(rest[:min(len(rest), binary.MaxVarintLen64)]))
		if w > 0 && uint64(len(rest)-w) >= n {
			return 1 + w + int(n)
		}
	}
	return -1
}

// splitRef returns the event ID and the value of an entry string.
func splitRef(s string) (id, val string) {
	n := refLen(s)
	if n < 0 {
		return "", ""
	}
	if s[0] == refUUID {
		return formatUUID(s[1:17]), s[17:]
	}
	w := n - 1
	_, vw := binary.Uvarint([]byte(s[1:min(len(s), 1+binary.MaxVarintLen64)]))
	return s[1+vw : 1+w], s[n:]
}

// refPart returns the encoded ID at the start of an entry string, to
// compare entries' events without decoding them.
func refPart(s string) string {
	n := refLen(s)
	if n < 0 {
		return ""
	}
	return s[:n]
}

// valuePart returns the value after the encoded ID of an entry string.
func valuePart(s string) string {
	n := refLen(s)
	if n < 0 {
		return ""
	}
	return s[n:]
}

func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	// Upper case would not survive the round trip: hexValue knows only
	// lower-case digits. The pairs are read at constant positions, which
	// need no bounds checks.
	bad := byte(0)
	pair := func(i int) byte {
		hi, lo := hexValue[s[i]], hexValue[s[i+1]]
		bad |= hi | lo
		return hi<<4 | lo&0xf
	}
	u[0], u[1], u[2], u[3] = pair(0), pair(2), pair(4), pair(6)
	u[4], u[5], u[6], u[7] = pair(9), pair(11), pair(14), pair(16)
	u[8], u[9], u[10], u[11] = pair(19), pair(21), pair(24), pair(26)
	u[12], u[13], u[14], u[15] = pair(28), pair(30), pair(32), pair(34)
	return u, bad&0x80 == 0
}

// hexValue is the value of each lower-case hexadecimal digit, 0x80 for
// any other byte.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0x80
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()

func formatUUID(b string) string { return string(appendUUID(nil, b)) }

// appendUUID appends the canonical form of the 16 bytes of a UUID. A
// correlation match lists up to MaxMatchEvents IDs, so this runs for every
// event of every match: each byte's two digits are one table read and one
// two-byte write, at constant positions.
func appendUUID(dst []byte, b string) []byte {
	_ = b[15]
	n := len(dst)
	dst = slices.Grow(dst, 36)[:n+36]
	out := (*[36]byte)(dst[n:])
	put := func(at int, c byte) { *(*[2]byte)(out[at:]) = hexPairs[c] }
	put(0, b[0])
	put(2, b[1])
	put(4, b[2])
	put(6, b[3])
	put(9, b[4])
	put(11, b[5])
	put(14, b[6])
	put(16, b[7])
	put(19, b[8])
	put(21, b[9])
	put(24, b[10])
	put(26, b[11])
	put(28, b[12])
	put(30, b[13])
	put(32, b[14])
	put(34, b[15])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return dst
}

// hexPairs holds the two lower-case hexadecimal digits of each byte.
var hexPairs = func() (t [256][2]byte) {
	const digits = "0123456789abcdef"
	for i := range t {
		t[i] = [2]byte{digits[i>>4], digits[i&0xf]}
	}
	return t
}()
