package notify

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/alert"
)

func TestRouteMatchers(t *testing.T) {
	a := mkAlert("a1", "aws-iam-backdoor", alert.Open, 1)
	a.Rule.Tags = []string{"attack.persistence", "attack.t1098"}
	noTags := a
	noTags.Rule.Tags = nil
	tests := []struct {
		matcher string
		a       alert.Alert
		want    bool
	}{
		{`severity="high"`, a, true},
		{`severity=~"high|critical"`, a, true},
		{`severity!~"high|critical"`, a, false},
		{`rule="aws-iam-backdoor"`, a, true},
		{`rule!=aws-iam-backdoor`, a, false},
		{`cloud=aws`, a, true},
		{`account="111122223333"`, a, true},
		{`function=~"fn-.*"`, a, true},
		{`source=""`, a, true},
		{`tag="attack.t1098"`, a, true},
		{`tags="attack.t1098"`, a, true},
		{`tag="attack.t1078"`, a, false},
		{`tag=~"attack\\.t10.*"`, a, true},
		{`tag=~"attack\\.t1"`, a, false}, // anchored: a prefix alone does not match
		{`tag!="attack.t1098"`, a, false},
		{`tag!="attack.t1078"`, a, true},
		{`tag!~"attack\\..*"`, a, false},
		{`tag=""`, noTags, true},
		{`tag!=""`, noTags, false},
		{`tag=~".+"`, noTags, false},
		{` tag = "attack.t1098"`, a, true},
	}
	for _, tt := range tests {
		m, err := parseRouteMatcher(tt.matcher)
		if err != nil {
			t.Errorf("%s: %v", tt.matcher, err)
			continue
		}
		labels, tags := alertLabels(&tt.a)
		if got := m.matches(labels, tags); got != tt.want {
			t.Errorf("%s on tags %q = %v, want %v", tt.matcher, tt.a.Rule.Tags, got, tt.want)
		}
	}
	for _, bad := range []string{`nosuch="x"`, `severity`, `tag=~"("`, `severity=~"[a-"`, `rule="unterminated`} {
		if _, err := parseRouteMatcher(bad); err == nil {
			t.Errorf("%s parsed; want an error", bad)
		}
	}
	if _, err := parseRouteMatcher(`tga="x"`); err == nil || !strings.Contains(err.Error(), "or tag") {
		t.Errorf("unknown label error %v does not mention tag", err)
	}
}

// tree is the routing tree the routing tests use.
var tree = Route{
	Receiver: "default", GroupBy: []string{"rule"}, GroupWait: dur(30 * time.Second), GroupInterval: dur(5 * time.Minute), RepeatInterval: dur(4 * time.Hour),
	Routes: []Route{
		{Matchers: []string{`severity=~"high|critical"`}, Receiver: "oncall", Continue: true, GroupWait: dur(0),
			Routes: []Route{{Matchers: []string{`cloud=gcp`}, Receiver: "gcp-oncall", GroupBy: []string{GroupAll}}}},
		{Matchers: []string{`tag="attack.t1098"`}, Receiver: "iam-team", RepeatInterval: dur(time.Hour)},
		{Matchers: []string{`tag="attack.t1098"`}, Receiver: "never"},
		{Matchers: []string{`account="999"`}, Receiver: "sandbox", GroupBy: []string{}},
	},
}

