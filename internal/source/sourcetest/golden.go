package sourcetest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Samples lists the sample files in dir: every file but documentation and
// hidden files. It fails the test when there are none.
func Samples(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".md") || strings.HasPrefix(name, ".") {
			continue
		}
		files = append(files, filepath.Join(dir, name))
	}
	if len(files) == 0 {
		t.Fatalf("no samples in %s", dir)
	}
	return files
}

// Document is one piece of a sample, framed as the decode command frames
// its input.
type Document struct {
	Where string // "" for a whole file, "line N" for JSON Lines and text
	Data  []byte
	Text  bool // a line of a plain-text log, for DecodeText
}

// Documents reads the sample at path, undoes gzip, and splits it: a file
// named .jsonl or .ndjson, or one that holds several JSON values, is JSON
// Lines with a document per non-blank line; any other JSON file is one
// document; a file that is not JSON is a plain-text log whose every line,
// blank ones too, is a Text document.
func Documents(t testing.TB, path string) []Document {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = source.Gunzip(b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	name := strings.TrimSuffix(path, ".gz")
	lines := strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".ndjson")
	if !lines {
		var d jsondoc.Doc
		switch err := d.Parse(b); {
		case err == nil:
			return []Document{{Data: b}}
		case !errors.Is(err, jsondoc.ErrTrailing):
			return textLines(b)
		}
	}
	var docs []Document
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		docs = append(docs, Document{Where: lineWhere(i), Data: line})
	}
	return docs
}

func textLines(b []byte) []Document {
	var docs []Document
	for i, line := range bytes.Split(b, []byte("\n")) {
		docs = append(docs, Document{Where: lineWhere(i), Data: line, Text: true})
	}
	return docs
}

func lineWhere(i int) string { return "line " + strconv.Itoa(i+1) }

// Golden decodes the samples of a format package and compares what its
// decoders give with golden files: testdata/golden/<sample>.jsonl holds,
// for each document of the sample, its events as Event.AppendJSON writes
// them, then its failed records, then its notes, one JSON object a line.
type Golden struct {
	// Decoders are the package's decoders. Exactly one must detect each
	// JSON document of a sample. Plain-text samples go to the first
	// decoder with DecodeText.
	Decoders []source.Decoder
	// Want is what every event must carry.
	Want Want
	// FailKey is the member a failed record's line has:
	// {"<FailKey>":"<where>: <error>"}. "" means "error".
	FailKey string
	// Raw reports whether an event's line holds its raw record. nil
	// means never.
	Raw func(*event.Event) bool
}

// Test decodes every sample in dir and compares the result with
// dir/golden/<sample>.jsonl, in a subtest per sample. With update it
// rewrites the golden files instead.
func (g Golden) Test(t *testing.T, dir string, update bool) {
	for _, path := range Samples(t, dir) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			got := g.Decode(t, path)
			golden := filepath.Join(dir, "golden", name+".jsonl")
			if update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")); diff != "" {
				t.Errorf("%s differs from %s (-want +got):\n%s", path, golden, diff)
			}
		})
	}
}

// Decode decodes every document of the sample at path, checks every event
// against g.Want, and renders the result as the golden file holds it.
func (g Golden) Decode(t testing.TB, path string) []byte {
	t.Helper()
	var out []byte
	for _, doc := range Documents(t, path) {
		c, ok := g.decode(t, path, doc)
		if !ok {
			continue
		}
		for _, e := range c.Events {
			g.Want.Check(t, path, e)
			out = e.AppendJSON(out, g.Raw != nil && g.Raw(e))
			out = append(out, '\n')
		}
		for _, f := range c.Errors {
			out = appendLine(out, g.failKey(), f.Error())
		}
		for _, n := range c.Notes {
			out = appendLine(out, "note", n)
		}
	}
	return out
}

// decode decodes one document with the decoder it is for, and reports
// false after failing the test when it cannot.
func (g Golden) decode(t testing.TB, path string, doc Document) (*source.Collect, bool) {
	t.Helper()
	c := new(source.Collect)
	if doc.Text {
		for _, dec := range g.Decoders {
			if dec.DecodeText == nil {
				continue
			}
			if err := dec.DecodeText(doc.Data, doc.Where, c); err != nil {
				t.Errorf("%s %s: %v", path, doc.Where, err)
				return nil, false
			}
			return c, true
		}
		t.Errorf("%s is not JSON, and no decoder of this package reads text", path)
		return nil, false
	}
	d := new(jsondoc.Doc) // events point into their document
	if err := d.Parse(doc.Data); err != nil {
		t.Errorf("%s %s: %v", path, doc.Where, err)
		return nil, false
	}
	root := d.Root()
	var found []source.Decoder
	for _, dec := range g.Decoders {
		if dec.Detect(root) {
			found = append(found, dec)
		}
	}
	if len(found) != 1 {
		t.Errorf("%s %s: detected by %d decoders of this package, want 1", path, doc.Where, len(found))
		if len(found) == 0 {
			return nil, false
		}
	}
	if err := found[0].Decode(root, doc.Where, c); err != nil {
		t.Errorf("%s %s: %v", path, doc.Where, err)
		return nil, false
	}
	return c, true
}

func (g Golden) failKey() string {
	if g.FailKey == "" {
		return "error"
	}
	return g.FailKey
}

// appendLine appends {"<key>":"<s>"} and a newline.
func appendLine(out []byte, key, s string) []byte {
	out = append(out, `{"`...)
	out = append(out, key...)
	out = append(out, `":`...)
	out = jsondoc.AppendString(out, s)
	return append(out, "}\n"...)
}

// DetectOthers checks that none of decoders detects a JSON document among
// the samples of the other format packages, in ../*/testdata.
func DetectOthers(t *testing.T, decoders []source.Decoder) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join("..", "*", "testdata"))
	for _, dir := range dirs {
		if filepath.Base(filepath.Dir(dir)) == filepath.Base(wd) {
			continue
		}
		for _, path := range Samples(t, dir) {
			for _, doc := range Documents(t, path) {
				var d jsondoc.Doc
				if doc.Text || d.Parse(doc.Data) != nil {
					continue
				}
				for _, dec := range decoders {
					if dec.Detect(d.Root()) {
						t.Errorf("%s detects %s %s", dec.Kind, path, doc.Where)
					}
				}
			}
		}
	}
}
