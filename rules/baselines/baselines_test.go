package baselines

import (
	"io/fs"
	"net/netip"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/detect/baseline"
)

// packGeo is the GeoIP answer the pack's tests give when a test file lists
// no networks of its own: none, but the lookups exist, so that rules on asn
// and country are active.
var packGeo = baseline.Geo{
	ASN:     func(_ netip.Addr) (string, bool) { return "", false },
	Country: func(_ netip.Addr) (string, bool) { return "", false },
}

// TestPack loads the built-in baselines and runs every rule file's test
// cases.
func TestPack(t *testing.T) {
	files, err := baseline.ReadFS(FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 14 {
		t.Errorf("the pack has %d rule files, want at least 14", len(files))
	}
	set := baseline.Load(files, packGeo)
	for _, f := range set.Failed {
		t.Errorf("rule does not load: %v", f)
	}
	for _, in := range set.Inactive {
		t.Errorf("rule %s is inactive: %s", in.Rule.File, in.Reason)
	}
	names := map[string]string{}
	for _, r := range set.Rules {
		if r.Name == "" || r.Description == "" || r.Level == "" || len(r.FalsePositives) == 0 {
			t.Errorf("%s: every built-in baseline needs a name, a description, a level and false positives", r.File)
		}
		if prev, dup := names[r.Name]; dup {
			t.Errorf("%s: name %q is also used by %s", r.File, r.Name, prev)
		}
		names[r.Name] = r.File
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
	for _, f := range files {
		t.Run(strings.TrimSuffix(f.Name, baseline.Ext), func(t *testing.T) {
			runFile(t, f, set.Rules)
		})
	}
}

func runFile(t *testing.T, f baseline.File, all []*baseline.Rule) {
	var rules []*baseline.Rule
	for _, r := range all {
		if r.File == f.Name {
			rules = append(rules, r)
		}
	}
	data, err := fs.ReadFile(FS, baseline.TestFileOf(f.Name))
	if err != nil {
		t.Fatalf("%s has no test cases: %v", f.Name, err)
	}
	suite, err := baseline.ParseSuite(baseline.TestFileOf(f.Name), data)
	if err != nil {
		t.Fatal(err)
	}
	pos, neg := 0, 0
	for _, res := range baseline.RunSuite(rules, suite, baseline.Options{Geo: packGeo}) {
		c := suite.Cases[0]
		for _, cc := range suite.Cases {
			if cc.Name == res.Case {
				c = cc
			}
		}
		if len(c.Want) > 0 {
			pos++
		} else {
			neg++
		}
		if !res.Pass() {
			t.Errorf("%s:%d: %s: %s", suite.File, res.Line, res.Case, res.Describe())
		}
	}
	if pos < 1 || neg < 2 {
		t.Errorf("%s: %d firing and %d quiet cases, want at least 1 and 2", suite.File, pos, neg)
	}
}
