package azure

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// addSeeds adds every document of every sample as a seed.
func addSeeds(f *testing.F) {
	for _, path := range sampleFiles(f, "testdata") {
		docs, _ := documents(f, path)
		for _, b := range docs {
			f.Add(b)
		}
	}
}

// fuzzDecoder checks that dec never panics and that every event it emits
// is an Azure event with a source, whether or not Detect claims the input.
func fuzzDecoder(t *testing.T, dec source.Decoder, b []byte) {
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
	for _, e := range c.Events {
		if e.Cloud != event.Azure || e.Source == "" || e.ID == "" || e.Time.IsZero() {
			t.Fatalf("incomplete event %s", e.AppendJSON(nil, false))
		}
		e.AppendJSON(nil, true)
	}
}

func FuzzAzure(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzDecoder(t, Decoder, b) })
}

func FuzzEventGrid(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecoder(t, EventGridDecoder, b)
		var d jsondoc.Doc
		if d.Parse(b) == nil {
			ValidationCode(d.Root())
		}
	})
}
