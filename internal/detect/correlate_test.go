package detect

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// baseRules are the base rules the correlation tests refer to: one per
// event name A, B, C and D.
const baseRules = `title: Step A
id: 0c4f4c4e-0000-4000-8000-00000000000a
name: step_a
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: A}
  condition: sel
---
title: Step B
id: 0c4f4c4e-0000-4000-8000-00000000000b
name: step_b
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: B}
  condition: sel
---
title: Step C
id: 0c4f4c4e-0000-4000-8000-00000000000c
name: step_c
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: C}
  condition: sel
---
title: Step D
name: step_d
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: D}
  condition: sel
`

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// tev describes a test event: at seconds after t0, an event name, a user
// and optional fields.
type tev struct {
	at   int
	name string
	user string
	fn   string  // requestParameters.functionName
	size float64 // requestParameters.size
	dst  string  // requestParameters.target, for aliases
	id   string  // event ID; default derived from the position
}

func (e tev) event(t testing.TB, i int) *event.Event {
	t.Helper()
	rec := fmt.Sprintf(`{"eventName":%q,"eventSource":"test.amazonaws.com","userIdentity":{"arn":%q},"requestParameters":{"functionName":%q,"size":%g,"target":%q}}`,
		e.name, e.user, e.fn, e.size, e.dst)
	if e.fn == "" {
		rec = strings.Replace(rec, `"functionName":"",`, "", 1)
	}
	var d jsondoc.Doc
	if err := d.Parse([]byte(rec)); err != nil {
		t.Fatal(err)
	}
	id := e.id
	if id == "" {
		id = fmt.Sprintf("ev%03d", i)
	}
	return &event.Event{Cloud: event.AWS, Source: event.SourceCloudTrail, Action: e.name, Principal: e.user,
		Time: t0.Add(time.Duration(e.at) * time.Second), ID: id, Raw: d.Root()}
}

// loadSet loads rule documents as one file and fails the test on any
// failure or inactive rule.
func loadSet(t testing.TB, docs ...string) *Set {
	t.Helper()
	set := Load([]File{{Name: "c.yml", Data: []byte(strings.Join(docs, "\n---\n"))}}, Options{})
	for _, f := range set.Failed {
		t.Fatalf("load: %v", f)
	}
	for _, in := range set.Inactive {
		t.Fatalf("inactive: %s: %s", in.Rule.Title, in.Reason)
	}
	return set
}

// observe matches events against set and returns the observations, and the
// titles of the rules that emit, in order.
func observe(t testing.TB, set *Set, evs []tev) (obs []*Observation, emitted []string) {
	t.Helper()
	s := set.Engine.NewScratch()
	for i, e := range evs {
		ev := e.event(t, i)
		set.Engine.Match(ev, s, func(r *Rule) {
			if set.CorrelationSet.Emits(r) {
				emitted = append(emitted, r.Title+" "+ev.ID)
			}
			if o := set.CorrelationSet.Observe(r, ev, s); o != nil {
				obs = append(obs, o)
			}
		})
	}
	return obs, emitted
}

// format renders a correlation match on one line.
func format(m *CorrelationMatch) string {
	var g []string
	for _, v := range m.Group {
		g = append(g, v.Field+"="+v.Value)
	}
	s := fmt.Sprintf("%s [%s] at=%s value=%g count=%d events=%s", m.Correlation.Rule.Title, strings.Join(g, " "),
		m.Time.Sub(t0), m.Value, m.Count, strings.Join(m.Events, ","))
	if m.Text != "" {
		s += " text=" + m.Text
	}
	return s
}

// correlate feeds observations in order to a correlator with the options
// and returns the formatted matches.
func correlate(set *Set, obs []*Observation, opts CorrelatorOptions) ([]string, *Correlator) {
	c := NewCorrelator(set.CorrelationSet, opts)
	var out []string
	emit := func(m *CorrelationMatch) { out = append(out, format(m)) }
	for _, o := range obs {
		c.Add(o, emit)
	}
	c.Flush(emit)
	return out, c
}

