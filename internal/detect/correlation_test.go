package detect

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInvalidCorrelations loads every file in testdata/correlations/invalid.
// The leading "# want: file:line:col: message" lines list every expected
// error; the correlation must not load.
func TestInvalidCorrelations(t *testing.T) {
	files, err := filepath.Glob("testdata/correlations/invalid/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("only %d invalid correlation files", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
					want = append(want, w)
				}
			}
			if len(want) == 0 {
				t.Fatal(`no "# want:" line`)
			}
			set := Load([]File{{Name: name, Data: data}}, Options{})
			var got []string
			for _, f := range set.Failed {
				got = append(got, strings.Split(f.Error(), "\n")...)
			}
			sort.Strings(got)
			sort.Strings(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCorrelationLinking(t *testing.T) {
	files := []File{
		{Name: "base.yml", Data: []byte(baseRules + `---
title: Okta login
name: okta_login
logsource: {product: okta, service: okta}
detection:
  sel: {eventType: user.session.start}
  condition: sel
`)},
		{Name: "corr.yml", Data: []byte(`title: By id
correlation: {type: event_count, rules: [0c4f4c4e-0000-4000-8000-00000000000a], group-by: [userIdentity.arn], timespan: 1m, condition: {gte: 2}}
---
title: On okta
name: on_okta
correlation: {type: temporal, rules: [step_b, okta_login], group-by: [userIdentity.arn], timespan: 1m}
---
title: Over okta
correlation: {type: event_count, rules: [on_okta], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 2}}
---
title: Broken
name: broken
correlation: {type: event_count, rules: [step_c, nowhere], group-by: [userIdentity.arn], timespan: 1m, condition: {gte: 2}}
---
title: Over broken
correlation: {type: event_count, rules: [broken], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 2}}
---
title: Same id as a rule
id: 0c4f4c4e-0000-4000-8000-00000000000b
correlation: {type: event_count, rules: [step_d], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 2}}
`)},
	}
	set := Load(files, Options{})
	var failed []string
	for _, f := range set.Failed {
		failed = append(failed, f.Error())
	}
	wantFailed := []string{
		"corr.yml:19:5: duplicate rule id or name 0c4f4c4e-0000-4000-8000-00000000000b, also used by rule \"step_b\" in base.yml",
		`corr.yml:13:50: correlation refers to rule "nowhere", which is not loaded: no rule or correlation has this id or name`,
	}
	if diff := cmp.Diff(wantFailed, failed); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	var inactive []string
	for _, in := range set.Inactive {
		inactive = append(inactive, in.Rule.Title+": "+in.Reason)
	}
	sort.Strings(inactive)
	wantInactive := []string{
		"Okta login: no Vigil source produces logsource {product: okta, service: okta}",
		`On okta: it refers to rule "okta_login", which is inactive`,
		`Over broken: it refers to correlation "broken", which failed to load`,
		`Over okta: it refers to correlation "on_okta", which is inactive`,
	}
	if diff := cmp.Diff(wantInactive, inactive); diff != "" {
		t.Errorf("inactive (-want +got):\n%s", diff)
	}
	if len(set.Correlations) != 1 || set.Correlations[0].Rule.Title != "By id" {
		t.Fatalf("correlations %v", set.Correlations)
	}
	// Only step_a feeds a running correlation; the others raise their own
	// matches.
	emits := map[string]bool{}
	for _, r := range set.Engine.Rules() {
		emits[r.Title] = set.CorrelationSet.Emits(r)
	}
	if diff := cmp.Diff(map[string]bool{"Step A": false, "Step B": true, "Step C": true, "Step D": true}, emits); diff != "" {
		t.Errorf("emits (-want +got):\n%s", diff)
	}
}
