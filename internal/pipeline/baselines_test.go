package pipeline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/event"
)

const testBaseline = `id: 0c9d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f
title: New action
level: high
tags: [attack.t1078.004]
kind: first_seen
events:
  - source: [aws.cloudtrail]
key: [principal]
new: [action]
learning: 5m
`

func newTestBaselines(t *testing.T) *Baselines {
	t.Helper()
	rules, err := baseline.Parse("test.baseline", []byte(testBaseline))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	b, err := NewBaselines(rules, BaselinesOptions{Lateness: time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var t0 = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

// feedCalls feeds one event per call, a minute apart from minute from, and
// returns the alerts raised as "principal action".
func feedCalls(b *Baselines, from int, calls ...string) []string {
	var obs []any
	for i, c := range calls {
		principal, action, _ := strings.Cut(c, " ")
		ev := &event.Event{Time: t0.Add(time.Duration(from+i) * time.Minute), Source: "aws.cloudtrail", Cloud: "aws",
			ID: fmt.Sprintf("ev-%d", from+i), Principal: principal, Action: action, Account: "111122223333"}
		o := b.NewObserver(nil).(EventObserver)
		o.ObserveEvent(ev)
		obs = append(obs, o.Take())
	}
	var got []string
	b.Feed(obs, func(a *alert.Alert) { got = append(got, a.Principal+" "+a.Action) })
	return got
}

// TestBaselinesRestore learns, snapshots, restores into a fresh evaluator
// and checks that the restored one remembers both the learned combinations
// and the end of learning.
func TestBaselinesRestore(t *testing.T) {
	tests := []struct {
		name    string
		restore bool
		want    []string
	}{
		{"restored", true, []string{"alice GetSecretValue"}},
		// Without the state the rule learns again: nothing fires.
		{"fresh", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBaselines(t)
			if got := feedCalls(b, 0, "alice ListRoles", "alice ListRoles", "alice ListRoles", "alice ListRoles", "alice ListRoles", "alice ListRoles", "alice ListRoles"); len(got) != 0 {
				t.Fatalf("alerts while learning: %v", got)
			}
			next := newTestBaselines(t)
			if tt.restore {
				var sb strings.Builder
				if err := b.Snapshot(&sb); err != nil {
					t.Fatal(err)
				}
				if err := next.Restore(strings.NewReader(sb.String())); err != nil {
					t.Fatal(err)
				}
			}
			got := feedCalls(next, 10, "alice ListRoles", "alice GetSecretValue", "bob ListUsers", "bob ListUsers")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("alerts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBaselineAlert(t *testing.T) {
	rules, err := baseline.Parse("test.baseline", []byte(testBaseline))
	if err != nil {
		t.Fatal(err)
	}
	r := rules[0]
	at := t0.Add(time.Hour)
	match := func(principal, action string) baseline.Match {
		ids := make([]string, alert.MaxEventRefs+5)
		for i := range ids {
			ids[i] = fmt.Sprint("e", i)
		}
		return baseline.Match{Rule: r, Time: at, Key: []detect.GroupValue{{Field: "principal", Value: principal}, {Field: "action", Value: action}}, EventIDs: ids}
	}
	a := BaselineAlert(match("alice", "GetSecretValue"), at)
	if a.Rule.ID != r.ID || a.Rule.Title != r.Title || a.Severity != "high" || !cmp.Equal(a.Rule.Tags, r.Tags) {
		t.Errorf("rule ref = %+v, severity %q", a.Rule, a.Severity)
	}
	if a.Principal != "alice" || a.Action != "GetSecretValue" || !a.FirstSeen.Equal(at) {
		t.Errorf("highlights = principal %q action %q first seen %s", a.Principal, a.Action, a.FirstSeen)
	}
	if len(a.EventIDs) != alert.MaxEventRefs {
		t.Errorf("%d event IDs, want them bounded to %d", len(a.EventIDs), alert.MaxEventRefs)
	}
	fps := map[string]string{}
	for _, k := range [][2]string{{"alice", "GetSecretValue"}, {"alice", "ListRoles"}, {"bob", "GetSecretValue"}} {
		fps[k[0]+" "+k[1]] = BaselineAlert(match(k[0], k[1]), at).Fingerprint
	}
	if BaselineAlert(match("alice", "GetSecretValue"), at).Fingerprint != a.Fingerprint {
		t.Error("one key gives different fingerprints")
	}
	if len(fps) != 3 || fps["alice GetSecretValue"] == fps["alice ListRoles"] || fps["alice ListRoles"] == fps["bob GetSecretValue"] || fps["alice GetSecretValue"] == fps["bob GetSecretValue"] {
		t.Errorf("different keys share a fingerprint: %v", fps)
	}
}
