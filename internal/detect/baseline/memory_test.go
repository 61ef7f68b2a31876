package baseline

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// fieldRules read every kind of field: raw fields in conditions,
// exceptions, keys and values (as strings and as numbers), the role, the
// GeoIP fields and the user agent family, for several sources and for
// rules of any source.
const fieldRules = `id: r1
title: r1
kind: rate
events:
    - source: aws.cloudtrail
      raw.kind: [a, b]
    - source: aws.lambda
except:
    - raw.flag: [skip]
    - role: [arn:aws:iam::1:role/r0]
key: [raw.user, role]
value:
    field: raw.n
    times: raw.m
bucket: 5m
---
id: r2
title: r2
kind: first_seen
events:
    - source: aws.cloudtrail
      raw.other: {exists: true}
key: [role]
new: [raw.n, user_agent_family]
---
id: r3
title: r3
kind: first_seen
events:
    - principal_type: [AssumedRole, IAMUser]
key: [country]
new: [asn, raw.user]
---
id: r4
title: r4
kind: rate
events:
    - source: azure.activity
key: [source, role]
value:
    field: raw.m
bucket: 1m
---
id: r5
title: r5
kind: rate
events:
    - source: gcp.audit
key: [raw.n]
value:
    field: raw.n
bucket: 1m
`

// fieldEvents returns n random events for fieldRules, with raw records of
// their own memory; some have no time, and some assumed-role records name
// their principal by its ID and their role only as the session's issuer.
func fieldEvents(r *rand.Rand, n int) []*event.Event {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	sources := []string{event.SourceCloudTrail, "aws.lambda", event.SourceAzureActivity, event.SourceGCPAudit, "other"}
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	var out []*event.Event
	for i := range n {
		ev := &event.Event{Time: t0.Add(time.Duration(i) * time.Second), ID: fmt.Sprintf("id-%d", i), Source: pick(sources...),
			UserAgent: fmt.Sprintf("agent/%d.%d x", r.IntN(3), r.IntN(9)), SourceIP: fmt.Sprintf("10.0.0.%d", r.IntN(20))}
		if r.IntN(50) == 0 {
			ev.Time = time.Time{}
		}
		issuer := ""
		switch r.IntN(3) {
		case 0:
			role, session := r.IntN(4), r.IntN(3)
			ev.PrincipalType, ev.Principal = "AssumedRole", fmt.Sprintf("arn:aws:sts::1:assumed-role/r%d/s%d", role, session)
			if r.IntN(3) == 0 {
				ev.Principal = fmt.Sprintf("AROAEXAMPLE%d:s%d", role, session)
				issuer = fmt.Sprintf(`,"userIdentity":{"sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/path/r%d"}}}`, role)
			}
		case 1:
			ev.PrincipalType, ev.Principal = "serviceAccount", fmt.Sprintf("sa-%d", r.IntN(5))
		default:
			ev.PrincipalType, ev.Principal = "IAMUser", fmt.Sprintf("u-%d", r.IntN(5))
		}
		raw := fmt.Sprintf(`{"kind":%q,"flag":%q,"user":"usr-%d","n":%s,"m":"%d"%s%s}`,
			pick("a", "b", "c"), pick("skip", "keep"), r.IntN(4), pick("1.5", `"2"`, `"x"`, "3", "null"), r.IntN(3),
			issuer, pick("", `,"other":1`))
		var d jsondoc.Doc
		if err := d.Parse([]byte(raw)); err != nil {
			panic(err)
		}
		ev.Raw = d.Root()
		out = append(out, ev)
	}
	return out
}

// describe lists what a batch holds, event by event and record by record,
// with the values of the records' keys.
func (b *Batch) describe() []string {
	var out []string
	start := int32(0)
	for _, ev := range b.events {
		out = append(out, fmt.Sprintf("event t=%d bad=%v id=%q rules=%d", ev.t, ev.bad, b.view(ev.id), len(ev.cands)))
		for _, r := range b.recs[start:ev.end] {
			s := fmt.Sprintf("  %+v", r)
			if !r.noKey {
				for k := r.key; k < int32(len(b.keys)) && k < r.key+3; k++ {
					s += fmt.Sprintf(" %q", b.view(b.keys[k]))
				}
			}
			out = append(out, s)
		}
		start = ev.end
	}
	return out
}

// TestBatchOwnsItsMemory checks that a batch keeps nothing of the events
// it was read from: batches read from events in memory of their own, and
// from the same events in memory that the caller overwrites after each
// Extract, as a decoder does, are the same record by record; with every
// rule, and without the one that reads every source, so that the events
// of some sources count for no rule.
func TestBatchOwnsItsMemory(t *testing.T) {
	all, err := Parse("fields.baseline", []byte(fieldRules))
	if err != nil {
		t.Fatal(err)
	}
	some := slices.DeleteFunc(slices.Clone(all), func(r *Rule) bool { return r.ID == "r3" })
	if len(some) != len(all)-1 {
		t.Fatal("no rule r3")
	}
	for _, rules := range [][]*Rule{all, some} {
		testBatchOwnsItsMemory(t, rules)
	}
}