func TestCorrelationTypes(t *testing.T) {
	cases := []struct {
		name   string
		corr   string
		events []tev
		want   []string
	}{{
		name: "event_count fires once the threshold is reached, then starts over",
		corr: `title: Burst
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {gte: 3}}`,
		events: []tev{{0, "A", "u1", "", 0, "", ""}, {10, "A", "u2", "", 0, "", ""}, {20, "A", "u1", "", 0, "", ""}, {30, "A", "u1", "", 0, "", ""},
			{40, "A", "u1", "", 0, "", ""}, {50, "A", "u1", "", 0, "", ""}, {100, "A", "u1", "", 0, "", ""}},
		// Firing consumes the window: the next match needs three new events.
		want: []string{"Burst [userIdentity.arn=u1] at=30s value=3 count=3 events=ev000,ev002,ev003",
			"Burst [userIdentity.arn=u1] at=1m40s value=3 count=3 events=ev004,ev005,ev006"},
	}, {
		name: "event_count: matches further apart than the timespan do not add up",
		corr: `title: Burst
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {gt: 2}}`,
		events: []tev{{0, "A", "u1", "", 0, "", ""}, {40, "A", "u1", "", 0, "", ""}, {101, "A", "u1", "", 0, "", ""}, {150, "A", "u1", "", 0, "", ""}},
		want:   nil,
	}, {
		name: "event_count: the window includes a match exactly a timespan old",
		corr: `title: Burst
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {gte: 2}}`,
		events: []tev{{0, "A", "u1", "", 0, "", ""}, {60, "A", "u1", "", 0, "", ""}},
		want:   []string{"Burst [userIdentity.arn=u1] at=1m0s value=2 count=2 events=ev000,ev001"},
	}, {
		name: "event_count over two rules, grouped by two fields",
		corr: `title: Mixed
correlation: {type: event_count, rules: [step_a, step_b], group-by: [userIdentity.arn, requestParameters.functionName], timespan: 5m, condition: {gte: 3}}`,
		events: []tev{{0, "A", "u1", "f1", 0, "", ""}, {1, "B", "u1", "f1", 0, "", ""}, {2, "B", "u1", "f2", 0, "", ""}, {3, "C", "u1", "f1", 0, "", ""},
			{4, "A", "u1", "", 0, "", ""}, {5, "B", "u1", "f1", 0, "", ""}},
		want: []string{"Mixed [userIdentity.arn=u1 requestParameters.functionName=f1] at=5s value=3 count=3 events=ev000,ev001,ev005"},
	}, {
		name: "event_count with a range is checked when the window closes",
		corr: `title: Few
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {gte: 2, lte: 3}}`,
		events: []tev{{0, "A", "u1", "", 0, "", ""}, {10, "A", "u1", "", 0, "", ""}, {20, "A", "u1", "", 0, "", ""}, {30, "A", "u1", "", 0, "", ""},
			{0, "A", "u2", "", 0, "", ""}, {30, "A", "u2", "", 0, "", ""}, {0, "A", "u3", "", 0, "", ""}},
		// u1 has 4 in [0s,60s]; the window reopens at 10s with 3.
		want: []string{"Few [userIdentity.arn=u2] at=1m0s value=2 count=2 events=ev004,ev005",
			"Few [userIdentity.arn=u1] at=1m10s value=3 count=3 events=ev001,ev002,ev003"},
	}, {
		name: "event_count eq and neq",
		corr: `title: Exactly two
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {eq: 2}}`,
		events: []tev{{0, "A", "u1", "", 0, "", ""}, {10, "A", "u1", "", 0, "", ""}, {0, "A", "u2", "", 0, "", ""}},
		want:   []string{"Exactly two [userIdentity.arn=u1] at=1m0s value=2 count=2 events=ev000,ev001"},
	}, {
		name: "value_count counts distinct values; a match without the field adds nothing",
		corr: `title: Enumeration
correlation: {type: value_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 10m, condition: {field: requestParameters.functionName, gte: 3}}`,
		events: []tev{{0, "A", "u1", "f1", 0, "", ""}, {1, "A", "u1", "f1", 0, "", ""}, {2, "A", "u1", "", 0, "", ""}, {3, "A", "u1", "f2", 0, "", ""},
			{4, "A", "u2", "f3", 0, "", ""}, {5, "A", "u1", "f3", 0, "", ""}},
		want: []string{"Enumeration [userIdentity.arn=u1] at=5s value=3 count=4 events=ev000,ev001,ev003,ev005"},
	}, {
		name: "value_count just below the threshold",
		corr: `title: Enumeration
correlation: {type: value_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 10m, condition: {field: requestParameters.functionName, gt: 3}}`,
		events: []tev{{0, "A", "u1", "f1", 0, "", ""}, {1, "A", "u1", "f2", 0, "", ""}, {2, "A", "u1", "f3", 0, "", ""}, {3, "A", "u1", "f3", 0, "", ""}},
		want:   nil,
	}, {
		name: "value_count of combinations of two fields",
		corr: `title: Pairs
correlation: {type: value_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 10m, condition: {field: [requestParameters.functionName, requestParameters.target], gte: 2}}`,
		events: []tev{{0, "A", "u1", "f1", 0, "x", ""}, {1, "A", "u1", "f1", 0, "x", ""}, {2, "A", "u1", "f1", 0, "y", ""}},
		want:   []string{"Pairs [userIdentity.arn=u1] at=2s value=2 count=3 events=ev000,ev001,ev002"},
	}, {
		name: "value_count over a window larger than the small size",
		corr: `title: Enumeration
correlation: {type: value_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {field: requestParameters.functionName, gte: 9}}`,
		events: manyValues(55),
		want:   []string{"Enumeration [userIdentity.arn=u1] at=59s value=9 count=17 events=ev000,ev001,ev002,ev003,ev004,ev005,ev006,ev007,ev008,ev009,ev010,ev011,ev012,ev013,ev014,ev015,ev016"},
	}, {
		name: "value_count over a window that was large and is small again",
		corr: `title: Enumeration
correlation: {type: value_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {field: requestParameters.functionName, gte: 5}}`,
		events: manyValues(80),
		want:   []string{"Enumeration [userIdentity.arn=u1] at=1m24s value=5 count=5 events=ev012,ev013,ev014,ev015,ev016"},
	}, {
		name: "value_percentile over a large window",
		corr: `title: Rare
correlation: {type: value_percentile, rules: [step_a], group-by: [userIdentity.arn], timespan: 10m, condition: {field: requestParameters.functionName, lt: 10}}`,
		events: append(repeatEvents(10, "common"), tev{50, "A", "u1", "rare", 0, "", "ev099"}),
		want:   []string{"Rare [userIdentity.arn=u1] at=10m0s value=9.090909090909092 count=11 events=ev000,ev001,ev002,ev003,ev004,ev005,ev006,ev007,ev008,ev009,ev099 text=rare"},
	}, {
		name: "temporal needs every rule in any order",
		corr: `title: Together
correlation: {type: temporal, rules: [step_a, step_b, step_c], group-by: [userIdentity.arn], timespan: 1m}`,
		events: []tev{{0, "C", "u1", "", 0, "", ""}, {5, "A", "u1", "", 0, "", ""}, {6, "A", "u2", "", 0, "", ""}, {10, "B", "u1", "", 0, "", ""},
			{20, "B", "u2", "", 0, "", ""}, {90, "C", "u2", "", 0, "", ""}},
		want: []string{"Together [userIdentity.arn=u1] at=10s value=3 count=3 events=ev000,ev001,ev003"},
	}, {
		name: "temporal with a condition on how many rules",
		corr: `title: Two of three
correlation: {type: temporal, rules: [step_a, step_b, step_c], group-by: [userIdentity.arn], timespan: 1m, condition: {gte: 2}}`,
		events: []tev{{0, "A", "u1", "", 0, "", ""}, {5, "A", "u1", "", 0, "", ""}, {10, "C", "u1", "", 0, "", ""}},
		want:   []string{"Two of three [userIdentity.arn=u1] at=10s value=2 count=3 events=ev000,ev001,ev002"},
	}, {
		name: "temporal_ordered needs the rules in the order listed",
		corr: `title: Chain
correlation: {type: temporal_ordered, rules: [step_a, step_b, step_c], group-by: [userIdentity.arn], timespan: 1h}`,
		events: []tev{{0, "B", "u1", "", 0, "", ""}, {10, "C", "u1", "", 0, "", ""}, {20, "A", "u1", "", 0, "", ""}, {30, "C", "u1", "", 0, "", ""},
			{40, "B", "u1", "", 0, "", ""}, {50, "C", "u1", "", 0, "", ""},
			{0, "A", "u2", "", 0, "", ""}, {10, "C", "u2", "", 0, "", ""}, {20, "B", "u2", "", 0, "", ""}},
		// Matches that cannot extend the chain (B and C before any A, C
		// before B) are not kept.
		want: []string{"Chain [userIdentity.arn=u1] at=50s value=3 count=3 events=ev002,ev004,ev005"},
	}, {
		name: "temporal_ordered out of window",
		corr: `title: Chain
correlation: {type: temporal_ordered, rules: [step_a, step_b], group-by: [userIdentity.arn], timespan: 1m}`,
		events: []tev{{0, "A", "u1", "", 0, "", ""}, {61, "B", "u1", "", 0, "", ""}},
		want:   nil,
	}, {
		name: "value_sum adds up a numeric field",
		corr: `title: Volume
correlation: {type: value_sum, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {field: requestParameters.size, gt: 100}}`,
		events: []tev{{0, "A", "u1", "", 60, "", ""}, {10, "A", "u1", "", 40, "", ""}, {20, "A", "u1", "", 0.5, "", ""}, {100, "A", "u1", "", 90, "", ""}},
		want:   []string{"Volume [userIdentity.arn=u1] at=20s value=100.5 count=3 events=ev000,ev001,ev002"},
	}, {
		name: "value_avg is checked over the whole window",
		corr: `title: Large
correlation: {type: value_avg, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {field: requestParameters.size, gt: 50}}`,
		events: []tev{{0, "A", "u1", "", 100, "", ""}, {10, "A", "u1", "", 10, "", ""}, {20, "A", "u1", "", 10, "", ""},
			{0, "A", "u2", "", 40, "", ""}, {30, "A", "u2", "", 70, "", ""}},
		want: []string{"Large [userIdentity.arn=u2] at=1m0s value=55 count=2 events=ev003,ev004"},
	}, {
		name: "value_percentile finds a value rarer than the threshold",
		corr: `title: Rare
correlation: {type: value_percentile, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {field: requestParameters.functionName, lte: 25}}`,
		events: []tev{{0, "A", "u1", "common", 0, "", ""}, {1, "A", "u1", "common", 0, "", ""}, {2, "A", "u1", "common", 0, "", ""},
			{3, "A", "u1", "common", 0, "", ""}, {4, "A", "u1", "rare", 0, "", ""},
			{0, "A", "u2", "x", 0, "", ""}, {1, "A", "u2", "y", 0, "", ""}},
		want: []string{"Rare [userIdentity.arn=u1] at=1m0s value=20 count=5 events=ev000,ev001,ev002,ev003,ev004 text=rare"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := loadSet(t, baseRules, tc.corr)
			if len(set.Correlations) != 1 {
				t.Fatalf("%d correlations", len(set.Correlations))
			}
			sortEvents(tc.events)
			obs, _ := observe(t, set, tc.events)
			got, c := correlate(set, obs, CorrelatorOptions{})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("matches (-want +got):\n%s", diff)
			}
			if st := c.Stats(); st.Groups != 0 || st.Entries != 0 || st.Pending != 0 || st.Late != 0 {
				t.Errorf("after Flush: %+v", st)
			}
		})
	}
}

