package baseline_test

import (
	"bytes"
	"cmp"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/detect/baseline/baselinetest"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/rules/baselines"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

func mustRules(t testing.TB, src string) []*baseline.Rule {
	t.Helper()
	rules, err := baseline.Parse("test.baseline", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func mustNew(t testing.TB, rules []*baseline.Rule, opts baseline.Options) *baseline.Evaluator {
	t.Helper()
	e, err := baseline.New(rules, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// packRules loads the built-in baselines, with GeoIP lookups that find
// nothing so that every rule is active.
func packRules(t testing.TB) ([]*baseline.Rule, baseline.Geo) {
	t.Helper()
	files, err := baseline.ReadFS(packFS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	geo := baseline.Geo{
		ASN: func(ip netip.Addr) (string, bool) {
			if strings.HasPrefix(ip.String(), "203.0.113.") {
				return "AS64511", true
			}
			return "AS64500", true
		},
		Country: func(ip netip.Addr) (string, bool) { return "US", true },
	}
	set := baseline.Load(files, geo)
	if len(set.Failed) > 0 || len(set.Inactive) > 0 {
		t.Fatalf("pack: failed %v, inactive %v", set.Failed, set.Inactive)
	}
	return set.Rules, geo
}

func packFS() fs.FS { return baselines.FS }

// summary is what the tests compare of a match.
type summary struct {
	Rule     string
	Time     time.Time
	Key      string
	Observed float64
	Events   int64
	IDs      string
}

func summarize(ms []baseline.Match) []summary {
	out := make([]summary, len(ms))
	for i, m := range ms {
		var key []string
		for _, kv := range m.Key {
			key = append(key, kv.Field+"="+kv.Value)
		}
		out[i] = summary{Rule: m.Rule.ID, Time: m.Time, Key: strings.Join(key, ","), Observed: m.Observed, Events: m.Events,
			IDs: strings.Join(m.EventIDs, " ")}
	}
	slices.SortFunc(out, func(a, b summary) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out
}

// restarted returns a new evaluator restored from a snapshot of e.
func restarted(t testing.TB, e *baseline.Evaluator, rules []*baseline.Rule, opts baseline.Options) *baseline.Evaluator {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	e = mustNew(t, rules, opts)
	if err := e.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	return e
}

func collect(ms *[]baseline.Match) func(baseline.Match) {
	return func(m baseline.Match) { *ms = append(*ms, m) }
}

func runAll(e *baseline.Evaluator, evs []*event.Event) []baseline.Match {
	var got []baseline.Match
	for _, ev := range evs {
		e.Observe(ev, collect(&got))
	}
	e.Flush(collect(&got))
	return got
}

func suiteCase(t *testing.T, rule, cases string) {
	t.Helper()
	suite, err := baseline.ParseSuite("inline.tests.baseline", []byte(cases))
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range baseline.RunSuite(mustRules(t, rule), suite, baseline.Options{}) {
		if !res.Pass() {
			t.Errorf("%s: %s", res.Case, res.Describe())
		}
	}
}

const apiRule = `
id: api
title: API spike
kind: rate
events: [{source: aws.cloudtrail}]
key: [principal]
threshold: {zscore: 4, ratio: 3, min: 20}
`

// TestSeasonality shows the time-of-week profile at work: a volume that
// is normal in office hours fires at night, and the office-hours volume
// itself does not.
func TestSeasonality(t *testing.T) {
	suiteCase(t, apiRule, `
cases:
    - name: office-hours volume at night fires, in office hours it does not
      streams:
          - {start: 2026-03-02T00:00:00Z, duration: 9d, per_minute: 1, event: {source: aws.cloudtrail, principal: p}}
          - {start: 2026-03-02T00:00:00Z, duration: 9d, per_minute: 60, jitter: 0.2, hours: [9, 17], days: [mon, tue, wed, thu, fri], event: {source: aws.cloudtrail, principal: p}}
          - {start: 2026-03-10T03:00:00Z, duration: 1m, per_minute: 59, event: {source: aws.cloudtrail, principal: p}}
      want:
          - {time: 2026-03-10T03:00:00Z, key: {principal: p}}
`)
	// Without the profile the same night-time volume is within the flat
	// spread of a key that is busy half the day.
	suiteCase(t, apiRule+"seasonality: none\n", `
cases:
    - name: without seasonality the night-time burst is missed
      streams:
          - {start: 2026-03-02T00:00:00Z, duration: 9d, per_minute: 1, event: {source: aws.cloudtrail, principal: p}}
          - {start: 2026-03-02T00:00:00Z, duration: 9d, per_minute: 60, hours: [9, 17], days: [mon, tue, wed, thu, fri], event: {source: aws.cloudtrail, principal: p}}
          - {start: 2026-03-10T03:00:00Z, duration: 1m, per_minute: 59, event: {source: aws.cloudtrail, principal: p}}
      want: []
`)
}

// TestCooldown checks that a lasting spike fires once per cooldown.
func TestCooldown(t *testing.T) {
	suiteCase(t, apiRule, `
cases:
    - name: a spike lasting 150 minutes fires three times with a one-hour cooldown
      streams:
          - {start: 2026-03-02T00:00:00Z, duration: 8d, per_minute: 3, jitter: 0.3, event: {source: aws.cloudtrail, principal: p}}
          - {start: 2026-03-09T12:00:00Z, duration: 150m, per_minute: 300, event: {source: aws.cloudtrail, principal: p}}
      want:
          - {time: 2026-03-09T12:00:00Z, key: {principal: p}}
          - {time: 2026-03-09T13:00:00Z, key: {principal: p}}
          - {time: 2026-03-09T14:00:00Z, key: {principal: p}}
`)
}

// TestMatchContent checks everything a spike's match carries.
func TestMatchContent(t *testing.T) {
	rules := mustRules(t, apiRule)
	e := mustNew(t, rules, baseline.Options{})
	var evs []*event.Event
	for m := 0; m < 8*24*60; m++ {
		for i := 0; i < 2; i++ {
			evs = append(evs, &event.Event{Time: t0.Add(time.Duration(m)*time.Minute + time.Duration(i)*20*time.Second),
				Source: "aws.cloudtrail", Principal: "p", ID: fmt.Sprintf("a%d-%d", m, i)})
		}
	}
	spike := t0.Add(8*24*time.Hour - 30*time.Minute)
	for i := 0; i < 50; i++ {
		evs = append(evs, &event.Event{Time: spike.Add(time.Duration(i) * time.Second), Source: "aws.cloudtrail", Principal: "p", ID: fmt.Sprintf("s%02d", i)})
	}
	slices.SortStableFunc(evs, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
	got := runAll(e, evs)
	if len(got) != 1 {
		t.Fatalf("got %d matches, want 1: %+v", len(got), got)
	}
	m := got[0]
	if m.Rule != rules[0] || m.Observed != 52 || m.Events != 52 || !m.Time.Equal(spike) || !m.End.Equal(spike.Add(time.Minute)) {
		t.Errorf("match = %+v", m)
	}
	if diff := gocmp.Diff([]detect.GroupValue{{Field: "principal", Value: "p"}}, m.Key); diff != "" {
		t.Errorf("key (-want +got):\n%s", diff)
	}
	// The key did 2 a minute every minute: expected 2, stddev sqrt(2)
	// (the Poisson floor, since the count never varied).
	if !m.Seasonal || abs(m.Expected-2) > 1e-6 || abs(m.Mean-2) > 1e-6 || abs(m.StdDev-1.41421356) > 1e-6 ||
		abs(m.ZScore-(52-2)/m.StdDev) > 1e-9 || abs(m.Ratio-26) > 1e-6 {
		t.Errorf("baseline of the match: mean %v expected %v stddev %v z %v ratio %v seasonal %v", m.Mean, m.Expected, m.StdDev, m.ZScore, m.Ratio, m.Seasonal)
	}
	wantIDs := []string{fmt.Sprintf("a%d-0", 8*24*60-30), "s00", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08"}
	if diff := gocmp.Diff(wantIDs, m.EventIDs); diff != "" {
		t.Errorf("event IDs (-want +got):\n%s", diff)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestFiltersAndKeys checks except, exists conditions, raw fields, value
// sums and events that lack a key field.
func TestFiltersAndKeys(t *testing.T) {
	rules := mustRules(t, `
id: cost
title: Cost
kind: rate
events:
    - {source: aws.lambda, raw.lambda.type: REPORT}
    - {source: gcp.functions, raw.httpRequest.status: {exists: true}}
except:
    - function: canary
key: [function]
value: {field: raw.lambda.billedDurationMs, times: raw.lambda.memorySizeMB, scale: 0.5}
`)
	report := baselinetest.Raw(`{"lambda":{"type":"REPORT","billedDurationMs":100,"memorySizeMB":"2"}}`)
	logLine := baselinetest.Raw(`{"lambda":{"type":"LOG"}}`)
	noMemory := baselinetest.Raw(`{"lambda":{"type":"REPORT","billedDurationMs":100}}`)
	httpReq := baselinetest.Raw(`{"httpRequest":{"status":200},"lambda":{"billedDurationMs":4,"memorySizeMB":1}}`)
	noStatus := baselinetest.Raw(`{"httpRequest":{},"lambda":{"billedDurationMs":4,"memorySizeMB":1}}`)
	at := t0.Add(time.Hour)
	evs := []*event.Event{
		{Time: at, Source: "aws.lambda", Function: "f", Raw: report, ID: "1"},           // 100 × 2 × 0.5
		{Time: at, Source: "aws.lambda", Function: "f", Raw: report, ID: "2"},           // again
		{Time: at, Source: "aws.lambda", Function: "f", Raw: logLine, ID: "3"},          // not a report
		{Time: at, Source: "aws.lambda", Function: "f", Raw: noMemory, ID: "4"},         // no memory: skipped
		{Time: at, Source: "aws.lambda", Function: "canary", Raw: report, ID: "5"},      // excepted
		{Time: at, Source: "aws.lambda", Raw: report, ID: "6"},                          // no function: skipped
		{Time: at, Source: "gcp.functions", Function: "f", Raw: httpReq, ID: "7"},       // 4 × 1 × 0.5
		{Time: at, Source: "gcp.functions", Function: "f", Raw: noStatus, ID: "8"},      // no status
		{Time: at, Source: "azure.functions", Function: "f", Raw: report, ID: "9"},      // other source
		{Time: time.Time{}, Source: "aws.lambda", Function: "f", Raw: report, ID: "10"}, // no time
	}
	// Learning 0 and an empty first minute let the second minute fire
	// with its raw sum.
	rules[0].Learning = 0
	rules[0].Threshold = baseline.Threshold{Min: 1, MinEvents: 1}
	e := mustNew(t, rules, baseline.Options{})
	var got []baseline.Match
	e.Observe(&event.Event{Time: at.Add(-time.Minute), Source: "aws.lambda", Function: "f", Raw: report, ID: "0"}, collect(&got))
	for _, ev := range evs {
		e.Observe(ev, collect(&got))
	}
	e.Flush(collect(&got))
	if len(got) != 1 || got[0].Observed != 202 || got[0].Events != 3 {
		t.Fatalf("matches = %+v, want one of 202 from 3 events", got)
	}
	if diff := gocmp.Diff([]string{"1", "2", "7"}, got[0].EventIDs); diff != "" {
		t.Errorf("event IDs (-want +got):\n%s", diff)
	}
	st := e.Stats()
	if st.NoKey != 2 || st.BadTime != 1 {
		t.Errorf("stats = %+v, want NoKey 2, BadTime 1", st)
	}
}

func TestDerivedFields(t *testing.T) {
	rules := mustRules(t, `
id: ua
title: UA
kind: first_seen
events: [{source: aws.cloudtrail}]
key: [role]
new: [user_agent_family]
learning: 0s
`)
	e := mustNew(t, rules, baseline.Options{})
	// A record's sessionIssuer, with the role's path, does not change the
	// role: the session's ARN names the role, whose name is unique in its
	// account, for every record of the session. A record whose principal
	// is no session ARN gets the same role from its issuer, path left
	// out; one with neither has no role.
	issuer := baselinetest.Raw(`{"userIdentity":{"sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/path/x"}}}}`)
	otherIssuer := baselinetest.Raw(`{"userIdentity":{"sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/a/b/z"}}}}`)
	evs := []*event.Event{
		{Time: t0, ID: "1", Source: "aws.cloudtrail", PrincipalType: "AssumedRole", Principal: "arn:aws-cn:sts::123:assumed-role/app/s1", UserAgent: "Boto3/1.34.34 Python/3.12.2_x"},
		{Time: t0, ID: "2", Source: "aws.cloudtrail", PrincipalType: "AssumedRole", Principal: "arn:aws-cn:sts::123:assumed-role/app/s2", UserAgent: "Boto3/1.34.35 Python/3.12.3_x"},
		{Time: t0, ID: "3", Source: "aws.cloudtrail", PrincipalType: "AssumedRole", Principal: "arn:aws:sts::1:assumed-role/x/y", Raw: issuer, UserAgent: "curl"},
		{Time: t0, ID: "3b", Source: "aws.cloudtrail", PrincipalType: "AssumedRole", Principal: "AROAEXAMPLE:s3", Raw: issuer, UserAgent: "curl/8.5.0"},
		{Time: t0, ID: "3c", Source: "aws.cloudtrail", PrincipalType: "AssumedRole", Principal: "AROAEXAMPLE:s4", Raw: otherIssuer, UserAgent: "wget"},
		{Time: t0, ID: "3d", Source: "aws.cloudtrail", PrincipalType: "AssumedRole", Principal: "AROAEXAMPLE:s5", UserAgent: "httpie"},
		{Time: t0, ID: "4", Source: "aws.cloudtrail", PrincipalType: "IAMUser", Principal: "arn:aws:iam::1:user/u", UserAgent: "curl"},
		{Time: t0, ID: "5", Source: "aws.cloudtrail", PrincipalType: "serviceAccount", Principal: "sa@p.iam.gserviceaccount.com", UserAgent: "gcloud/471.0.0"},
	}
	got := summarize(runAll(e, evs))
	var keys []string
	for _, s := range got {
		keys = append(keys, s.Key)
	}
	want := []string{
		"role=arn:aws-cn:iam::123:role/app,user_agent_family=Boto*/* Python/*_x",
		"role=arn:aws:iam::1:role/x,user_agent_family=curl",
		"role=arn:aws:iam::1:role/x,user_agent_family=curl/*",
		"role=arn:aws:iam::1:role/z,user_agent_family=wget",
		"role=sa@p.iam.gserviceaccount.com,user_agent_family=gcloud/*",
	}
	if diff := gocmp.Diff(want, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}

// TestLateAndForced checks the lateness tolerance, the bound on open
// buckets, and that both are counted.
func TestLateAndForced(t *testing.T) {
	rules := mustRules(t, apiRule)
	e := mustNew(t, rules, baseline.Options{Lateness: 2 * time.Minute, MaxPending: 3})
	ev := func(at time.Duration, p string) *event.Event {
		return &event.Event{Time: t0.Add(at), Source: "aws.cloudtrail", Principal: p, ID: p + at.String()}
	}
	e.Observe(ev(10*time.Minute, "a"), nil)
	e.Observe(ev(9*time.Minute, "a"), nil)                 // within lateness
	e.Observe(ev(7*time.Minute+59*time.Second, "a"), nil)  // bucket 7: ends at 8, watermark 10 - 2 = 8: late
	e.Observe(ev(13*time.Minute, "b"), nil)                // closes buckets 9 and 10
	e.Observe(ev(10*time.Minute+30*time.Second, "c"), nil) // bucket 10 closed: late
	if st := e.Stats(); st.Late != 2 || st.Pending != 1 || st.Keys != 1 {
		t.Errorf("after late events: %+v", st)
	}
	// The fourth open bucket forces minute 13 closed, keys b and k0 to
	// k2; k3 and k4 come after it closed and are late.
	for i := 0; i < 5; i++ {
		e.Observe(ev(13*time.Minute+time.Duration(i)*time.Second, fmt.Sprint("k", i)), nil)
	}
	if st := e.Stats(); st.Forced != 4 || st.Late != 4 || st.Pending != 0 || st.Keys != 5 {
		t.Errorf("after overflowing MaxPending: %+v, want 4 forced, 4 late, 5 keys", st)
	}
	// Advance closes what lateness no longer keeps open, as on idle input.
	e.Observe(ev(14*time.Minute, "z"), nil)
	e.Advance(t0.Add(16*time.Minute), nil)
	if st := e.Stats(); st.Pending != 1 {
		t.Errorf("Advance closed a bucket lateness keeps open: %+v", st)
	}
	e.Advance(t0.Add(17*time.Minute), nil)
	if st := e.Stats(); st.Pending != 0 || st.Keys != 6 {
		t.Errorf("after Advance: %+v", st)
	}
}

// TestEviction checks the bound on keys: the least recently seen go
// first, and each is counted.
func TestEviction(t *testing.T) {
	rules := mustRules(t, apiRule+"max_keys: 8\n")
	e := mustNew(t, rules, baseline.Options{})
	var evs []*event.Event
	for i := 0; i < 20; i++ {
		evs = append(evs, &event.Event{Time: t0.Add(time.Duration(i) * time.Minute), Source: "aws.cloudtrail", Principal: fmt.Sprint("p", i), ID: fmt.Sprint(i)})
	}
	runAll(e, evs)
	st := e.Stats()
	if st.Keys > 8 || st.Keys < 7 || int64(st.Keys)+st.Evicted != 20 {
		t.Errorf("stats = %+v, want at most 8 keys and the rest evicted", st)
	}
	fs := mustRules(t, "id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nnew: [principal]\nmax_keys: 4\nlearning: 0s\n")
	e = mustNew(t, fs, baseline.Options{})
	// p0..p5, then p0 again: it was evicted, so it is new again.
	evs = append(evs[:6], &event.Event{Time: t0.Add(time.Hour), Source: "aws.cloudtrail", Principal: "p0", ID: "again"})
	got := runAll(e, evs)
	if len(got) != 7 || e.Stats().Evicted < 2 || got[6].EventIDs[0] != "again" {
		t.Errorf("first_seen with 4 combinations: %d matches, stats %+v", len(got), e.Stats())
	}
}

// TestFirstSeenKeepsLatestMinute checks that a combination's last-seen
// minute, which decides which combinations a full table forgets first,
// never goes back. In a hunt a combination whose events come at minutes
// 5, 3 and 9, in that order, has buckets at 5 and 3 (9 comes after an
// earlier bucket); the close of minute 3 marks it seen at 9, and the
// close of minute 5, later, must not take that back to 5: if it did, a
// full table would forget it before the combinations seen at 7, and it
// would fire again as new.
func TestFirstSeenKeepsLatestMinute(t *testing.T) {
	fs := mustRules(t, "id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nnew: [principal]\nmax_keys: 8\nlearning: 0s\n")
	e := mustNew(t, fs, baseline.Options{Lateness: baseline.Unbounded})
	at := func(minute int, principal, id string) *event.Event {
		return &event.Event{Time: t0.Add(time.Duration(minute) * time.Minute), Source: "aws.cloudtrail", Principal: principal, ID: id}
	}
	evs := []*event.Event{at(5, "t", "t5"), at(3, "t", "t3"), at(9, "t", "t9")}
	for i := range 7 {
		evs = append(evs, at(7, fmt.Sprint("u", i), fmt.Sprint("u", i)))
	}
	evs = append(evs, at(10, "v", "v")) // the table is full: one combination goes
	got := runAll(e, evs)
	if len(got) != 9 || e.Stats().Evicted != 1 {
		t.Fatalf("%d matches, stats %+v; want 9 and one combination evicted", len(got), e.Stats())
	}
	if again := runAll(e, []*event.Event{at(30, "t", "t30")}); len(again) != 0 {
		t.Errorf("t, seen at minute 9, was forgotten before the combinations seen at 7: %+v", again)
	}

	// The same for a key with key_learning: forgotten, t would be learning
	// again, and its new action at minute 30 would not fire.
	kl := mustRules(t, "id: kl\ntitle: KL\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\nkey_learning: 1m\nmax_keys: 8\nlearning: 0s\n")
	e = mustNew(t, kl, baseline.Options{Lateness: baseline.Unbounded})
	for _, ev := range evs {
		ev.Action = "a"
	}
	if got := runAll(e, evs); len(got) != 0 || e.Stats().Evicted == 0 {
		t.Fatalf("%d matches, stats %+v; want none (every key is learning) and evictions", len(got), e.Stats())
	}
	late := at(30, "t", "t30")
	late.Action = "b"
	if got := runAll(e, []*event.Event{late}); len(got) != 1 {
		t.Errorf("t, first seen at minute 3 and last at 9, was forgotten before the keys seen at 7: %d matches", len(got))
	}
}

// TestFirstSeenLearningPeriod checks where a first_seen rule's learning
// period lies, and that the events surely of it keep no bucket, with
// events observed one by one or extracted in batches, and across a
// restart. It starts with the oldest event that counts; in a hunt
// (Lateness Unbounded), with the oldest no more than HuntHorizon older
// than the first event read.
func TestFirstSeenLearningPeriod(t *testing.T) {
	at := func(minute int, principal, action string) *event.Event {
		return &event.Event{Time: t0.Add(time.Duration(minute) * time.Minute), Source: "aws.cloudtrail", Principal: principal, Action: action, ID: fmt.Sprint(principal, action, minute)}
	}
	const h = 60
	for _, c := range []struct {
		name     string
		rule     string
		lateness time.Duration
		// Each list is a batch; the events surely of the period are known
		// from the second.
		batches [][]*event.Event
		// after the second batch: combinations and keys known, buckets,
		// events older than the horizon
		combinations, keys, pending, early int
		want                               []string
	}{{
		// The period starts at -20h (-30h is past the horizon) and ends
		// at 52h; the events before 48h, a horizon and a period after the
		// first, are surely of it.
		name: "hunt", rule: "learning: 3d\nkey_learning: 1d\n", lateness: baseline.Unbounded,
		batches: [][]*event.Event{
			{at(0, "p", "a")},
			{at(40*h, "q", "a"), at(-20*h, "p", "b"), at(5*h, "q", "a"), at(-30*h, "r", "a"), at(-30*h, "r", "a"), at(50*h, "s", "a"), at(50*h, "s", "a")},
			{
				at(60*h, "p", "b"), // seen at -20h
				at(53*h, "p", "c"), // past the period: fires
				at(50*h, "p", "d"), // of the period, which -30h does not start
				at(53*h, "q", "c"), // q first seen at 5h, not 40h: fires
				at(60*h, "s", "c"), // s first seen 10 hours before
			},
		},
		combinations: 4, keys: 3, pending: 1, early: 2, want: []string{"p/c", "q/c"},
	}, {
		// The period starts at -8, the oldest event, and ends at 52; the
		// events before 48, the lateness (rounded up, and one more)
		// before a period after the first, are surely of it.
		name: "stream", rule: "learning: 1h\nkey_learning: 1h\n", lateness: 10 * time.Minute,
		batches: [][]*event.Event{
			{at(0, "p", "a")},
			{at(-8, "p", "b"), at(5, "q", "a"), at(50, "q", "a"), at(55, "p", "d"), at(59, "r", "a"), at(59, "r", "a")},
			{at(70, "p", "b"), at(70, "p", "c"), at(66, "q", "c"), at(70, "r", "c")},
		},
		combinations: 3, keys: 2, pending: 2, want: []string{"p/c", "p/d", "q/c"},
	}} {
		rules := mustRules(t, "id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\n"+c.rule)
		for _, mode := range []string{"observed", "batched", "restarted"} {
			batched := mode != "observed"
			opts := baseline.Options{Lateness: c.lateness}
			e := mustNew(t, rules, opts)
			x := e.NewExtractor()
			var got []baseline.Match
			for i, evs := range c.batches {
				if i == 1 && mode == "restarted" {
					e = restarted(t, e, rules, opts)
					x = e.NewExtractor()
				}
				for _, ev := range evs {
					if batched {
						x.Extract(ev)
					} else {
						e.Observe(ev, collect(&got))
					}
				}
				if batched {
					e.Apply(x.Take(nil), collect(&got))
				}
				if st := e.Stats(); i == 1 && (st.Pending != c.pending || st.Combinations != c.combinations || st.Entities != c.keys || st.Early != int64(c.early) || st.Late != 0) {
					t.Fatalf("%s, %s: stats %+v after the learning period; want %d buckets, %d combinations, %d keys, %d early", c.name, mode, st, c.pending, c.combinations, c.keys, c.early)
				}
			}
			e.Flush(collect(&got))
			var keys []string
			for _, m := range got {
				keys = append(keys, m.Key[0].Value+"/"+m.Key[1].Value)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, c.want) {
				t.Errorf("%s, %s: matches %v; want %v", c.name, mode, keys, c.want)
			}
		}
	}

	// Events alike past the horizon in the batch of the first event, which
	// merge into one record, are each counted early.
	e := mustNew(t, mustRules(t, "id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\nlearning: 3d\n"), baseline.Options{Lateness: baseline.Unbounded})
	x := e.NewExtractor()
	for _, ev := range []*event.Event{at(0, "p", "a"), at(-30*h, "r", "a"), at(-30*h, "r", "a")} {
		x.Extract(ev)
	}
	e.Apply(x.Take(nil), nil)
	if st := e.Stats(); st.Early != 2 {
		t.Errorf("stats %+v; want 2 events early", st)
	}

	// Without a learning period an event older than the first fires too.
	e = mustNew(t, mustRules(t, "id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nnew: [action]\nlearning: 0s\n"), baseline.Options{Lateness: baseline.Unbounded})
	if got := runAll(e, []*event.Event{at(0, "p", "a"), at(-10, "p", "b")}); len(got) != 2 {
		t.Errorf("learning 0s: %d matches; want 2", len(got))
	}

	// In a hunt, events of the period whose minute a forced close passed
	// are late, each of them, however many of a batch are alike.
	e = mustNew(t, mustRules(t, "id: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\nlearning: 3d\n"), baseline.Options{Lateness: baseline.Unbounded, MaxPending: 1})
	x = e.NewExtractor()
	for _, evs := range [][]*event.Event{
		{at(0, "p", "a"), at(80*h, "p", "b"), at(80*h, "q", "b")}, // two buckets: 80h closes
		{at(5*h, "r", "a"), at(5*h, "r", "a"), at(5*h, "r", "a")},
	} {
		for _, ev := range evs {
			x.Extract(ev)
		}
		e.Apply(x.Take(nil), nil)
	}
	if st := e.Stats(); st.Forced != 2 || st.Late != 3 {
		t.Errorf("stats %+v; want 2 buckets forced and 3 events late", st)
	}
}

// traffic returns nine days of mixed events for 24 functions from t0 on,
// with spikes and new behaviour on the last days, in time order.
func traffic(t testing.TB) []*event.Event {
	r := rand.New(rand.NewPCG(1, 2))
	evs := baselinetest.Mix(r, t0, 9*24*time.Hour, 150_000, 24)
	report := baselinetest.Raw(`{"lambda":{"type":"REPORT","durationMs":2900,"billedDurationMs":3000,"memorySizeMB":1024}}`)
	add := func(ev *event.Event) { evs = append(evs, ev) }
	for i := 0; i < 8000; i++ { // a flood on fn-0003, ten minutes long
		add(&event.Event{Time: t0.Add(8*24*time.Hour + 10*time.Hour + time.Duration(i)*75*time.Millisecond), Source: event.SourceLambda,
			Function: "fn-0003", Action: event.ActionFunctionReport, Raw: report, ID: fmt.Sprintf("flood-%05d", i)})
	}
	for i := 0; i < 300; i++ { // enumeration by a function role
		add(&event.Event{Time: t0.Add(8*24*time.Hour + 15*time.Hour + time.Duration(i)*time.Second), Source: event.SourceCloudTrail,
			Principal: "arn:aws:sts::111122223301:assumed-role/fn-0001-role/fn-0001", PrincipalType: "AssumedRole", Account: "111122223301",
			Region: "ap-south-2", Action: fmt.Sprintf("List%d", i%40), Outcome: event.Failure, ErrorCode: "AccessDenied",
			SourceIP: "203.0.113.7", UserAgent: "aws-cli/2.15.30", ID: fmt.Sprintf("enum-%03d", i)})
	}
	slices.SortStableFunc(evs, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
	return evs
}

// TestBatchingAndOrder is the property that hunt and serve agree: events
// reordered within the lateness tolerance, fed in batches with the state
// checkpointed and restored into a new evaluator between some of them,
// give the same matches as the events in order in one go.
func TestBatchingAndOrder(t *testing.T) {
	rules, geo := packRules(t)
	evs := traffic(t)
	const lateness = 3 * time.Minute
	opts := baseline.Options{Lateness: lateness, Geo: geo}
	ref := summarize(runAll(mustNew(t, rules, opts), evs))
	if len(ref) < 5 {
		t.Fatalf("the reference run has %d matches; the traffic should make more", len(ref))
	}
	fired := map[string]bool{}
	for _, m := range ref {
		fired[m.Rule] = true
	}
	if len(fired) < 5 {
		t.Errorf("only %d rules fired in the reference run: %v", len(fired), ref)
	}
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			type arrival struct {
				ev *event.Event
				at int64
			}
			arr := make([]arrival, len(evs))
			for i, ev := range evs {
				arr[i] = arrival{ev, ev.Time.UnixNano() + r.Int64N(int64(lateness))}
			}
			slices.SortStableFunc(arr, func(a, b arrival) int { return cmp.Compare(a.at, b.at) })
			var got []baseline.Match
			e := mustNew(t, rules, opts)
			for i := 0; i < len(arr); {
				n := 1 + r.IntN(20_000)
				for _, a := range arr[i:min(i+n, len(arr))] {
					e.Observe(a.ev, collect(&got))
				}
				i += n
				if r.IntN(3) == 0 {
					e = restarted(t, e, rules, opts)
				}
			}
			e.Flush(collect(&got))
			if st := e.Stats(); st.Late != 0 || st.Forced != 0 {
				t.Errorf("events within lateness were dropped: %+v", st)
			}
			if diff := gocmp.Diff(ref, summarize(got)); diff != "" {
				t.Errorf("reordered and batched input gives other matches (-in order +reordered):\n%s", diff)
			}
		})
	}
}
