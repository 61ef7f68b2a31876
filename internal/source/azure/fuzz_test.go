package azure

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

func FuzzAzure(f *testing.F) {
	sourcetest.AddDocuments(f, "testdata")
	f.Fuzz(func(t *testing.T, b []byte) { sourcetest.FuzzDecoder(t, Decoder, event.Azure, b) })
}

func FuzzEventGrid(f *testing.F) {
	sourcetest.AddDocuments(f, "testdata")
	f.Fuzz(func(t *testing.T, b []byte) {
		sourcetest.FuzzDecoder(t, EventGridDecoder, event.Azure, b)
		var d jsondoc.Doc
		if d.Parse(b) == nil {
			ValidationCode(d.Root())
		}
	})
}
