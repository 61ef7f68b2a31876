package detect

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// fieldRef reads one field of an event: an envelope field, the resource
// UIDs, or one or more dotted paths into the native record.
type fieldRef struct {
	id        int // index of the field's slot in Scratch
	name      string
	envelope  func(*event.Event) string
	action    bool // the envelope action, which the rule index reads
	resources bool
	paths     []string
}

// scalar is one value of a field: its JSON kind, its text, and its text
// lower-cased for the case-insensitive matching that Sigma does by default.
type scalar struct {
	kind jsondoc.Kind
	text string
	low  string
}

// each calls fn with every scalar value of the field until fn returns false,
// and reports whether the field is present at all (null counts as present).
// Values of native paths are looked up once per event and kept in the
// scratch space, however many rules read the field.
func (f *fieldRef) each(c *evalCtx, fn func(scalar) bool) (present bool) {
	slot := c.s.field(f, c.ev)
	for _, v := range slot.vals {
		if !fn(v) {
			break
		}
	}
	return slot.present
}

// fieldSlot holds the values of one field for the event being evaluated.
type fieldSlot struct {
	gen     uint32
	present bool
	vals    []scalar
}

// field returns the values of f for ev, looking them up and lower-casing
// them on first use.
func (s *Scratch) field(f *fieldRef, ev *event.Event) *fieldSlot {
	slot := &s.fields[f.id]
	if slot.gen == s.gen {
		return slot
	}
	slot.gen = s.gen
	slot.present = false
	slot.vals = slot.vals[:0]
	switch {
	case f.envelope != nil:
		if v := f.envelope(ev); v != "" {
			slot.present = true
			slot.vals = append(slot.vals, scalar{jsondoc.String, v, s.lowerText(v)})
		}
	case f.resources:
		for _, r := range ev.Resources {
			slot.present = true
			slot.vals = append(slot.vals, scalar{jsondoc.String, r.UID, s.lowerText(r.UID)})
		}
	default:
		for _, p := range f.paths {
			ev.Raw.Find(p, func(v jsondoc.Value) bool {
				slot.present = true
				if k := v.Kind(); k != jsondoc.Object {
					text := v.Str()
					slot.vals = append(slot.vals, scalar{k, text, s.lowerText(text)})
				}
				return true
			})
		}
	}
	return slot
}

// lowerText returns text lower-cased. Text without upper-case letters is
// returned as it is; ASCII text is lower-cased into the scratch arena,
// which is reused from one event to the next.
func (s *Scratch) lowerText(text string) string {
	i := 0
	for ; i < len(text); i++ {
		if c := text[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			break
		}
	}
	if i == len(text) {
		return text
	}
	if !isASCII(text[i:]) {
		return strings.ToLower(text)
	}
	start := len(s.arena)
	s.arena = append(s.arena, text...)
	b := s.arena[start:]
	for j := i; j < len(b); j++ {
		b[j] = lowerASCII(b[j])
	}
	return unsafe.String(&b[0], len(b))
}

// matcher matches one scalar value of an event.
type matcher interface {
	match(c *evalCtx, v scalar) bool
}

// item is one "field|modifiers: values" entry of a selection.
type item struct {
	field    fieldRef
	keyword  bool // search every string of the native record
	exists   int8 // 1: the field must exist, -1: must not, 0: not an exists item
	neq, all bool
	hasNull  bool // one of the values is null
	values   []matcher
}

// cost estimates how expensive the item is to evaluate, to order the items
// of a branch.
func (it *item) cost() int {
	switch {
	case it.keyword:
		return 1000
	case it.exists != 0:
		return 0
	}
	most := 1
	for _, m := range it.values {
		c := 1
		switch m := m.(type) {
		case *strMatcher:
			switch {
			case m.glob != nil:
				c = 4
			case m.kind == sigma.MatchContains:
				c = 3
			case m.kind != sigma.MatchEquals:
				c = 2
			}
		case cidrMatcher:
			c = 3
		case *refMatcher:
			c = 5
		case regexMatcher:
			c = 8
		}
		most = max(most, c)
	}
	return most*4 + len(it.values)
}

func (it *item) eval(c *evalCtx) bool {
	r := it.evalPositive(c)
	if it.neq {
		return !r
	}
	return r
}

