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
	// hash finds the derived value in a cache (the role of a service
	// principal is the principal itself). typ is, for the role, the
	// principal type, which says how the role follows from the principal.
	base, typ *fieldRef
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
	if f.kind == fieldRole {
		typ := ids.compile("principal_type")
		f.typ = &typ
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

// read returns the value of an envelope or raw field of ev, cut to
// maxValueLen, "" when absent. The value may share the event's memory.
func (f *fieldRef) read(ev *event.Event) string {
	var v string
	if f.kind == fieldRaw {
		v = ev.Raw.First(f.path).Str()
	} else {
		v = f.env(ev)
	}
	if len(v) > maxValueLen {
		v = v[:maxValueLen]
	}
	return v
}

// evctx holds the fields of the event being extracted: the values its
// route reads (see sourceRoute), each cut to maxValueLen, with the hashes
// of those a key or a cache needs, and the values derived from them.
type evctx struct {
	gen uint32     // the current event: a span of another generation is stale
	f   []fieldVal // by field id; only the route's fields are the event's
	key keyHash
	geo *Geo
	// The GeoIP answer of the current event, once a field needed it.
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
	empty   hashed // "" and its hash
}

// fieldVal is what is known of one field of the current event: its
// value, its hash (when its route hashes it), its value as a number (raw
// fields that rules add up), and the span of its value in the batch's
// arena, valid when sgen is the event's generation.
type fieldVal struct {
	val   string
	hash  uint64
	num   float64
	numOK bool
	sgen  uint32
	sp    span
}

// hashed is a derived value and its hash under the evaluator's seed.
type hashed struct {
	v string
	h uint64
}

// geoAnswer is the ASN and country of an address.
type geoAnswer [2]hashed

func (x *evctx) init(fields int, seed uint64, geo *Geo) {
	x.f = make([]fieldVal, fields)
	x.key = newKeyHash(seed)
	x.geo = geo
	x.empty = hashed{h: x.key.sum("")} // before any call of hashed
}

// load makes ev the current event: the values of the fields that rt's
// rules read are read, those that keys and caches need hashed, and the
// derived fields computed. The values may share the event's memory, which
// a decoder reuses for the next event: what outlives the event is copied
// (see Extractor.value, and the caches' compute functions).
func (x *evctx) load(rt *sourceRoute, ev *event.Event) {
	x.gen++
	if x.gen == 0 { // wrapped: forget every span
		clear(x.f)
		x.gen = 1
	}
	if poison != nil {
		for i := range x.f {
			x.f[i] = *poison
		}
	}
	for j := range rt.read {
		p := &rt.read[j]
		s := &x.f[p.f.id]
		s.val = p.f.read(ev)
		if p.hash {
			s.hash = x.key.sum(s.val)
		}
	}
	for _, f := range rt.nums {
		s := &x.f[f.id]
		s.num, s.numOK = ev.Raw.First(f.path).Float()
	}
	x.geoOK = false
	for _, f := range rt.derived {
		d := x.derive(f, ev)
		s := &x.f[f.id]
		s.val, s.hash = d.v, d.h
	}
}

// poison, set by tests only, is what every field holds before an event's
// planned fields are read, so that a rule that reads a field its source's
// plan left out reads it, and the tests see.
var poison *fieldVal

// derive returns the value of a derived field of ev, cut to maxValueLen,
// and its hash, from the fields it is computed from.
func (x *evctx) derive(f *fieldRef, ev *event.Event) hashed {
	base := &x.f[f.base.id]
	switch f.kind {
	case fieldASN, fieldCountry:
		if !x.geoOK {
			x.geoV, x.geoOK = x.geoOf(base), true
		}
		if f.kind == fieldASN {
			return (*x.geoV)[0]
		}
		return (*x.geoV)[1]
	case fieldRole:
		switch x.f[f.typ.id].val {
		case "AssumedRole":
			// The role in the session's ARN, built once per session: the
			// role depends on the principal alone, whichever records of
			// the session came before, and whatever else they say.
			if base.val != "" {
				if r := x.roles.get(base.hash, func() hashed { return x.hashed(roleOfSession(base.val)) }); r.v != "" {
					return r
				}
			}
			// A record whose principal is no session ARN (its
			// principalId, say) may still name the session's issuer:
			// the same role, once its path is left out as session ARNs
			// leave it out.
			return x.hashed(roleOfIssuer(ev.Raw.Path("userIdentity", "sessionContext", "sessionIssuer", "arn").Str()))
		case "serviceAccount", "ServicePrincipal", "ManagedIdentity":
			return hashed{v: base.val, h: base.hash}
		}
		return x.empty
	case fieldUAFamily:
		if base.val == "" {
			return x.empty
		}
		return x.agents.get(base.hash, func() hashed { return x.hashed(strings.Clone(userAgentFamily(base.val))) })
	}
	return x.empty
}

// hashed returns v, cut to maxValueLen, with its hash.
func (x *evctx) hashed(v string) hashed {
	if v == "" {
		return x.empty
	}
	if len(v) > maxValueLen {
		v = v[:maxValueLen]
	}
	return hashed{v: v, h: x.key.sum(v)}
}

// geoOf returns the ASN and country of the address ip, through the
// cache.
func (x *evctx) geoOf(ip *fieldVal) *geoAnswer {
	if ip.val == "" {
		if x.noGeo == nil {
			x.noGeo = x.answer("", "")
		}
		return x.noGeo
	}
	return x.geoCache.get(ip.hash, func() *geoAnswer {
		var asn, country string
		if ip, err := netip.ParseAddr(ip.val); err == nil {
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

// roleOfIssuer turns arn:PARTITION:iam::ACCOUNT:role/PATH/ROLE, a
// session's issuer, into arn:PARTITION:iam::ACCOUNT:role/ROLE, or "".
func roleOfIssuer(arn string) string {
	path, ok := awsRole(arn, "iam", "role/")
	if !ok {
		return ""
	}
	return path.arn(path.rest[strings.LastIndexByte(path.rest, '/')+1:])
}

// roleOfSession turns arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION
// into arn:PARTITION:iam::ACCOUNT:role/ROLE, or "".
func roleOfSession(arn string) string {
	session, ok := awsRole(arn, "sts", "assumed-role/")
	if !ok {
		return ""
	}
	role, _, _ := strings.Cut(session.rest, "/")
	return session.arn(role)
}

// roleARN is an ARN naming a role, split.
type roleARN struct{ partition, account, rest string }

// awsRole splits arn:PARTITION:SERVICE::ACCOUNT:PREFIX REST, with a
// partition and an account.
func awsRole(arn, service, prefix string) (roleARN, bool) {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return roleARN{}, false
	}
	var r roleARN
	r.partition, rest, _ = strings.Cut(rest, ":")
	if rest, ok = strings.CutPrefix(rest, service+"::"); !ok {
		return roleARN{}, false
	}
	r.account, rest, _ = strings.Cut(rest, ":")
	r.rest, ok = strings.CutPrefix(rest, prefix)
	return r, ok && r.partition != "" && r.account != ""
}

// arn returns the ARN of the IAM role named role in r's partition and
// account, or "" when role is empty.
func (r roleARN) arn(role string) string {
	if role == "" {
		return ""
	}
	return "arn:" + r.partition + ":iam::" + r.account + ":role/" + role
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
	v := x.f[c.f.id].val
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
