package baseline

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
)

// maxValueLen bounds the bytes of one field value kept in a key; longer
// values are cut (and still tell keys apart by their first bytes).
const maxValueLen = 512

// Geo resolves the derived fields asn and country. A nil function means
// that no database provides the field, and rules that need it are
// inactive.
type Geo struct {
	ASN     func(ip netip.Addr) (string, bool)
	Country func(ip netip.Addr) (string, bool)
}

type fieldKind uint8

const (
	fieldEnv fieldKind = iota
	fieldRaw
	fieldASN
	fieldCountry
	fieldRole
	fieldUAFamily
)

// fieldRef reads one field of an event.
type fieldRef struct {
	name string
	kind fieldKind
	env  func(*event.Event) string
	path string // for raw fields, after "raw."
	id   int    // index of the field's value in evctx, shared by every rule that reads it
	// base is the envelope field a derived field is computed from; its
	// hash finds the derived value in a cache.
	base *fieldRef
}

// baseOf names the envelope field each derived field is computed from.
var baseOf = map[fieldKind]string{
	fieldASN:      "source_ip",
	fieldCountry:  "source_ip",
	fieldRole:     "principal",
	fieldUAFamily: "user_agent",
}

// fieldIDs numbers the distinct fields an evaluator's rules read.
type fieldIDs map[string]int

func (ids fieldIDs) compile(name string) fieldRef {
	f := compileField(name)
	id, ok := ids[name]
	if !ok {
		id = len(ids)
		ids[name] = id
	}
	f.id = id
	if b, ok := baseOf[f.kind]; ok {
		base := ids.compile(b)
		f.base = &base
	}
	return f
}

func compileField(name string) fieldRef {
	f := fieldRef{name: name}
	switch {
	case strings.HasPrefix(name, RawPrefix):
		f.kind, f.path = fieldRaw, name[len(RawPrefix):]
	case name == FieldASN:
		f.kind = fieldASN
	case name == FieldCountry:
		f.kind = fieldCountry
	case name == FieldRole:
		f.kind = fieldRole
	case name == FieldUserAgentFamily:
		f.kind = fieldUAFamily
	default:
		f.env = event.EnvelopeGetter(name)
	}
	return f
}

// evctx is the event being observed, with each field's value (cut to
// maxValueLen) and its hash computed at most once for it, whatever the
// number of rules that read them.
type evctx struct {
	ev    *event.Event
	geo   *Geo
	gen   uint32     // the current event; what a field slot holds of another generation is stale
	f     []fieldVal // by field id
	seed  uint64     // of the key hash
	key   keyHash
	geoOK bool
	geoV  *geoAnswer
	// Recent GeoIP answers, user agent families and roles built from
	// session ARNs, with the hashes of the values: addresses, clients and
	// sessions repeat.
	geoCache cache[*geoAnswer]
	// The distinct answers, shared by the addresses that have them, so
	// that a cache entry is small and the answers of a busy network stay
	// in the processor's cache.
	answers map[geoAnswer]*geoAnswer
	noGeo   *geoAnswer // the answer for no address
	agents  cache[hashed]
	roles   cache[hashed]
}

// fieldVal is what is known of one field of the current event: its
// value, its hash, (for an Extractor) the span of its value in the
// batch's arena and, for a staged event, its value as a number, each
// valid when its generation is the event's.
type fieldVal struct {
	vgen, hgen, sgen, ngen uint32
	sp                     span
	hash                   uint64
	val                    string
	num                    float64
	numOK                  bool
}

// hashed is a derived value and its hash under the evaluator's seed.
type hashed struct {
	v string
	h uint64
}

// geoAnswer is the ASN and country of an address.
type geoAnswer [2]hashed

func (x *evctx) init(fields int) {
	x.f = make([]fieldVal, fields)
}

func (x *evctx) reset(ev *event.Event) {
	x.ev = ev
	x.geoOK = false
	x.gen++
	if x.gen == 0 { // wrapped: forget every value
		clear(x.f)
		x.gen = 1
	}
}