func (it *item) evalPositive(c *evalCtx) bool {
	if it.keyword {
		return it.evalKeyword(c)
	}
	if it.exists != 0 {
		present := it.field.each(c, func(scalar) bool { return false })
		return present == (it.exists > 0)
	}
	if !it.all {
		matched := false
		present := it.field.each(c, func(v scalar) bool {
			if v.kind == jsondoc.Null {
				matched = it.hasNull
				return !matched
			}
			for _, m := range it.values {
				if m.match(c, v) {
					matched = true
					return false
				}
			}
			return true
		})
		if !present && it.hasNull {
			return true
		}
		return matched
	}
	// |all: every value must be matched by some value of the field, and a
	// null among the values requires the field to be absent or null.
	for _, m := range it.values {
		found := false
		it.field.each(c, func(v scalar) bool {
			found = v.kind != jsondoc.Null && m.match(c, v)
			return !found
		})
		if !found {
			return false
		}
	}
	if it.hasNull {
		null := true
		it.field.each(c, func(v scalar) bool { null = v.kind == jsondoc.Null; return null })
		return null
	}
	return true
}

// evalKeyword matches the values against every string and number in the
// native record.
func (it *item) evalKeyword(c *evalCtx) bool {
	if it.all {
		for _, m := range it.values {
			if !keywordAny(c, m) {
				return false
			}
		}
		return true
	}
	for _, m := range it.values {
		if keywordAny(c, m) {
			return true
		}
	}
	return false
}

