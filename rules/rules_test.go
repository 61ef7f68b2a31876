package rules

import (
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/ruletest"
)

// TestPack loads the built-in pack and runs every rule's test cases through
// the real decoders and engine.
func TestPack(t *testing.T) {
	files, err := detect.ReadFS(FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	set := detect.Load(files, detect.Options{})
	for _, f := range set.Failed {
		t.Errorf("rule does not load: %v", f)
	}
	for _, in := range set.Inactive {
		t.Errorf("rule %s is inactive: %s", in.Rule.File, in.Reason)
	}
	if n := len(set.Engine.Rules()); n < 40 {
		t.Errorf("the pack has %d active rules, want at least 40", n)
	}
	names := map[string]string{}
	cs := set.CorrelationSet
	check := func(r *detect.Rule, standalone bool) {
		if r.ID == "" || r.Name == "" || r.Description == "" {
			t.Errorf("%s: %q: every built-in rule needs an id, a name and a description", r.File, r.Title)
		}
		if prev, dup := names[r.Name]; dup {
			t.Errorf("%s: name %q is also used by %s", r.File, r.Name, prev)
		}
		names[r.Name] = r.File
		if !standalone {
			return // a building block of correlations raises nothing of its own
		}
		if r.Level == "" || len(r.FalsePositives) == 0 {
			t.Errorf("%s: %q: every rule that raises alerts needs a level and false positives", r.File, r.Title)
		}
		var tactic, technique bool
		for _, tag := range r.Tags {
			if strings.HasPrefix(tag, "attack.t") {
				technique = true
			} else if strings.HasPrefix(tag, "attack.") {
				tactic = true
			}
		}
		if !tactic || !technique {
			t.Errorf("%s: needs an ATT&CK tactic tag and technique tag, has %v", r.File, r.Tags)
		}
	}
	for _, r := range set.Engine.Rules() {
		check(r, cs.Emits(r))
	}
	if len(set.Correlations) < 4 {
		t.Errorf("the pack has %d correlations, want at least 4", len(set.Correlations))
	}
	for _, c := range set.Correlations {
		check(c.Rule, c.Emits())
	}
	reg := decode.Builtin()
	for _, f := range files {
		suite, ok, err := ruletest.ReadSuite(FS, f.Name)
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		if !ok {
			t.Errorf("%s has no test cases", f.Name)
			continue
		}
		pos, neg := 0, 0
		for _, r := range ruletest.Run(f, suite, reg, detect.Options{}) {
			if r.Want || r.WantCount > 0 {
				pos++
			} else {
				neg++
			}
			if r.Err != nil {
				t.Errorf("%s: %s: %v", f.Name, r.Case, r.Err)
			} else if !r.Pass() {
				t.Errorf("%s: %s: %s", f.Name, r.Case, r.Describe())
			}
		}
		if pos < 1 || neg < 2 {
			t.Errorf("%s: %d matching and %d non-matching cases, want at least 1 and 2", f.Name, pos, neg)
		}
	}
}