// get returns the value of f for the current event, cut to maxValueLen,
// "" when absent. The value may share the event's memory, which a decoder
// reuses for the next event: nothing keeps it beyond the event.
func (x *evctx) get(f *fieldRef) string {
	s := &x.f[f.id]
	if s.vgen == x.gen {
		return s.val
	}
	var v string
	switch f.kind {
	case fieldEnv:
		v = f.env(x.ev)
	case fieldRaw:
		v = x.ev.Raw.First(f.path).Str()
	default:
		d := x.derive(f)
		v = d.v
		s.hash, s.hgen = d.h, x.gen
	}
	if len(v) > maxValueLen {
		v = v[:maxValueLen]
	}
	s.val, s.vgen = v, x.gen
	return v
}

// hashOf returns the hash of f's value for the current event, and
// whether the value is empty.
func (x *evctx) hashOf(f *fieldRef) (uint64, bool) {
	s := &x.f[f.id]
	if s.hgen == x.gen { // a hash is only kept with its value
		return s.hash, s.val == ""
	}
	v := x.get(f)
	if s.hgen != x.gen { // derived values come with their hash
		s.hash, s.hgen = x.key.sum(v), x.gen
	}
	return s.hash, v == ""
}

// derive returns the value of a derived field, cut to maxValueLen, and
// its hash.
func (x *evctx) derive(f *fieldRef) hashed {
	switch f.kind {
	case fieldASN, fieldCountry:
		if !x.geoOK {
			x.geoV, x.geoOK = x.geoOf(f.base), true
		}
		if f.kind == fieldASN {
			return (*x.geoV)[0]
		}
		return (*x.geoV)[1]
	case fieldRole:
		switch x.ev.PrincipalType {
		case "AssumedRole":
			// The session's issuer, when the record names it; else the
			// role in the session's ARN, built once per session. The
			// role depends on the event alone, not on which events of
			// the session came before it, so that reading events in
			// another order or skipping some cannot change it.
			if arn := sessionIssuer(x.ev); arn != "" {
				return x.hashed(arn)
			}
			h, _ := x.hashOf(f.base)
			return x.roles.get(h, func() hashed { return x.hashed(roleOfSession(x.get(f.base))) })
		case "serviceAccount", "ServicePrincipal", "ManagedIdentity":
			// The principal itself, whose hash the key may have already.
			h, _ := x.hashOf(f.base)
			return hashed{v: x.get(f.base), h: h}
		}
		return x.hashed("")
	case fieldUAFamily:
		h, empty := x.hashOf(f.base)
		if empty {
			return x.hashed("")
		}
		return x.agents.get(h, func() hashed { return x.hashed(strings.Clone(userAgentFamily(x.get(f.base)))) })
	}
	return hashed{h: x.key.sum("")}
}

// hashed returns v, cut to maxValueLen, with its hash.
func (x *evctx) hashed(v string) hashed {
	if len(v) > maxValueLen {
		v = v[:maxValueLen]
	}
	return hashed{v: v, h: x.key.sum(v)}
}

// geoOf returns the ASN and country of the address in field ip, through
// the cache.
func (x *evctx) geoOf(ip *fieldRef) *geoAnswer {
	h, empty := x.hashOf(ip)
	if empty {
		if x.noGeo == nil {
			x.noGeo = x.answer("", "")
		}
		return x.noGeo
	}
	return x.geoCache.get(h, func() *geoAnswer {
		s := x.get(ip)
		var asn, country string
		if ip, err := netip.ParseAddr(s); err == nil {
			if x.geo.ASN != nil {
				asn, _ = x.geo.ASN(ip)
			}
			if x.geo.Country != nil {
				country, _ = x.geo.Country(ip)
			}
		}
		return x.answer(asn, country)
	})
}

