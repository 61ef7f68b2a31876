package decode

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// kv is a test format: an object {"k": "..."} becomes one event whose
// action is the value of k.
var kv = source.Decoder{
	Kind:   "kv",
	Detect: func(root jsondoc.Value) bool { return root.Get("k").Exists() },
	Decode: func(root jsondoc.Value, where string, sink source.Sink) error {
		k := root.Get("k")
		if !k.Exists() {
			return source.NotFormat("kv", `no "k" key`)
		}
		if k.Kind() != jsondoc.String {
			source.Failf(sink, where, "k is a %s", k.Kind())
			return nil
		}
		sink.Event(&event.Event{Source: "kv", Action: k.Str(), Raw: root})
		return nil
	},
}

// list is a test wrapper format: {"items": [...]} holds kv objects.
var list = source.Decoder{
	Kind:   "list",
	Detect: func(root jsondoc.Value) bool { return root.Get("items").Kind() == jsondoc.Array },
	Decode: func(root jsondoc.Value, where string, sink source.Sink) error {
		root.Get("items").Elements(func(i int, e jsondoc.Value) bool {
			kv.Decode(e, where+"items["+string(rune('0'+i))+"]", sink)
			return true
		})
		return nil
	},
}

var text = source.Decoder{
	Kind:       "text",
	DetectText: func(line []byte) bool { return bytes.HasPrefix(line, []byte("START")) },
	DecodeText: func(line []byte, where string, sink source.Sink) error {
		if bytes.HasPrefix(line, []byte("BAD")) {
			return source.NotFormat("text", "line starts with BAD")
		}
		sink.Event(&event.Event{Source: "text", Action: string(line)})
		return nil
	},
}

type result struct {
	Actions []string
	Errors  []string
	Err     string
}

