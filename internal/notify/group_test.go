package notify

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/alert"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func dur(d time.Duration) *time.Duration { return &d }

// harness drives a dispatcher by hand: handle alerts, then tick at given
// times; what is flushed counts as enqueued at once, and the outbox's
// memory of each group's last notification is kept in a map.
type harness struct {
	t       *testing.T
	d       *dispatcher
	last    map[string]*Entry
	seq     int
	silence func(a *alert.Alert, now time.Time) bool
}

func newHarness(t *testing.T, root Route, tis []TimeInterval, limits Limits) *harness {
	t.Helper()
	h := &harness{t: t, last: map[string]*Entry{}}
	r, _, err := compile(&root, tis, func(string) bool { return true }, true)
	if err != nil {
		t.Fatal(err)
	}
	h.d = newDispatcher(r, limits, SilencerFunc(func(a *alert.Alert, now time.Time) bool {
		return h.silence != nil && h.silence(a, now)
	}), "https://vigil.example.com/", func() string { h.seq++; return fmt.Sprintf("n%d", h.seq) })
	return h
}

// restart gives the harness a fresh dispatcher over the same outbox memory.
func (h *harness) restart(root Route) {
	r, _, err := compile(&root, nil, func(string) bool { return true }, true)
	if err != nil {
		h.t.Fatal(err)
	}
	h.d = newDispatcher(r, Limits{}, h.d.silencer, "", h.d.newID)
}

func (h *harness) handle(a alert.Alert, at time.Time) { h.d.handle(&a, at) }

// tick flushes what is due at now and returns the notifications.
func (h *harness) tick(now time.Time) []*Notification {
	for _, g := range h.d.needLoad(now) {
		h.d.load(g, h.last[g.key])
	}
	var out []*Notification
	for _, p := range h.d.flush(now) {
		h.d.commit(p, now)
		h.last[p.n.GroupKey] = &Entry{Notification: p.n, CreatedAt: now}
		out = append(out, p.n)
	}
	return out
}

// summary is what a test checks of a notification.
type summary struct {
	Receiver string
	Status   Status
	Alerts   []string // id:status:count
}

func summarize(ns []*Notification) []summary {
	out := []summary{}
	for _, n := range ns {
		s := summary{Receiver: n.Receiver, Status: n.Status}
		for _, a := range n.Alerts {
			s.Alerts = append(s.Alerts, fmt.Sprintf("%s:%s:%d", a.ID, a.Status, a.Count))
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b summary) int { return cmp.Compare(fmt.Sprint(a.Alerts), fmt.Sprint(b.Alerts)) })
	return out
}

func mkAlert(id, rule string, st alert.Status, count int) alert.Alert {
	return alert.Alert{ID: id, Fingerprint: "fp-" + id, Rule: alert.RuleRef{ID: rule, Title: rule, Level: "high", Tags: []string{"attack.t1098"}},
		Severity: "high", Status: st, Count: count, FirstSeen: t0, LastSeen: t0, Cloud: "aws", Account: "111122223333",
		Principal: "alice", Function: "fn-" + id}
}

var timers = Route{Receiver: "hook", GroupBy: []string{"rule"}, GroupWait: dur(30 * time.Second),
	GroupInterval: dur(5 * time.Minute), RepeatInterval: dur(4 * time.Hour)}

// step is one moment of a timer scenario: alerts handled, then a tick,
// and the notifications it must produce.
type step struct {
	at     time.Duration // after t0
	handle []alert.Alert
	want   []summary
}

func runSteps(t *testing.T, h *harness, steps []step) {
	t.Helper()
	for i, s := range steps {
		now := t0.Add(s.at)
		for _, a := range s.handle {
			h.handle(a, now)
		}
		got := summarize(h.tick(now))
		want := s.want
		if want == nil {
			want = []summary{}
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Fatalf("step %d (t0+%s) (-want +got):\n%s", i, s.at, diff)
		}
	}
}

