// Package ruletest runs the test cases kept beside Sigma rules: for
// rules/x.yml, the file rules/x.tests.yml lists native log records, the
// decoder that reads each, and whether the rules in x.yml must match it.
//
// The format:
//
//	cases:
//	  - name: public function URL is created   # what the case proves
//	    match: true                            # must a rule in x.yml match?
//	    kind: cloudtrail                       # decoder, as for vigil decode --source; default auto
//	    record: {eventName: ..., ...}          # the native record, as YAML or JSON
//	  - name: a Lambda timeout
//	    match: true
//	    kind: lambda
//	    line: "2026-11-20T10:00:30.035Z 3f5c... Task timed out after 30.03 seconds"
//	    log_group: /aws/lambda/orders-api      # optional, names the function
//
// A record goes through the same decoder as production input, so a case
// also checks that the record decodes.
package ruletest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Case is one test case.
type Case struct {
	Name     string `yaml:"name"`
	Match    bool   `yaml:"match"`
	Kind     string `yaml:"kind"`
	Record   any    `yaml:"record"`
	Line     string `yaml:"line"`
	LogGroup string `yaml:"log_group"`
}

// Suite is one *.tests.yml file.
type Suite struct {
	Cases []Case `yaml:"cases"`
}

// Result is the outcome of one case.
type Result struct {
	RuleFile string
	Case     string
	Want     bool
	Got      bool
	Err      error // the case could not run: bad record, decoder error
}

// Pass reports whether the case ran and gave the expected answer.
func (r Result) Pass() bool { return r.Err == nil && r.Got == r.Want }

// TestFileName returns the name of the test file for a rule file.
func TestFileName(ruleFile string) string {
	for _, ext := range []string{".yml", ".yaml"} {
		if base, ok := strings.CutSuffix(ruleFile, ext); ok {
			return base + ".tests" + ext
		}
	}
	return ruleFile + ".tests.yml"
}

// MaxSuiteBytes bounds a test file.
const MaxSuiteBytes = 4 << 20

// ParseSuite decodes a test file strictly: unknown keys are errors.
func ParseSuite(name string, data []byte) (*Suite, error) {
	if len(data) > MaxSuiteBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB", name, MaxSuiteBytes>>20)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Suite
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(s.Cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", name)
	}
	for i, c := range s.Cases {
		if c.Name == "" {
			return nil, fmt.Errorf("%s: case %d has no name", name, i+1)
		}
		if (c.Record == nil) == (c.Line == "") {
			return nil, fmt.Errorf("%s: case %q needs exactly one of record or line", name, c.Name)
		}
	}
	return &s, nil
}

// Run runs the suite against the rules of one rule file; reg decodes the
// records.
func Run(rule detect.File, suite *Suite, reg *decode.Registry, opts detect.Options) []Result {
	set := detect.Load([]detect.File{rule}, opts)
	var loadErr error
	if len(set.Failed) > 0 {
		loadErr = fmt.Errorf("rule does not load: %v", set.Failed[0])
	} else if len(set.Engine.Rules()) == 0 {
		loadErr = errors.New("the file has no active rule")
	}
	var out []Result
	for _, c := range suite.Cases {
		r := Result{RuleFile: rule.Name, Case: c.Name, Want: c.Match}
		if loadErr != nil {
			r.Err = loadErr
		} else {
			r.Got, r.Err = runCase(set.Engine, c, reg)
		}
		out = append(out, r)
	}
	return out
}

func runCase(eng *detect.Engine, c Case, reg *decode.Registry) (bool, error) {
	kind := c.Kind
	var input []byte
	if c.Line != "" {
		group := c.LogGroup
		if group == "" {
			group = "/aws/lambda/test-function"
		}
		input = cloudWatchPayload(group, c.Line)
		kind = "cloudwatch"
	} else {
		b, err := json.Marshal(jsonable(c.Record))
		if err != nil {
			return false, fmt.Errorf("record is not JSON: %w", err)
		}
		input = b
	}
	rd, err := reg.NewReader(decode.Options{Kind: kind})
	if err != nil {
		return false, err
	}
	var col source.Collect
	if err := rd.Read(bytes.NewReader(input), &col, nil); err != nil {
		return false, fmt.Errorf("record does not decode: %w", err)
	}
	if len(col.Errors) > 0 {
		return false, fmt.Errorf("record does not decode: %v", col.Errors[0])
	}
	if len(col.Events) == 0 {
		return false, errors.New("record decodes to no event")
	}
	scratch := eng.NewScratch()
	matched := false
	for _, ev := range col.Events {
		eng.Match(ev, scratch, func(*detect.Rule) { matched = true })
	}
	return matched, nil
}

// cloudWatchPayload wraps a log line in a CloudWatch Logs subscription
// message, as Lambda logs arrive in production.
func cloudWatchPayload(group, line string) []byte {
	b := []byte(`{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":`)
	b = jsondoc.AppendString(b, group)
	b = append(b, `,"logStream":"2026/11/20/[$LATEST]0123456789abcdef0123456789abcdef","subscriptionFilters":["vigil"],"logEvents":[{"id":"37000000000000000000000000000000000000000000000000000000","timestamp":1795167000000,"message":`...)
	b = jsondoc.AppendString(b, line)
	return append(b, "}]}"...)
}

// jsonable turns YAML-decoded values into ones encoding/json accepts: maps
// with non-string keys get string keys.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = jsonable(x)
		}
		return v
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fmt.Sprint(k)] = jsonable(x)
		}
		return out
	case []any:
		for i, x := range v {
			v[i] = jsonable(x)
		}
		return v
	}
	return v
}

// ReadSuite reads the test file of a rule file from fsys, and reports
// whether it exists.
func ReadSuite(fsys fs.FS, ruleFile string) (*Suite, bool, error) {
	name := TestFileName(ruleFile)
	data, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	s, err := ParseSuite(name, data)
	return s, true, err
}
