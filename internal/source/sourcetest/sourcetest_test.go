package sourcetest

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// The format packages' tests take -update; this package takes it too, so
// that `go test ./internal/source/... -update` runs.
var _ = Update()

// fake decodes {"fake":[{"id":..,"time":..}, ...]} and, as text, lines
// that start with "fake ".
var fake = source.Decoder{
	Kind:   "fake",
	Detect: func(root jsondoc.Value) bool { return root.Get("fake").Exists() },
	Decode: func(root jsondoc.Value, where string, sink source.Sink) error {
		list := root.Get("fake")
		if list.Kind() != jsondoc.Array {
			return source.NotFormat("fake", `no "fake" array`)
		}
		source.DecodeRecords(list, where, "fake", sink, func(v jsondoc.Value, e *event.Event, _ []event.Resource) error {
			t, err := source.TimeField(v.Get("time"), "time")
			if err != nil {
				return err
			}
			*e = event.Event{Time: t, Cloud: "test", Source: "test.fake", ID: v.Get("id").Str(), Action: "act", Raw: v}
			return nil
		})
		if list.Len() == 0 {
			sink.Note("empty")
		}
		return nil
	},
	DecodeText: func(line []byte, where string, sink source.Sink) error {
		if len(line) > 0 {
			sink.Event(&event.Event{Cloud: "test", Source: "test.text", ID: where, Action: string(line)})
		}
		return nil
	},
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDocuments(t *testing.T) {
	dir := t.TempDir()
	one := `{"fake":[{"id":"a","time":"2024-01-02T03:04:05Z"}]}`
	writeFile(t, filepath.Join(dir, "one.json"), []byte(one))
	writeFile(t, filepath.Join(dir, "one.json.gz"), gzipped(t, []byte(one)))
	writeFile(t, filepath.Join(dir, "single.jsonl"), []byte(one+"\n"))
	writeFile(t, filepath.Join(dir, "lines.log"), []byte("{\"a\":1}\n\n {\"b\":2}\n"))
	writeFile(t, filepath.Join(dir, "text.log"), []byte("fake one\n\nfake two\n"))
	writeFile(t, filepath.Join(dir, "README.md"), []byte("# samples"))
	writeFile(t, filepath.Join(dir, ".hidden"), []byte("x"))

	var names []string
	for _, p := range Samples(t, dir) {
		names = append(names, filepath.Base(p))
	}
	if diff := cmp.Diff([]string{"lines.log", "one.json", "one.json.gz", "single.jsonl", "text.log"}, names); diff != "" {
		t.Errorf("Samples (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		want []Document
	}{
		{"one.json", []Document{{Data: []byte(one)}}},
		{"one.json.gz", []Document{{Data: []byte(one)}}},
		{"single.jsonl", []Document{{Where: "line 1", Data: []byte(one)}}},
		{"lines.log", []Document{{Where: "line 1", Data: []byte(`{"a":1}`)}, {Where: "line 3", Data: []byte(` {"b":2}`)}}},
		{"text.log", []Document{
			{Where: "line 1", Data: []byte("fake one"), Text: true},
			{Where: "line 2", Data: []byte{}, Text: true},
			{Where: "line 3", Data: []byte("fake two"), Text: true},
			{Where: "line 4", Data: []byte{}, Text: true},
		}},
	} {
		got := Documents(t, filepath.Join(dir, tc.name))
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Documents(%s) (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestGolden(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "records.json"), []byte(`{"fake":[{"id":"a","time":"2024-01-02T03:04:05+01:00"},{"id":"b","time":"soon"}]}`))
	writeFile(t, filepath.Join(dir, "lines.jsonl"), []byte(`{"fake":[]}`+"\n"+`{"fake":[{"id":"c","time":"2024-01-02T03:04:05"}]}`+"\n"))
	writeFile(t, filepath.Join(dir, "text.log"), []byte("fake one\n"))
	g := Golden{
		Decoders: []source.Decoder{fake},
		Want:     Want{Cloud: "test"},
		FailKey:  "fail",
		Raw:      func(e *event.Event) bool { return e.ID == "c" },
	}
	g.Test(t, dir, true)
	want := map[string]string{
		"records.json.jsonl": `{"time":"2024-01-02T02:04:05Z","cloud":"test","source":"test.fake","id":"a","action":"act","outcome":"unknown"}` + "\n" +
			`{"fail":"fake[1]: \"time\" is not an RFC 3339 time: \"soon\""}` + "\n",
		"lines.jsonl.jsonl": `{"note":"empty"}` + "\n" +
			`{"time":"2024-01-02T03:04:05Z","cloud":"test","source":"test.fake","id":"c","action":"act","outcome":"unknown","raw":{"id":"c","time":"2024-01-02T03:04:05"}}` + "\n",
		"text.log.jsonl": `{"cloud":"test","source":"test.text","id":"line 1","action":"fake one","outcome":"unknown"}` + "\n",
	}
	for name, w := range want {
		got, err := os.ReadFile(filepath.Join(dir, "golden", name))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, string(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// Without update, the files just written match.
	g.Test(t, dir, false)
}

func TestWantProblem(t *testing.T) {
	good := event.Event{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Cloud: "aws", Source: "aws.lambda", ID: "1", Action: "a"}
	var d jsondoc.Doc
	if err := d.Parse([]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	good.Raw = d.Root()
	all := Want{Cloud: "aws", Sources: []string{"aws.lambda"}, Time: true, Action: true, Raw: true}
	for _, tc := range []struct {
		name string
		want Want
		edit func(*event.Event)
		out  string
	}{
		{"complete", all, func(*event.Event) {}, ""},
		{"other cloud", all, func(e *event.Event) { e.Cloud = "gcp" }, `cloud "gcp", want "aws"`},
		{"no cloud", Want{}, func(e *event.Event) { e.Cloud = "" }, `cloud "", want ""`},
		{"no source", all, func(e *event.Event) { e.Source = "" }, "no source"},
		{"other source", all, func(e *event.Event) { e.Source = "aws.cloudtrail" }, `source "aws.cloudtrail", want one of ["aws.lambda"]`},
		{"no id", all, func(e *event.Event) { e.ID = "" }, "no id"},
		{"no time", all, func(e *event.Event) { e.Time = time.Time{} }, "time 0001-01-01 00:00:00 +0000 UTC, want a time in UTC"},
		{"no time asked", Want{}, func(e *event.Event) { e.Time = time.Time{} }, ""},
		{"zone", all, func(e *event.Event) { e.Time = e.Time.In(time.FixedZone("CET", 3600)) }, "time 2024-01-02 04:04:05 +0100 CET, want a time in UTC"},
		{"no action", all, func(e *event.Event) { e.Action = "" }, "no action"},
		{"no raw", all, func(e *event.Event) { e.Raw = jsondoc.Value{} }, "no raw record"},
	} {
		e := good
		tc.edit(&e)
		if got := tc.want.problem(&e); got != tc.out {
			t.Errorf("%s: problem = %q, want %q", tc.name, got, tc.out)
		}
	}
}

func TestIncomplete(t *testing.T) {
	good := event.Event{Time: time.Unix(1, 0), Cloud: "aws", Source: "aws.lambda", ID: "1"}
	for _, tc := range []struct {
		edit func(*event.Event)
		out  string
	}{
		{func(*event.Event) {}, ""},
		{func(e *event.Event) { e.Cloud = "" }, "event without a cloud"},
		{func(e *event.Event) { e.Source = "" }, "event without a source"},
		{func(e *event.Event) { e.ID = "" }, "event without an ID"},
		{func(e *event.Event) { e.Time = time.Time{} }, "event without a time"},
	} {
		e := good
		tc.edit(&e)
		got := ""
		if err := incomplete(&e); err != nil {
			got = err.Error()
		}
		if got != tc.out {
			t.Errorf("incomplete = %q, want %q", got, tc.out)
		}
	}
}

func TestCount(t *testing.T) {
	var c Count
	if err := fake.Decode(Parse(t, `{"fake":[{"id":"a","time":"2024-01-02T03:04:05Z"},{"id":"b"}]}`), "", &c); err != nil {
		t.Fatal(err)
	}
	if err := fake.Decode(Parse(t, `{"fake":[]}`), "", &c); err != nil {
		t.Fatal(err)
	}
	if want := (Count{Events: 1, Fails: 1, Notes: 1}); c != want {
		t.Errorf("Count = %+v, want %+v", c, want)
	}
}

func BenchmarkFake(b *testing.B) {
	Benchmark(b, fake, []byte(`{"fake":[{"id":"a","time":"2024-01-02T03:04:05Z"},{"id":"b","time":"2024-01-02T03:04:06Z"}]}`), 2)
}