func fired(ids ...string) summary {
	return summary{Receiver: "hook", Status: Firing, Alerts: ids}
}

func TestTimers(t *testing.T) {
	a1 := mkAlert("a1", "r1", alert.Open, 1)
	a2 := mkAlert("a2", "r1", alert.Open, 1)
	a2.FirstSeen = t0.Add(time.Second)
	with := func(a alert.Alert, st alert.Status, count int) alert.Alert { a.Status, a.Count = st, count; return a }
	tests := []struct {
		name  string
		steps []step
	}{
		{"group_wait delays the first notification and batches alerts", []step{
			{at: 0, handle: []alert.Alert{a1}},
			{at: 10 * time.Second, handle: []alert.Alert{a2}},
			{at: 29 * time.Second},
			{at: 30 * time.Second, want: []summary{fired("a1:open:1", "a2:open:1")}},
		}},
		{"group_interval spaces updates", []step{
			{at: 0, handle: []alert.Alert{a1}},
			{at: 30 * time.Second, want: []summary{fired("a1:open:1")}},
			{at: 40 * time.Second, handle: []alert.Alert{a2}},
			{at: 5*time.Minute + 29*time.Second},
			{at: 5*time.Minute + 30*time.Second, want: []summary{fired("a1:open:1", "a2:open:1")}},
		}},
		{"a change after a quiet group_interval goes out at once", []step{
			{at: 0, handle: []alert.Alert{a1}},
			{at: 30 * time.Second, want: []summary{fired("a1:open:1")}},
			{at: time.Hour, handle: []alert.Alert{a2}, want: []summary{fired("a1:open:1", "a2:open:1")}},
		}},
		{"a count change is an update", []step{
			{at: 0, handle: []alert.Alert{a1}},
			{at: 30 * time.Second, want: []summary{fired("a1:open:1")}},
			{at: time.Minute, handle: []alert.Alert{with(a1, alert.Open, 5)}},
			{at: 5*time.Minute + 30*time.Second, want: []summary{fired("a1:open:5")}},
		}},
		{"an update with nothing new is not a change", []step{
			{at: 0, handle: []alert.Alert{a1}},
			{at: 30 * time.Second, want: []summary{fired("a1:open:1")}},
			{at: time.Minute, handle: []alert.Alert{a1}},
			{at: 6 * time.Minute},
		}},
		{"repeat_interval re-sends an unchanged firing group", []step{
			{at: 0, handle: []alert.Alert{a1}},
			{at: 30 * time.Second, want: []summary{fired("a1:open:1")}},
			{at: 4*time.Hour + 29*time.Second},
			{at: 4*time.Hour + 30*time.Second, want: []summary{fired("a1:open:1")}},
			{at: 8*time.Hour + 30*time.Second, want: []summary{fired("a1:open:1")}},
		}},
		{"acknowledged and resolved are updates; acknowledged groups do not repeat", []step{
			{at: 0, handle: []alert.Alert{a1}},
			{at: 30 * time.Second, want: []summary{fired("a1:open:1")}},
			{at: 10 * time.Minute, handle: []alert.Alert{with(a1, alert.Acknowledged, 1)},
				want: []summary{{Receiver: "hook", Status: Acknowledged, Alerts: []string{"a1:acknowledged:1"}}}},
			{at: 5 * time.Hour},
			{at: 5*time.Hour + time.Minute, handle: []alert.Alert{with(a1, alert.Resolved, 1)},
				want: []summary{{Receiver: "hook", Status: Resolved, Alerts: []string{"a1:resolved:1"}}}},
			{at: 10 * time.Hour},
		}},
		{"a resolved alert shows once in a firing group", []step{
			{at: 0, handle: []alert.Alert{a1, a2}},
			{at: 30 * time.Second, want: []summary{fired("a1:open:1", "a2:open:1")}},
			{at: time.Hour, handle: []alert.Alert{with(a1, alert.Resolved, 1)}, want: []summary{fired("a1:resolved:1", "a2:open:1")}},
			{at: 4*time.Hour + 30*time.Second},
			{at: 5 * time.Hour, want: []summary{fired("a2:open:1")}},
		}},
		{"an alert resolved before the first notification is never sent", []step{
			{at: 0, handle: []alert.Alert{a1}},
			{at: 10 * time.Second, handle: []alert.Alert{with(a1, alert.Resolved, 1)}},
			{at: 30 * time.Second},
			{at: 5 * time.Hour},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, timers, nil, Limits{})
			runSteps(t, h, tt.steps)
		})
	}
}