// manyValues returns twelve matches over four function names in twelve
// seconds, then five new names one a second from second later.
func manyValues(later int) []tev {
	var evs []tev
	for i := 0; i < 12; i++ {
		evs = append(evs, tev{at: i, name: "A", user: "u1", fn: fmt.Sprintf("f%d", 1+i%4)})
	}
	for i := 0; i < 5; i++ {
		evs = append(evs, tev{at: later + i, name: "A", user: "u1", fn: fmt.Sprintf("f%d", 5+i)})
	}
	return evs
}

// repeatEvents returns n matches of one function name, a second apart.
func repeatEvents(n int, fn string) []tev {
	var evs []tev
	for i := 0; i < n; i++ {
		evs = append(evs, tev{at: i, name: "A", user: "u1", fn: fn})
	}
	return evs
}

// sortEvents orders events by time, keeping their IDs in the given order.
func sortEvents(evs []tev) {
	for i := range evs {
		if evs[i].id == "" {
			evs[i].id = fmt.Sprintf("ev%03d", i)
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
}

func TestGenerateAndChaining(t *testing.T) {
	const inner = `title: Many A
name: many_a
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {gte: 2}}`
	const outer = `title: Many A then C
id: 6f8f0bfa-8d0c-4cc4-9df4-1b8f5f4b7b01
correlation: {type: temporal_ordered, rules: [many_a, step_c], group-by: [userIdentity.arn], timespan: 10m}`
	events := []tev{{0, "A", "u1", "", 0, "", ""}, {5, "B", "u1", "", 0, "", ""}, {10, "A", "u1", "", 0, "", ""}, {20, "C", "u1", "", 0, "", ""}, {30, "C", "u2", "", 0, "", ""}}
	sortEvents(events)

	set := loadSet(t, baseRules, inner, outer)
	obs, emitted := observe(t, set, events)
	// step_b is referenced by nothing: it emits. step_a and step_c feed
	// correlations without generate: they do not. The inner correlation
	// feeds the outer one: it does not emit either.
	if diff := cmp.Diff([]string{"Step B ev001"}, emitted); diff != "" {
		t.Errorf("emitting rules (-want +got):\n%s", diff)
	}
	got, _ := correlate(set, obs, CorrelatorOptions{})
	want := []string{"Many A then C [userIdentity.arn=u1] at=20s value=2 count=2 events=ev000,ev002,ev003"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}

	// generate: true makes the referenced rules and correlations emit too.
	set = loadSet(t, baseRules, strings.Replace(inner, "title: Many A", "title: Many A\ngenerate: true", 1),
		strings.Replace(outer, "title: Many A then C", "title: Many A then C\ngenerate: true", 1))
	obs, emitted = observe(t, set, events)
	if diff := cmp.Diff([]string{"Step A ev000", "Step B ev001", "Step A ev002", "Step C ev003", "Step C ev004"}, emitted); diff != "" {
		t.Errorf("emitting rules with generate (-want +got):\n%s", diff)
	}
	got, _ = correlate(set, obs, CorrelatorOptions{})
	want = []string{"Many A [userIdentity.arn=u1] at=10s value=2 count=2 events=ev000,ev002",
		"Many A then C [userIdentity.arn=u1] at=20s value=2 count=2 events=ev000,ev002,ev003"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("matches with generate (-want +got):\n%s", diff)
	}
}

func TestAliases(t *testing.T) {
	const corr = `title: Handed over
correlation:
  type: temporal_ordered
  rules: [step_a, step_b]
  group-by: [actor]
  timespan: 10m
  aliases:
    actor:
      step_a: userIdentity.arn
      step_b: requestParameters.target`
	set := loadSet(t, baseRules, corr)
	events := []tev{{0, "A", "alice", "", 0, "", ""}, {10, "B", "bob", "", 0, "carol", ""}, {20, "B", "mallory", "", 0, "alice", ""}}
	sortEvents(events)
	obs, _ := observe(t, set, events)
	got, _ := correlate(set, obs, CorrelatorOptions{})
	want := []string{"Handed over [actor=alice] at=20s value=2 count=2 events=ev000,ev002"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
}

func TestLateness(t *testing.T) {
	set := loadSet(t, baseRules, `title: Burst
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {gte: 3}}`)
	events := []tev{{0, "A", "u1", "", 0, "", ""}, {20, "A", "u1", "", 0, "", ""}, {40, "A", "u1", "", 0, "", ""}, {400, "A", "u1", "", 0, "", ""}}
	sortEvents(events)
	obs, _ := observe(t, set, events)
	// Arrival: 40s, 0s (40s behind: on time), 400s, then 20s, which is
	// 380s behind the watermark: late with 5 minutes of lateness.
	c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{})
	var got []string
	emit := func(m *CorrelationMatch) { got = append(got, format(m)) }
	for _, i := range []int{2, 0, 3, 1} {
		c.Add(obs[i], emit)
	}
	c.Flush(emit)
	if len(got) != 0 || c.Stats().Late != 1 {
		t.Errorf("matches %v, stats %+v; want none and one late", got, c.Stats())
	}
	// With 10 minutes of lateness the same arrival order gives the match.
	got = nil
	c = NewCorrelator(set.CorrelationSet, CorrelatorOptions{Lateness: 10 * time.Minute})
	for _, i := range []int{2, 0, 3, 1} {
		c.Add(obs[i], emit)
	}
	if len(got) != 0 || c.Stats().Pending != 4 {
		t.Errorf("with lateness 10m: matches %v, stats %+v; want all four held", got, c.Stats())
	}
	c.Advance(t0.Add(11*time.Minute), emit)
	if len(got) != 1 || c.Stats().Late != 0 || c.Stats().Pending != 1 {
		t.Errorf("after the watermark passed: matches %v, stats %+v; want the match, and the 400s event held", got, c.Stats())
	}
}

func TestAdvanceClosesWindows(t *testing.T) {
	set := loadSet(t, baseRules, `title: Quiet pair
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1m, condition: {eq: 2}}`)
	events := []tev{{0, "A", "u1", "", 0, "", ""}, {10, "A", "u1", "", 0, "", ""}}
	sortEvents(events)
	obs, _ := observe(t, set, events)
	c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{Lateness: time.Minute})
	var got []string
	emit := func(m *CorrelationMatch) { got = append(got, format(m)) }
	for _, o := range obs {
		c.Add(o, emit)
	}
	c.Advance(t0.Add(2*time.Minute), emit)
	if len(got) != 0 {
		t.Fatalf("window closed before the lateness passed its end: %v", got)
	}
	c.Advance(t0.Add(2*time.Minute+time.Second), emit)
	want := []string{"Quiet pair [userIdentity.arn=u1] at=1m0s value=2 count=2 events=ev000,ev001"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
}

func TestStateBounds(t *testing.T) {
	set := loadSet(t, baseRules, `title: Burst
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 2}}`)
	var events []tev
	for i := 0; i < 10; i++ {
		events = append(events, tev{at: i, name: "A", user: fmt.Sprintf("u%d", i)})
	}
	events = append(events, tev{at: 20, name: "A", user: "u9"}, tev{at: 21, name: "A", user: "u0"})
	sortEvents(events)
	obs, _ := observe(t, set, events)
	got, c := correlate(set, obs, CorrelatorOptions{MaxGroups: 4})
	// u0 was evicted (least recently used) long before its second match.
	want := []string{"Burst [userIdentity.arn=u9] at=20s value=2 count=2 events=ev009,ev010"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
	if st := c.Stats(); st.Evicted != 6 {
		t.Errorf("evicted %d groups, want 6 (u0 to u5): %+v", st.Evicted, st)
	}
}

func TestWindowEventsCap(t *testing.T) {
	set := loadSet(t, baseRules, `title: Rare
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1h, condition: {lt: 2}}`)
	var events []tev
	for i := 0; i < MaxWindowEvents+5; i++ {
		events = append(events, tev{at: i / 10, name: "A", user: "u1", id: fmt.Sprintf("e%05d", i)})
	}
	obs, _ := observe(t, set, events)
	c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{Lateness: time.Nanosecond})
	for _, o := range obs {
		c.Add(o, nil)
	}
	c.Advance(t0.Add(1001*time.Second), nil)
	if st := c.Stats(); st.Entries != MaxWindowEvents || st.Trimmed != 5 {
		t.Errorf("stats %+v; want %d entries and 5 trimmed", st, MaxWindowEvents)
	}
}

// TestMatchEventsApart checks the event IDs of many matches, which share
// the correlator's buffers: each match lists the IDs of its own events, in
// UUID form or not, and a consumer that changes one match's list, or
// appends to it, leaves the lists of the others as they were.
func TestMatchEventsApart(t *testing.T) {
	set := loadSet(t, baseRules, `title: Pairs
correlation: {type: event_count, rules: [step_a], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 2}}`)
	var events []tev
	byUser := map[string][]string{}
	for i := 0; i < 400; i++ {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		if i%3 == 0 {
			id = fmt.Sprintf("plain-%d", i)
		}
		user := fmt.Sprintf("u%d", i%2)
		events = append(events, tev{at: i, name: "A", user: user, id: id})
		byUser[user] = append(byUser[user], id)
	}
	obs, _ := observe(t, set, events)
	var matches []*CorrelationMatch
	c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{Lateness: Unbounded})
	for _, o := range obs {
		c.Add(o, nil)
	}
	c.Flush(func(m *CorrelationMatch) { matches = append(matches, m) })
	if len(matches) != 200 {
		t.Fatalf("%d matches, want 200", len(matches))
	}
	want := make([][]string, len(matches))
	next := map[string]int{}
	for i, m := range matches {
		user := m.Group[0].Value
		k := next[user]
		want[i] = byUser[user][k : k+2]
		next[user] = k + 2
		if !slices.Equal(m.Events, want[i]) {
			t.Fatalf("match %d of %s lists %q, want %q", i, user, m.Events, want[i])
		}
	}
	for i, m := range matches {
		m.Events[len(m.Events)-1] = "changed"
		m.Events = append(m.Events, "appended")
		for j := i + 1; j < len(matches); j++ {
			if !slices.Equal(matches[j].Events, want[j]) {
				t.Fatalf("after changing match %d, match %d lists %q, want %q", i, j, matches[j].Events, want[j])
			}
		}
	}
}
