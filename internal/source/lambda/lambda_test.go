package lambda

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

var update = sourcetest.Update()

// TestGolden decodes every sample as the decode command does, JSON or
// text lines, and compares the result with testdata/golden/<sample>.jsonl.
func TestGolden(t *testing.T) {
	g := sourcetest.Golden{
		Decoders: []source.Decoder{Decoder},
		Want:     sourcetest.Want{Cloud: event.AWS, Sources: []string{event.SourceLambda}, Action: true, Raw: true},
		Raw:      func(*event.Event) bool { return true },
	}
	g.Test(t, "testdata", *update)
}