func keywordAny(c *evalCtx, m matcher) bool {
	found := false
	walkScalars(c.ev.Raw, func(v jsondoc.Value) bool {
		k := v.Kind()
		if k == jsondoc.String || k == jsondoc.Number {
			text := v.Str()
			if m.match(c, scalar{k, text, c.s.lowerText(text)}) {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

func walkScalars(v jsondoc.Value, fn func(jsondoc.Value) bool) bool {
	switch v.Kind() {
	case jsondoc.Object:
		cont := true
		v.Members(func(_ string, x jsondoc.Value) bool { cont = walkScalars(x, fn); return cont })
		return cont
	case jsondoc.Array:
		cont := true
		v.Elements(func(_ int, x jsondoc.Value) bool { cont = walkScalars(x, fn); return cont })
		return cont
	case jsondoc.Missing:
		return true
	}
	return fn(v)
}

// strMatcher matches text: numbers and booleans match by their JSON text.
type strMatcher struct {
	kind  sigma.MatchKind // Equals, Contains, StartsWith or EndsWith, on a literal
	lit   foldPattern
	cased string // the literal when matching case-sensitively
	isCas bool
	glob  *glob // set when the pattern has wildcards
}

func (m *strMatcher) match(_ *evalCtx, v scalar) bool {
	if v.kind == jsondoc.Null || v.kind == jsondoc.Missing {
		return false
	}
	if m.glob != nil {
		if m.glob.cased {
			return m.glob.match(v.text)
		}
		return m.glob.match(v.low)
	}
	s, lit := v.low, m.lit.lower
	if m.isCas {
		s, lit = v.text, m.cased
	}
	switch m.kind {
	case sigma.MatchContains:
		return strings.Contains(s, lit)
	case sigma.MatchStartsWith:
		return strings.HasPrefix(s, lit)
	case sigma.MatchEndsWith:
		return strings.HasSuffix(s, lit)
	}
	return s == lit
}

// newStrMatcher compiles one pattern alternative with the item's match kind.
func newStrMatcher(p sigma.Pattern, kind sigma.MatchKind, cased bool) *strMatcher {
	if p.IsLiteral() {
		lit := p.Literal()
		return &strMatcher{kind: kind, lit: newFoldPattern(lit), cased: lit, isCas: cased}
	}
	g := &glob{cased: cased}
	star := kind == sigma.MatchContains || kind == sigma.MatchEndsWith
	var cur globPart
	cur.star = star
	flush := func() {
		g.parts = append(g.parts, cur)
		cur = globPart{}
	}
	for _, s := range p {
		switch s.Kind {
		case sigma.SegLiteral:
			t := s.Text
			if !cased {
				t = strings.ToLower(t)
			}
			cur.lit += t
			cur.q = append(cur.q, make([]bool, len(t))...)
		case sigma.SegAnyChar:
			cur.lit += "?"
			cur.q = append(cur.q, true)
		case sigma.SegAnyString:
			flush()
			cur.star = true
		}
	}
	flush()
	if kind == sigma.MatchContains || kind == sigma.MatchStartsWith {
		g.parts = append(g.parts, globPart{star: true})
	}
	return &strMatcher{kind: kind, glob: g}
}

// numMatcher matches a number, in a JSON number or a numeric string.
type numMatcher struct {
	kind sigma.MatchKind // Equals, LT, LTE, GT or GTE
	n    float64
	part sigma.TimePart
}

func (m *numMatcher) match(c *evalCtx, v scalar) bool {
	var f float64
	if m.part != sigma.TimeNone {
		t, ok := parseTime(v)
		if !ok {
			return false
		}
		f = float64(timePart(t, m.part))
	} else {
		if v.kind != jsondoc.Number && v.kind != jsondoc.String {
			return false
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(v.text), 64)
		if err != nil || math.IsNaN(x) {
			return false
		}
		f = x
	}
	switch m.kind {
	case sigma.MatchLT:
		return f < m.n
	case sigma.MatchLTE:
		return f <= m.n
	case sigma.MatchGT:
		return f > m.n
	case sigma.MatchGTE:
		return f >= m.n
	}
	return f == m.n
}

func parseTime(v scalar) (time.Time, bool) {
	switch v.kind {
	case jsondoc.String:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"} {
			if t, err := time.Parse(layout, v.text); err == nil {
				return t.UTC(), true
			}
		}
	case jsondoc.Number:
		if ms, err := strconv.ParseInt(v.text, 10, 64); err == nil {
			if ms > 1e11 { // milliseconds since the epoch
				return time.UnixMilli(ms).UTC(), true
			}
			return time.Unix(ms, 0).UTC(), true
		}
	}
	return time.Time{}, false
}

func timePart(t time.Time, p sigma.TimePart) int {
	switch p {
	case sigma.TimeMinute:
		return t.Minute()
	case sigma.TimeHour:
		return t.Hour()
	case sigma.TimeDay:
		return t.Day()
	case sigma.TimeWeek:
		_, w := t.ISOWeek()
		return w
	case sigma.TimeMonth:
		return int(t.Month())
	}
	return t.Year()
}

type boolMatcher bool

func (m boolMatcher) match(_ *evalCtx, v scalar) bool {
	switch v.kind {
	case jsondoc.True:
		return bool(m)
	case jsondoc.False:
		return !bool(m)
	case jsondoc.String:
		b, err := strconv.ParseBool(strings.ToLower(v.text))
		return err == nil && b == bool(m)
	}
	return false
}

// regexMatcher runs a regular expression. Field values repeat a lot in
// cloud logs (role ARNs, user agents, operation names), so results are
// remembered per goroutine for recent values.
type regexMatcher struct {
	re *sigma.Regex
	id int32 // key of the matcher in the per-goroutine memo
}

func (m regexMatcher) match(c *evalCtx, v scalar) bool {
	if v.kind == jsondoc.Null {
		return false
	}
	key := memoKey{m.id, v.text}
	if r, ok := c.s.memo[key]; ok {
		return r
	}
	r := m.re.Re.MatchString(v.text)
	if len(c.s.memo) >= maxMemo {
		clear(c.s.memo)
	}
	key.text = strings.Clone(v.text) // the value points into the event's record
	c.s.memo[key] = r
	return r
}

// maxMemo bounds the remembered regular expression results per goroutine.
const maxMemo = 4096

type memoKey struct {
	matcher int32
	text    string
}

type cidrMatcher netip.Prefix

func (m cidrMatcher) match(_ *evalCtx, v scalar) bool {
	if v.kind != jsondoc.String {
		return false
	}
	a, err := netip.ParseAddr(v.text)
	if err != nil {
		return false
	}
	return netip.Prefix(m).Contains(a.Unmap())
}

// refMatcher compares with the values of another field of the same event.
type refMatcher struct {
	kind  sigma.MatchKind
	other fieldRef
	cased bool
}

func (m *refMatcher) match(c *evalCtx, v scalar) bool {
	if v.kind == jsondoc.Null {
		return false
	}
	found := false
	m.other.each(c, func(o scalar) bool {
		if o.kind == jsondoc.Null {
			return true
		}
		a, b := v.low, o.low
		if m.cased {
			a, b = v.text, o.text
		}
		switch m.kind {
		case sigma.MatchContains:
			found = strings.Contains(a, b)
		case sigma.MatchStartsWith:
			found = strings.HasPrefix(a, b)
		case sigma.MatchEndsWith:
			found = strings.HasSuffix(a, b)
		default:
			found = a == b
		}
		return !found
	})
	return found
}
