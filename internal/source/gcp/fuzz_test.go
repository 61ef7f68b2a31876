package gcp

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

func FuzzGCP(f *testing.F) {
	sourcetest.AddDocuments(f, "testdata")
	f.Fuzz(func(t *testing.T, b []byte) { sourcetest.FuzzDecoder(t, Decoder, event.GCP, b) })
}

func FuzzPubSub(f *testing.F) {
	sourcetest.AddDocuments(f, "testdata")
	f.Fuzz(func(t *testing.T, b []byte) {
		sourcetest.FuzzDecoder(t, PubSubDecoder, event.GCP, b)
		var d jsondoc.Doc
		if d.Parse(b) == nil {
			MessageID(d.Root())
		}
	})
}

func FuzzEventarc(f *testing.F) {
	sourcetest.AddDocuments(f, "testdata")
	f.Fuzz(func(t *testing.T, b []byte) { sourcetest.FuzzDecoder(t, EventarcDecoder, event.GCP, b) })
}
