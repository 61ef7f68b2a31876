package gcp

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

var update = sourcetest.Update()

// decoders are the decoders of this package, in the order auto-detection
// would try them.
var decoders = []source.Decoder{Decoder, PubSubDecoder, EventarcDecoder}

// want is what every Google Cloud event carries.
var want = sourcetest.Want{Cloud: event.GCP, Time: true, Action: true, Raw: true}

// TestGolden decodes every sample in testdata and compares the result with
// testdata/golden/<sample>.jsonl.
func TestGolden(t *testing.T) {
	g := sourcetest.Golden{Decoders: decoders, Want: want, FailKey: "fail"}
	g.Test(t, "testdata", *update)
}

// TestDetectOtherFormats checks that this package claims none of the
// samples of the other source packages.
func TestDetectOtherFormats(t *testing.T) {
	sourcetest.DetectOthers(t, decoders)
}
