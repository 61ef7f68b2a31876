package baseline

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/sigma"
)

// Ext is the extension of baseline rule files. It is not .yml, so that the
// Sigma loader, which reads every .yml and .yaml file of a rule directory,
// leaves them alone; the content is YAML all the same.
const Ext = ".baseline"

// TestExt ends the name of a file of test cases for the rules of the file
// of the same stem: rate_spike.tests.baseline tests rate_spike.baseline.
const TestExt = ".tests" + Ext

// IsFile reports whether name is a baseline rule file.
func IsFile(name string) bool {
	return strings.HasSuffix(name, Ext) && !strings.HasSuffix(name, TestExt)
}

// IsTestFile reports whether name is a file of baseline test cases.
func IsTestFile(name string) bool { return strings.HasSuffix(name, TestExt) }

// TestFileOf returns the name of the test file of a rule file.
func TestFileOf(name string) string { return strings.TrimSuffix(name, Ext) + TestExt }

// File is one rule file's name and content.
type File = detect.File

// ReadFS returns the baseline rule files below root in fsys, in lexical
// order.
func ReadFS(fsys fs.FS, root string) ([]File, error) { return detect.ReadFiles(fsys, root, IsFile) }

// ReadPaths returns the baseline rule files named by paths: files as given,
// and rule files below directories.
func ReadPaths(paths []string) ([]File, error) {
	files, err := detect.ReadPathsMatching(paths, IsFile)
	if err != nil {
		return nil, fmt.Errorf("baseline %w", err)
	}
	return files, nil
}

// Inactive is a rule that loaded but will not run, and why.
type Inactive struct {
	Rule   *Rule
	Reason string
}

// Failure is a rule file, or a rule in it, that did not load, as for
// Sigma rules.
type Failure = detect.Failure

// Set is the outcome of loading baseline rules.
type Set struct {
	Rules    []*Rule // active, ordered by ID
	Inactive []Inactive
	Failed   []Failure
}

// Load parses rule files. A file or rule with a problem is reported in
// Failed and the rest load. A rule that needs a derived field geo cannot
// provide is Inactive.
func Load(files []File, geo Geo) *Set {
	set := &Set{}
	byID := map[string]*Rule{}
	for _, f := range files {
		rules, err := Parse(f.Name, f.Data)
		if err != nil {
			set.Failed = append(set.Failed, Failure{File: f.Name, Err: err})
		}
		for _, r := range rules {
			if prev := byID[r.ID]; prev != nil {
				set.Failed = append(set.Failed, Failure{File: f.Name, Err: &sigma.Error{File: f.Name, Line: r.Line, Col: 1,
					Msg: fmt.Sprintf("duplicate rule id %s, also in %s:%d", r.ID, prev.File, prev.Line)}})
				continue
			}
			byID[r.ID] = r
			if reason := inactiveReason(r, geo); reason != "" {
				set.Inactive = append(set.Inactive, Inactive{Rule: r, Reason: reason})
				continue
			}
			set.Rules = append(set.Rules, r)
		}
	}
	sort.Slice(set.Rules, func(i, j int) bool { return set.Rules[i].ID < set.Rules[j].ID })
	return set
}

// inactiveReason says why r cannot run with geo, or "".
func inactiveReason(r *Rule, geo Geo) string {
	var fields []string
	fields = append(fields, r.Fields()...)
	for _, cs := range [][]Clause{r.Events, r.Except} {
		for _, c := range cs {
			for _, cd := range c.Conds {
				fields = append(fields, cd.Field)
			}
		}
	}
	for _, f := range fields {
		switch {
		case f == FieldASN && geo.ASN == nil:
			return "it reads the autonomous system (asn) of source IP addresses, and no MaxMind-format database with ASNs (such as GeoLite2-ASN) is configured"
		case f == FieldCountry && geo.Country == nil:
			return "it reads the country of source IP addresses, and no MaxMind-format database with countries (such as GeoLite2-Country or GeoLite2-City) is configured"
		}
	}
	return ""
}
