package cloudwatch

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Run with:
//
//	go test -run='^$' -bench=. -cpu 1 ./internal/source/cloudwatch/

const benchEvents = 1000

type countSink struct{ events, fails int }

func (s *countSink) Event(*event.Event)       { s.events++ }
func (s *countSink) Fail(*source.RecordError) { s.fails++ }
func (s *countSink) Note(string)              {}

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
	data := lambdaPayload(b, benchEvents)
	var d jsondoc.Doc
	var sink countSink
	b.SetBytes(int64(len(data)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		sink = countSink{}
		if err := d.Parse(data); err != nil {
			b.Fatal(err)
		}
		if err := Decode(d.Root(), "", &sink); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if sink.events != benchEvents {
		b.Fatalf("%d events, %d failures", sink.events, sink.fails)
	}
	recs := float64(b.N) * benchEvents
	b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/recs, "allocs/record")
}