func testBatchOwnsItsMemory(t *testing.T, rules []*Rule) {
	geo := Geo{
		ASN:     func(ip netip.Addr) (string, bool) { return fmt.Sprint("AS", ip.As4()[3]%3), true },
		Country: func(ip netip.Addr) (string, bool) { return fmt.Sprint("C", ip.As4()[3]%2), true },
	}
	evs := fieldEvents(rand.New(rand.NewPCG(1, 2)), 5000)
	for _, lateness := range []time.Duration{2 * time.Minute, Unbounded} {
		e, err := New(rules, Options{Lateness: lateness, Geo: geo, HashSeed: 5})
		if err != nil {
			t.Fatal(err)
		}
		own, reused := e.NewExtractor(), e.NewExtractor()
		var src, strs []byte
		records := 0
		for i, ev := range evs {
			own.Extract(ev)
			c := *ev
			src = append(src[:0], ev.Raw.Raw()...)
			var d jsondoc.Doc
			if err := d.Parse(src); err != nil {
				t.Fatal(err)
			}
			c.Raw = d.Root()
			strs = strs[:0]
			for _, p := range c.StringFields() {
				start := len(strs)
				strs = append(strs, *p...)
				*p = unsafe.String(unsafe.SliceData(strs[start:]), len(*p))
			}
			reused.Extract(&c)
			// The decoder writes the next event over this one.
			for j := range src {
				src[j] = 'Z'
			}
			for j := range strs {
				strs[j] = 'Z'
			}
			if (i+1)%300 == 0 || i == len(evs)-1 {
				want, got := own.Take(nil), reused.Take(nil)
				records += len(want.recs)
				if w, g := want.describe(), got.describe(); !slices.Equal(w, g) {
					for k := range min(len(w), len(g)) {
						if w[k] != g[k] {
							t.Fatalf("%d rules, lateness %s, batch ending at event %d, line %d:\nown memory %s\nreused     %s", len(rules), lateness, i, k, w[k], g[k])
						}
					}
					t.Fatalf("%d rules, lateness %s, batch ending at event %d: %d lines from own memory, %d from reused", len(rules), lateness, i, len(w), len(g))
				}
			}
		}
		if records < len(evs)/4 {
			t.Errorf("%d rules, lateness %s: %d records for %d events; the rules should count more", len(rules), lateness, records, len(evs))
		}
	}
}

// TestPlanCoversReads checks that each source's plan holds every field its
// rules read: batches read with every field the plan leaves out set to
// some value are the same as batches read without; the values tried are
// those the rules' conditions and the role look for, and others.
func TestPlanCoversReads(t *testing.T) {
	all, err := Parse("fields.baseline", []byte(fieldRules))
	if err != nil {
		t.Fatal(err)
	}
	values := []string{"", "unplanned", "1.5", "AssumedRole", "serviceAccount", "arn:aws:sts::1:assumed-role/r0/s0"}
	for _, r := range all {
		for _, cl := range append(slices.Clone(r.Events), r.Except...) {
			for _, cd := range cl.Conds {
				values = append(values, cd.Values...)
			}
		}
	}
	geo := Geo{
		ASN:     func(ip netip.Addr) (string, bool) { return fmt.Sprint("AS", ip.As4()[3]%3), true },
		Country: func(ip netip.Addr) (string, bool) { return fmt.Sprint("C", ip.As4()[3]%2), true },
	}
	evs := fieldEvents(rand.New(rand.NewPCG(3, 4)), 1000)
	// Without r3, which reads every source, fewer fields are planned.
	some := slices.DeleteFunc(slices.Clone(all), func(r *Rule) bool { return r.ID == "r3" })
	for _, rules := range [][]*Rule{all, some} {
		e, err := New(rules, Options{Lateness: Unbounded, Geo: geo, HashSeed: 5})
		if err != nil {
			t.Fatal(err)
		}
		plain := e.NewExtractor()
		for _, ev := range evs {
			plain.Extract(ev)
		}
		want := plain.Take(nil).describe()
		for _, v := range values {
			poisoned := e.NewExtractor()
			poison = &fieldVal{val: v, hash: 1, num: 7, numOK: true}
			for _, ev := range evs {
				poisoned.Extract(ev)
			}
			poison = nil
			if got := poisoned.Take(nil).describe(); !slices.Equal(want, got) {
				t.Fatalf("%d rules, with %q in the fields the plan leaves out: a rule read one of them:\n%s", len(rules), v, firstDiff(want, got))
			}
		}
	}
}

// firstDiff describes the first line where two descriptions differ.
func firstDiff(w, g []string) string {
	for k := range min(len(w), len(g)) {
		if w[k] != g[k] {
			return fmt.Sprintf("line %d:\nwant %s\ngot  %s", k, w[k], g[k])
		}
	}
	return fmt.Sprintf("%d lines against %d", len(w), len(g))
}