func TestRouting(t *testing.T) {
	root, _, err := compile(&tree, nil, func(string) bool { return true }, true)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Receiver               string
		GroupBy                []string
		GroupAll               bool
		Wait, Interval, Repeat time.Duration
	}
	mk := func(f func(a *alert.Alert)) alert.Alert {
		a := mkAlert("a1", "r1", alert.Open, 1)
		a.Rule.Tags = nil
		f(&a)
		return a
	}
	tests := []struct {
		name string
		a    alert.Alert
		want []got
	}{
		{"no child matches: the root handles it", mk(func(a *alert.Alert) { a.Severity = "low" }),
			[]got{{"default", []string{"rule"}, false, 30 * time.Second, 5 * time.Minute, 4 * time.Hour}}},
		{"continue goes on to the next sibling", mk(func(a *alert.Alert) { a.Rule.Tags = []string{"attack.t1098"} }),
			[]got{{"oncall", []string{"rule"}, false, 0, 5 * time.Minute, 4 * time.Hour}, {"iam-team", []string{"rule"}, false, 30 * time.Second, 5 * time.Minute, time.Hour}}},
		{"the first match without continue stops", mk(func(a *alert.Alert) { a.Severity = "low"; a.Rule.Tags = []string{"attack.t1098"}; a.Account = "999" }),
			[]got{{"iam-team", []string{"rule"}, false, 30 * time.Second, 5 * time.Minute, time.Hour}}},
		{"a matching grandchild handles it and inherits", mk(func(a *alert.Alert) { a.Cloud = "gcp" }),
			[]got{{"gcp-oncall", []string{GroupAll}, true, 0, 5 * time.Minute, 4 * time.Hour}}},
		{"an empty group_by is kept", mk(func(a *alert.Alert) { a.Severity = "low"; a.Account = "999" }),
			[]got{{"sandbox", []string{}, false, 30 * time.Second, 5 * time.Minute, 4 * time.Hour}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels, tags := alertLabels(&tt.a)
			var out []got
			for _, r := range root.match(labels, tags) {
				out = append(out, got{r.receiver, r.groupBy, r.groupAll, r.groupWait, r.groupInterval, r.repeatInterval})
			}
			if diff := gocmp.Diff(tt.want, out); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestGroupKeysAndLabels(t *testing.T) {
	root, _, err := compile(&tree, nil, func(string) bool { return true }, true)
	if err != nil {
		t.Fatal(err)
	}
	a := mkAlert("a1", "r1", alert.Open, 1)
	a.Cloud = "gcp"
	b := a
	b.ID, b.Principal = "a2", "bob"
	key := func(a alert.Alert) (string, map[string]string) {
		labels, tags := alertLabels(&a)
		r := root.match(labels, tags)[0]
		gl := r.groupLabels(labels)
		return r.groupKey(gl), gl
	}
	ka, la := key(a)
	kb, _ := key(b)
	if ka == kb {
		t.Error("group_by ... put alerts with different principals in one group")
	}
	if la["principal"] != "alice" || len(la) != len(alert.LabelNames()) {
		t.Errorf("group labels of ... = %v", la)
	}
	// The root groups by rule: both alerts share a group; the key is stable.
	a.Cloud, b.Cloud, a.Severity, b.Severity = "aws", "aws", "low", "low"
	ka, la = key(a)
	kb, _ = key(b)
	if ka != kb || gocmp.Diff(map[string]string{"rule": "r1"}, la) != "" {
		t.Errorf("keys %s %s labels %v", ka, kb, la)
	}
	if _, err := hex.DecodeString(ka); err != nil || len(ka) != 32 {
		t.Errorf("group key %q is not 32 hex digits", ka)
	}
}

func TestCheck(t *testing.T) {
	tis := []TimeInterval{{Name: "nights", Periods: []TimePeriod{{}}}, {Name: "nights", Periods: []TimePeriod{{}}}}
	root := Route{Receiver: "nobody", Matchers: []string{"severity=high"}, Continue: true, MuteTimeIntervals: []string{"nights"},
		Routes: []Route{
			{Receiver: "also-nobody", MuteTimeIntervals: []string{"days"}},
			{GroupInterval: dur(5 * time.Hour), Routes: []Route{{RepeatInterval: dur(time.Minute)}}},
		}}
	err := Check(&root, tis, []string{"log"})
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a *FieldError", e)
		}
		got = append(got, fe.Field)
	}
	want := []string{
		"time_intervals[1].name", "route.matchers", "route.continue", "route.mute_time_intervals",
		"route.receiver", "route.routes[0].receiver", "route.routes[0].mute_time_intervals[0]",
		"route.routes[1].group_interval", "route.routes[1].routes[0].repeat_interval",
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
	}
	if err := Check(&tree, nil, []string{"default", "oncall", "gcp-oncall", "iam-team", "never", "sandbox"}); err != nil {
		t.Errorf("Check(tree) = %v", err)
	}
}

func TestRouteValidate(t *testing.T) {
	tests := []struct {
		r    Route
		want string
	}{
		{Route{Matchers: []string{"bogus"}}, "matchers[0]: matcher"},
		{Route{GroupBy: []string{"rule", "..."}}, `group_by: "..." groups by every label`},
		{Route{GroupBy: []string{"tag"}}, `group_by: unknown label "tag" (group by "tags"`},
		{Route{GroupBy: []string{"rule", "rule"}}, `label "rule" is listed twice`},
		{Route{GroupWait: dur(-time.Second)}, "group_wait: must not be negative"},
		{Route{GroupInterval: dur(0)}, "group_interval: must be more than 0"},
		{Route{RepeatInterval: dur(0)}, "repeat_interval: must be more than 0"},
		{Route{MuteTimeIntervals: []string{" "}}, "mute_time_intervals[0]: empty time interval name"},
		{Route{Matchers: make([]string, MaxMatchers+1)}, "at most 32"},
	}
	for _, tt := range tests {
		err := tt.r.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.r, err, tt.want)
		}
	}
	if def := DefaultRoute(); def.Validate() != nil {
		t.Errorf("DefaultRoute() is invalid: %v", def.Validate())
	}
}
