package cloudwatch

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

// Run with:
//
//	go test -run='^$' -bench=. -cpu 1 ./internal/source/cloudwatch/

const benchEvents = 1000

// lambdaPayload builds a DATA_MESSAGE of a Lambda log group with n log
// events drawn from the sample payload.
func lambdaPayload(b *testing.B, n int) []byte {
	raw, err := os.ReadFile("testdata/data-message.json")
	if err != nil {
		b.Skip("sample data-message.json not present")
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		b.Fatal(err)
	}
	tmpl := p["logEvents"].([]any)
	evs := make([]any, n)
	for i := range evs {
		e := tmpl[i%len(tmpl)].(map[string]any)
		evs[i] = map[string]any{"id": fmt.Sprintf("3715679%049d", i), "timestamp": 1715679000000 + int64(i)*7, "message": e["message"]}
	}
	p["logEvents"] = evs
	out, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func BenchmarkDecodeLambdaPayload(b *testing.B) {
	sourcetest.Benchmark(b, Decoder, lambdaPayload(b, benchEvents), benchEvents)
}
