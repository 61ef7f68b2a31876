package sourcetest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// AddDocuments adds every document of every sample in dir, framed as
// Documents frames it, as a seed.
func AddDocuments(f *testing.F, dir string) {
	for _, path := range Samples(f, dir) {
		for _, doc := range Documents(f, path) {
			f.Add(doc.Data)
		}
	}
}

// AddFiles adds every file that matches pattern, gzip undone, as a seed,
// and returns their contents for seeds the caller derives from them. A
// file that cannot be read or gunzipped is left out.
func AddFiles(f *testing.F, pattern string) [][]byte {
	files, _ := filepath.Glob(pattern)
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		if b, err = source.Gunzip(b); err != nil {
			continue
		}
		f.Add(b)
		out = append(out, b)
	}
	return out
}

// FuzzDecoder is the body of a fuzz target for dec. It parses b with the
// depth bound decoding uses, runs Detect and Decode whether or not Detect
// claims the document, and checks that Decode emitted nothing when it says
// the document is not its format, that it takes every document Detect
// claims, and that its events pass CheckEvents and name cloud.
func FuzzDecoder(t *testing.T, dec source.Decoder, cloud string, b []byte) {
	t.Helper()
	var d jsondoc.Doc
	d.SetLimits(jsondoc.Limits{MaxDepth: source.MaxDepth})
	if d.Parse(b) != nil {
		return
	}
	root := d.Root()
	detected := dec.Detect(root)
	var c source.Collect
	err := dec.Decode(root, "fuzz", &c)
	if err != nil && len(c.Events)+len(c.Errors)+len(c.Notes) > 0 {
		t.Fatalf("Decode returned %v after emitting", err)
	}
	if detected && err != nil {
		t.Fatalf("Detect claimed the input but Decode says %v", err)
	}
	CheckEvents(t, c.Events)
	for _, e := range c.Events {
		if e.Cloud != cloud {
			t.Fatalf("event of cloud %q, want %q: %s", e.Cloud, cloud, e.AppendJSON(nil, false))
		}
	}
}

// CheckEvents fails the test unless every event has a cloud, a source, an
// ID and a time, and renders as valid JSON with and without its raw record.
func CheckEvents(t testing.TB, events []*event.Event) {
	t.Helper()
	for _, e := range events {
		if err := incomplete(e); err != nil {
			t.Fatalf("%v: %s", err, e.AppendJSON(nil, false))
		}
	}
}

func incomplete(e *event.Event) error {
	switch {
	case e.Cloud == "":
		return errors.New("event without a cloud")
	case e.Source == "":
		return errors.New("event without a source")
	case e.ID == "":
		return errors.New("event without an ID")
	case e.Time.IsZero():
		return errors.New("event without a time")
	case !json.Valid(e.AppendJSON(nil, false)):
		return errors.New("event renders as invalid JSON")
	case !json.Valid(e.AppendJSON(nil, true)):
		return errors.New("event with its raw record renders as invalid JSON")
	}
	return nil
}