// answer returns the shared copy of a GeoIP answer. The answers are few
// (networks and countries, not addresses); past cacheSize of them the
// table starts over.
func (x *evctx) answer(asn, country string) *geoAnswer {
	a := geoAnswer{x.hashed(asn), x.hashed(country)}
	if p := x.answers[a]; p != nil {
		return p
	}
	if x.answers == nil || len(x.answers) >= cacheSize {
		x.answers = map[geoAnswer]*geoAnswer{}
	}
	p := &a
	x.answers[a] = p
	return p
}

// cache remembers the answers of a function of a string for recent
// arguments, found by the argument's hash under the evaluator's seed,
// with no string to compare: two arguments share a hash as unlikely as
// two combinations do, and as impossibly to arrange without the seed. A
// memo of memoSets sets of two slots, the most recent first, stands in
// front of a map, emptied when it holds cacheSize answers.
type cache[V any] struct {
	memo []cacheEntry[V] // 2*memoSets, made on first use
	m    map[uint64]V
}

type cacheEntry[V any] struct {
	h uint64 // the argument's hash, with the low bit set; 0 for an empty slot
	v V
}

const (
	cacheSize = 8192
	memoBits  = 8
	memoSets  = 1 << memoBits
)

// get returns the answer for the argument whose hash is h, calling
// compute for an argument not in the cache; compute must copy what it
// keeps of the argument, which may share an event's memory.
func (c *cache[V]) get(h uint64, compute func() V) V {
	if c.memo == nil {
		c.memo = make([]cacheEntry[V], 2*memoSets)
	}
	h |= 1
	set := c.memo[2*(h>>(64-memoBits)):][:2]
	if set[0].h == h {
		return set[0].v
	}
	if set[1].h == h {
		set[0], set[1] = set[1], set[0]
		return set[0].v
	}
	v, ok := c.m[h]
	if !ok {
		v = compute()
		if c.m == nil || len(c.m) >= cacheSize {
			c.m = make(map[uint64]V, cacheSize/4)
		}
		c.m[h] = v
	}
	set[1] = set[0]
	set[0] = cacheEntry[V]{h: h, v: v}
	return v
}

// sessionIssuer returns the role of an assumed-role session as a
// CloudTrail record names it, or "".
func sessionIssuer(ev *event.Event) string {
	return ev.Raw.Path("userIdentity", "sessionContext", "sessionIssuer", "arn").Str()
}

// roleOfSession turns arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION
// into arn:PARTITION:iam::ACCOUNT:role/ROLE, or "".
func roleOfSession(arn string) string {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return ""
	}
	partition, rest, _ := strings.Cut(rest, ":")
	rest, ok = strings.CutPrefix(rest, "sts::")
	if !ok {
		return ""
	}
	account, rest, _ := strings.Cut(rest, ":")
	role, ok := strings.CutPrefix(rest, "assumed-role/")
	if !ok || partition == "" || account == "" {
		return ""
	}
	role, _, _ = strings.Cut(role, "/")
	if role == "" {
		return ""
	}
	return "arn:" + partition + ":iam::" + account + ":role/" + role
}

