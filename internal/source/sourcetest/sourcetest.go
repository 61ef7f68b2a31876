// Package sourcetest holds the test harness shared by the format decoders:
// golden files for samples, fuzz checks and benchmark helpers.
package sourcetest

import (
	"flag"
	"fmt"
	"slices"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Update defines the -update flag of the test binary that calls it and
// returns it. The flag tells Golden.Test to rewrite the golden files of
// that package instead of comparing with them. Call it once per package,
// in a package-level variable:
//
//	var update = sourcetest.Update()
func Update() *bool {
	return flag.Bool("update", false, "rewrite the golden files in testdata/golden")
}

// Parse parses s into a new document and returns its root, failing the
// test when s is not JSON.
func Parse(t testing.TB, s string) jsondoc.Value {
	t.Helper()
	d := new(jsondoc.Doc)
	if err := d.Parse([]byte(s)); err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return d.Root()
}

// Want is what every event of a package's decoders must carry. Every event
// needs a cloud, a source and an ID; the other fields are asked for when
// the package's formats always give them.
type Want struct {
	Cloud   string   // the cloud every event names; "" accepts any but none
	Sources []string // the sources events may name; nil accepts any but none
	Time    bool     // a time, in UTC
	Action  bool     // an action
	Raw     bool     // the raw record
}

// Check reports with t.Errorf the first thing e lacks, and whether it
// lacks nothing. what names the input in the message.
func (w Want) Check(t testing.TB, what string, e *event.Event) bool {
	t.Helper()
	if problem := w.problem(e); problem != "" {
		t.Errorf("%s: %s in %s", what, problem, e.AppendJSON(nil, false))
		return false
	}
	return true
}

// problem names the first thing e lacks, or returns "".
func (w Want) problem(e *event.Event) string {
	switch {
	case e.Cloud == "" || w.Cloud != "" && e.Cloud != w.Cloud:
		return fmt.Sprintf("cloud %q, want %q", e.Cloud, w.Cloud)
	case e.Source == "":
		return "no source"
	case w.Sources != nil && !slices.Contains(w.Sources, e.Source):
		return fmt.Sprintf("source %q, want one of %q", e.Source, w.Sources)
	case e.ID == "":
		return "no id"
	case w.Time && (e.Time.IsZero() || e.Time.Location().String() != "UTC"):
		return fmt.Sprintf("time %v, want a time in UTC", e.Time)
	case w.Action && e.Action == "":
		return "no action"
	case w.Raw && !e.Raw.Exists():
		return "no raw record"
	}
	return ""
}

// Decode parses input, decodes it with dec at where, checks every event
// against w, and renders what dec gave as lines: each event as JSON without
// its raw record, then each failed record as "fail: <error>" and each note
// as "note: <note>". The error is Decode's.
func (w Want) Decode(t testing.TB, dec source.Decoder, input, where string) ([]string, error) {
	t.Helper()
	var c source.Collect
	err := dec.Decode(Parse(t, input), where, &c)
	var lines []string
	for _, e := range c.Events {
		w.Check(t, input, e)
		lines = append(lines, string(e.AppendJSON(nil, false)))
	}
	for _, f := range c.Errors {
		lines = append(lines, "fail: "+f.Error())
	}
	for _, n := range c.Notes {
		lines = append(lines, "note: "+n)
	}
	return lines, err
}