func run(t *testing.T, kind string, max int, in []byte) result {
	t.Helper()
	rd, err := NewRegistry(list, kv, text).NewReader(Options{Kind: kind, MaxDocument: max})
	if err != nil {
		t.Fatal(err)
	}
	var c source.Collect
	var r result
	if err := rd.Read(bytes.NewReader(in), &c, nil); err != nil {
		r.Err = err.Error()
	}
	for _, e := range c.Events {
		r.Actions = append(r.Actions, e.Action)
	}
	for _, e := range c.Errors {
		r.Errors = append(r.Errors, e.Error())
	}
	return r
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestRead(t *testing.T) {
	jsonl := []byte("{\"k\":\"a\"}\n{\"k\":\n{\"k\":\"c\"}\r\n\n{\"k\":1}\n{\"items\":[{\"k\":\"d\"}]}")
	cases := []struct {
		name string
		kind string
		max  int
		in   []byte
		want result
	}{
		{"one document", Auto, 0, []byte(`{"k":"a"}`), result{Actions: []string{"a"}}},
		{"pretty document", Auto, 0, []byte("\ufeff\n  {\n \"items\": [\n{\"k\":\"a\"},\n{\"k\":\"b\"}]\n}\n\n"), result{Actions: []string{"a", "b"}}},
		{"json lines with bad lines", Auto, 0, jsonl, result{
			Actions: []string{"a", "c", "d"},
			Errors:  []string{"line 2: invalid JSON at byte 5: unexpected end of input", "line 5: k is a number"},
		}},
		{"json lines, bad first line", Auto, 0, []byte("{\"k\":\n{\"k\":\"b\"}\n"), result{
			Actions: []string{"b"},
			Errors:  []string{"line 1: invalid JSON at byte 5: unexpected end of input"},
		}},
		{"json lines, bad first line, larger than the limit", Auto, 40, []byte("{\"k\":\n{\"k\":\"b\"}\n" + strings.Repeat("{\"k\":\"c\"}\n", 20)), result{
			Actions: append([]string{"b"}, strings.Split(strings.Repeat("c ", 20), " ")[:20]...),
			Errors:  []string{"line 1: invalid JSON at byte 5: unexpected end of input"},
		}},
		{"json lines, first line too long", Auto, 16, []byte("{\"k\":\"aaaaaaaaaaaaaaaaaaaaaaaa\"}\n{\"k\":\"b\"}\n"), result{
			Actions: []string{"b"},
			Errors:  []string{"line 1: line is longer than the 0 MiB limit"},
		}},
		{"pretty array of one object", Auto, 0, []byte("[\n{\"k\":\"a\"}\n]\n"), result{Err: `not in this format: no known log format matches an array of an object with keys "k"; name the format (--source, or the kind in the ingest URL)`}},
		{"pretty object", Auto, 0, []byte("{\n\"k\": \"a\"\n}\n"), result{Actions: []string{"a"}}},
		{"gzip", Auto, 0, gz(t, jsonl), result{
			Actions: []string{"a", "c", "d"},
			Errors:  []string{"line 2: invalid JSON at byte 5: unexpected end of input", "line 5: k is a number"},
		}},
		{"truncated gzip", Auto, 0, gz(t, []byte(`{"items":[`+strings.Repeat(`{"k":"a"},`, 1000)+`{"k":"b"}]}`))[:40], result{Err: "truncated gzip data"}},
		{"empty", Auto, 0, nil, result{Err: "input is empty"}},
		{"white space", Auto, 0, []byte(" \n\t\r\n"), result{Err: "input is empty"}},
		{"unknown format", Auto, 0, []byte(`{"x":1,"y":2}`), result{Err: `not in this format: no known log format matches an object with keys "x", "y"; name the format (--source, or the kind in the ingest URL)`}},
		{"forced kind", "kv", 0, []byte(`{"x":1}`), result{Err: `not in this format: not kv: no "k" key`}},
		{"not JSON", Auto, 0, []byte(`{"k": nope}`), result{Err: "input is not valid JSON: invalid JSON at byte 6: invalid literal, want null"}},
		{"invalid UTF-8 line", Auto, 0, []byte("{\"k\":\"\xff\"}\n{\"k\":\"b\"}"), result{
			Actions: []string{"b"},
			Errors:  []string{"line 1: invalid JSON at byte 5: invalid UTF-8 in string"},
		}},
		{"document too large", Auto, 16, []byte("{\n\"k\": \"aaaaaaaaaaaaaaaaaaaaaaaaa\"}"), result{Err: "input is larger than the 0 MiB document limit"}},
		{"line too long", Auto, 16, []byte("{\"k\":\"a\"}\n{\"k\":\"bbbbbbbbbbbbbbbbbbbbbb\"}\n{\"k\":\"c\"}"), result{
			Actions: []string{"a", "c"},
			Errors:  []string{"line 2: line is longer than the 0 MiB limit"},
		}},
		{"text", Auto, 0, []byte("START one\n\nBAD two\nEND three"), result{
			Actions: []string{"START one", "END three"},
			Errors:  []string{"line 3: not in this format: not text: line starts with BAD"},
		}},
		{"text for a JSON kind", "kv", 0, []byte("START"), result{Err: "input is plain text, not JSON, and --source kv does not read text logs"}},
		{"unknown text", Auto, 0, []byte("# A README\nSTART one"), result{Err: `input is plain text that no known log format matches ("# A README"); name the format (--source, or the kind in the ingest URL)`}},
		{"text with forced kind", "text", 0, []byte("# A README\nSTART one"), result{Actions: []string{"# A README", "START one"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, run(t, c.kind, c.max, c.in)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestUnknownKind(t *testing.T) {
	_, err := NewRegistry(kv).NewReader(Options{Kind: "nope"})
	if err == nil || !strings.Contains(err.Error(), "use one of auto, kv") {
		t.Errorf("error = %v", err)
	}
}

func TestStop(t *testing.T) {
	rd, _ := NewRegistry(kv).NewReader(Options{})
	var c source.Collect
	in := strings.Repeat(`{"k":"a"}`+"\n", 10)
	if err := rd.Read(strings.NewReader(in), &c, func() bool { return len(c.Events) >= 3 }); err != nil {
		t.Fatal(err)
	}
	if len(c.Events) != 3 {
		t.Errorf("read %d events after stop at 3", len(c.Events))
	}
}

func TestInputs(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.json", "a.json.gz", "README.md", ".hidden", "sub/c.jsonl", ".git/x"} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, []byte("{}"), 0o600)
	}
	ins, err := Inputs([]string{dir, "-"}, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range ins {
		got = append(got, strings.TrimPrefix(in.Name, dir+string(filepath.Separator)))
	}
	want := []string{"a.json.gz", "b.json", filepath.Join("sub", "c.jsonl"), "-"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inputs (-want +got)\n%s", diff)
	}
	if _, err := Inputs([]string{filepath.Join(dir, "missing")}, nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing path: %v", err)
	}
}