func TestResolvedGroupIsEvicted(t *testing.T) {
	h := newHarness(t, timers, nil, Limits{})
	a := mkAlert("a1", "r1", alert.Open, 1)
	runSteps(t, h, []step{{at: 0, handle: []alert.Alert{a}}, {at: 30 * time.Second, want: []summary{fired("a1:open:1")}}})
	if len(h.d.groups) != 1 || h.d.nAlerts != 1 {
		t.Fatalf("groups %d alerts %d, want 1 and 1", len(h.d.groups), h.d.nAlerts)
	}
	a.Status = alert.Resolved
	runSteps(t, h, []step{{at: time.Hour, handle: []alert.Alert{a}, want: []summary{{Receiver: "hook", Status: Resolved, Alerts: []string{"a1:resolved:1"}}}}})
	if len(h.d.groups) != 0 || h.d.nAlerts != 0 || !h.d.next().IsZero() {
		t.Errorf("after the resolution: groups %d alerts %d next %v; want none", len(h.d.groups), h.d.nAlerts, h.d.next())
	}
}

func TestNextDue(t *testing.T) {
	h := newHarness(t, timers, nil, Limits{})
	if !h.d.next().IsZero() {
		t.Fatal("an empty dispatcher is due")
	}
	if due := h.d.handle(ptr(mkAlert("a1", "r1", alert.Open, 1)), t0); !due.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("handle returned %v, want group_wait later", due)
	}
	h.tick(t0.Add(30 * time.Second))
	if got, want := h.d.next(), t0.Add(30*time.Second+4*time.Hour); !got.Equal(want) {
		t.Errorf("next = %v, want the repeat at %v", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestMuteAndActiveIntervals(t *testing.T) {
	// t0 is Friday 2026-11-20 10:00 UTC.
	tis := []TimeInterval{
		{Name: "maintenance", Periods: []TimePeriod{{Times: []TimeRange{{StartTime: "10:00", EndTime: "10:30"}}}}},
		{Name: "office", Periods: []TimePeriod{{Weekdays: []string{"monday:friday"}, Times: []TimeRange{{StartTime: "11:00", EndTime: "17:00"}}}}},
	}
	a1 := mkAlert("a1", "r1", alert.Open, 1)
	tests := []struct {
		name  string
		route Route
		steps []step
	}{
		{"a mute interval holds notifications until it ends", Route{Receiver: "hook", Routes: []Route{{Matchers: []string{"rule=r1"},
			GroupWait: dur(0), MuteTimeIntervals: []string{"maintenance"}}}},
			[]step{
				{at: 0, handle: []alert.Alert{a1}},
				{at: 29 * time.Minute},
				{at: 29*time.Minute + 59*time.Second},
				{at: 30 * time.Minute, want: []summary{fired("a1:open:1")}},
			}},
		{"active intervals allow notifications only within them", Route{Receiver: "hook", Routes: []Route{{Matchers: []string{"rule=r1"},
			GroupWait: dur(0), ActiveTimeIntervals: []string{"office"}}}},
			[]step{
				{at: 0, handle: []alert.Alert{a1}},
				{at: 59 * time.Minute},
				{at: time.Hour, want: []summary{fired("a1:open:1")}},
			}},
		{"outside the mute interval nothing waits", Route{Receiver: "hook", Routes: []Route{{Matchers: []string{"rule=r1"},
			GroupWait: dur(0), MuteTimeIntervals: []string{"office"}}}},
			[]step{{at: 0, handle: []alert.Alert{a1}, want: []summary{fired("a1:open:1")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.route, tis, Limits{})
			runSteps(t, h, tt.steps)
		})
	}
}

func TestSilences(t *testing.T) {
	h := newHarness(t, timers, nil, Limits{})
	silencedUntil := t0.Add(20 * time.Minute)
	a1, a2 := mkAlert("a1", "r1", alert.Open, 1), mkAlert("a2", "r1", alert.Open, 1)
	b := mkAlert("b1", "r2", alert.Open, 1)
	b.Rule.ID = "r2"
	h.silence = func(a *alert.Alert, now time.Time) bool {
		return (a.ID == "a2" || a.ID == "b1") && now.Before(silencedUntil)
	}
	runSteps(t, h, []step{
		// A silenced alert is left out; a group of silenced alerts says nothing.
		{at: 0, handle: []alert.Alert{a1, a2, b}},
		{at: 30 * time.Second, want: []summary{fired("a1:open:1")}},
		{at: 10 * time.Minute},
		// Once the silence ends the alerts show at the next check.
		{at: 20*time.Minute + 30*time.Second, want: []summary{fired("a1:open:1", "a2:open:1"), fired("b1:open:1")}},
	})
}

func TestRestartDoesNotRepeat(t *testing.T) {
	h := newHarness(t, timers, nil, Limits{})
	a1, a2 := mkAlert("a1", "r1", alert.Open, 1), mkAlert("a2", "r2", alert.Open, 1)
	runSteps(t, h, []step{{at: 0, handle: []alert.Alert{a1, a2}}, {at: 30 * time.Second, want: []summary{fired("a1:open:1"), fired("a2:open:1")}}})
	h.restart(timers)
	a2.Status = alert.Resolved
	runSteps(t, h, []step{
		// Fed again after the restart: a1 is unchanged, a2's resolution had not gone out.
		{at: time.Hour, handle: []alert.Alert{a1, a2}},
		{at: time.Hour + 30*time.Second, want: []summary{{Receiver: "hook", Status: Resolved, Alerts: []string{"a2:resolved:1"}}}},
		// The repeat still counts from the notification before the restart.
		{at: 4*time.Hour + 30*time.Second, want: []summary{fired("a1:open:1")}},
	})
}

func TestLimits(t *testing.T) {
	h := newHarness(t, Route{Receiver: "hook", GroupBy: []string{"rule"}, GroupWait: dur(0)}, nil, Limits{MaxGroups: 2, MaxAlertsPerGroup: 2})
	r1a, r1b, r1c := mkAlert("a1", "r1", alert.Open, 1), mkAlert("a2", "r1", alert.Open, 1), mkAlert("a3", "r1", alert.Open, 1)
	r2, r3 := mkAlert("b1", "r2", alert.Open, 1), mkAlert("c1", "r3", alert.Open, 1)
	for _, a := range []alert.Alert{r1a, r1b, r1c, r2, r3} {
		h.handle(a, t0)
	}
	if st := (Stats{Groups: len(h.d.groups), Alerts: h.d.nAlerts, Dropped: h.d.dropped}); st != (Stats{Groups: 2, Alerts: 3, Dropped: 2}) {
		t.Errorf("stats %+v, want 2 groups, 3 alerts, 2 dropped", st)
	}
	h.tick(t0)
	// A resolved group makes room once its resolution is out.
	r2.Status = alert.Resolved
	h.handle(r2, t0.Add(time.Hour))
	h.tick(t0.Add(time.Hour))
	h.handle(r3, t0.Add(time.Hour))
	if len(h.d.groups) != 2 || h.d.dropped != 2 {
		t.Errorf("groups %d dropped %d; want r3's group to fit", len(h.d.groups), h.d.dropped)
	}
}