// userAgentFamily replaces every version number in ua (digits, with dots
// or underscores between them) by "*".
func userAgentFamily(ua string) string {
	if len(ua) > maxValueLen {
		ua = ua[:maxValueLen]
	}
	if !strings.ContainsAny(ua, "0123456789") {
		return ua
	}
	var b strings.Builder
	b.Grow(len(ua))
	for i := 0; i < len(ua); {
		c := ua[i]
		if c < '0' || c > '9' {
			b.WriteByte(c)
			i++
			continue
		}
		for i < len(ua) && (isDigit(ua[i]) || ((ua[i] == '.' || ua[i] == '_') && i+1 < len(ua) && isDigit(ua[i+1]))) {
			i++
		}
		b.WriteByte('*')
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// cond is a compiled condition.
type cond struct {
	f      fieldRef
	values []string
	set    map[string]struct{} // for long value lists
	exists bool
}

func (c *cond) match(x *evctx) bool {
	v := x.get(&c.f)
	switch {
	case c.set != nil:
		_, ok := c.set[v]
		return ok
	case c.values != nil:
		for _, s := range c.values {
			if s == v {
				return true
			}
		}
		return false
	}
	return (v != "") == c.exists
}

type clause []cond

func (cl clause) match(x *evctx) bool {
	for i := range cl {
		if !cl[i].match(x) {
			return false
		}
	}
	return true
}

func compileClauses(cs []Clause, ids fieldIDs) []clause {
	out := make([]clause, len(cs))
	for i, c := range cs {
		for _, cd := range c.Conds {
			cc := cond{f: ids.compile(cd.Field), values: cd.Values, exists: cd.Exists}
			if len(cd.Values) > 8 {
				cc.set = make(map[string]struct{}, len(cd.Values))
				for _, v := range cd.Values {
					cc.set[v] = struct{}{}
				}
			}
			out[i] = append(out[i], cc)
		}
	}
	return out
}

// sourcesOf returns the sources a rule can read, or nil when an
// alternative of its events does not name them.
func sourcesOf(r *Rule) []string {
	var out []string
	for _, c := range r.Events {
		var named []string
		for _, cd := range c.Conds {
			if cd.Field == "source" && len(cd.Values) > 0 {
				named = cd.Values
			}
		}
		if named == nil {
			return nil
		}
		for _, s := range named {
			if !contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// keyHash hashes strings with a 64-bit keyed hash that folds sixteen
// bytes at a time into its state with a 128-bit multiply. The two factors
// are keyed by different secrets (the state, and a second key drawn from
// the seed), so no input can zero a factor or swap one for the other
// without knowing the seed. Short strings are read as at most four
// overlapping words. The seed is random per evaluator and kept in
// checkpoints, so hashes are stable across restarts while values made to
// collide cannot be computed offline.
type keyHash struct{ h0, k uint64 }

const (
	hp0 = 0xa0761d6478bd642f
	hp1 = 0xe7037ed1a0b428db
	hp2 = 0x8ebc6af09c88c6e3
	hp3 = 0x589965cc75374cc3
)

func newKeyHash(seed uint64) keyHash {
	return keyHash{h0: seed ^ hp0, k: mum(seed^hp2, hp3) ^ hp1}
}

func (kh keyHash) sum(s string) uint64 {
	n := len(s)
	h, k := kh.h0, kh.k
	var a, b uint64
	switch {
	case n > 16:
		for t := s; len(t) > 16; t = t[16:] {
			h = mum(le64(t)^k, le64(t[8:])^h)
		}
		a, b = le64(s[n-16:]), le64(s[n-8:])
	case n >= 4:
		q := n >> 3 << 2 // 0 below 8 bytes, 4 below 16, 8 at 16: the words overlap
		a = le32(s)<<32 | le32(s[q:])
		b = le32(s[n-4:])<<32 | le32(s[n-4-q:])
	case n > 0:
		a = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	}
	h = mum(a^k, b^h)
	return mum(h^hp3, uint64(n)^hp0)
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// tupleSeed starts the hash of a list of values.
const tupleSeed = 0x243f6a8885a308d3

// combine adds the hash of one value to the hash of a list of values.
func combine(h, v uint64) uint64 {
	h ^= v
	h *= 0x9e3779b97f4a7c15
	return h<<31 | h>>33
}

func finish(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	return h
}

// appendTuple appends s with its length in front, so that a list of
// values concatenates unambiguously.
func appendTuple(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeTuple returns the n values of an encoded list, padded with empty
// strings if it holds fewer (only in a corrupt checkpoint).
func decodeTuple(s string, n int) []string {
	out := make([]string, 0, n)
	for len(s) > 0 && len(out) < n {
		l, w := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
		if w <= 0 || uint64(len(s)-w) < l {
			break
		}
		out = append(out, s[w:w+int(l)])
		s = s[w+int(l):]
	}
	for len(out) < n {
		out = append(out, "")
	}
	return out
}
