package sourcetest

import (
	"os"
	"runtime"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Count is a Sink that counts what it receives and keeps nothing, so that
// a benchmark measures the decoder alone.
type Count struct{ Events, Fails, Notes int }

// Event implements source.Sink.
func (c *Count) Event(*event.Event) { c.Events++ }

// Fail implements source.Sink.
func (c *Count) Fail(*source.RecordError) { c.Fails++ }

// Note implements source.Sink.
func (c *Count) Note(string) { c.Notes++ }

var _ source.Sink = (*Count)(nil)

// Measure runs fn in b's loop and reports, for n records a run, records/s,
// allocs/record and B/record.
func Measure(b *testing.B, n int, fn func()) {
	b.Helper()
	if n <= 0 {
		b.Fatalf("%d records a run", n)
	}
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		fn()
	}
	runtime.ReadMemStats(&after)
	recs := float64(b.N) * float64(n)
	b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/recs, "allocs/record")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/recs, "B/record")
}

// Benchmark measures parsing data and decoding it with dec, as Measure
// reports it. Every run must give want events and no failed record.
func Benchmark(b *testing.B, dec source.Decoder, data []byte, want int) {
	b.Helper()
	var d jsondoc.Doc
	var sink Count
	b.SetBytes(int64(len(data)))
	Measure(b, want, func() {
		sink = Count{}
		if err := d.Parse(data); err != nil {
			b.Fatal(err)
		}
		if err := dec.Decode(d.Root(), "", &sink); err != nil {
			b.Fatal(err)
		}
	})
	if sink.Events != want || sink.Fails != 0 {
		b.Fatalf("decoded %d events and %d failed records, want %d events", sink.Events, sink.Fails, want)
	}
}

// BenchmarkFile is Benchmark on the sample at path, which must decode
// into events without a failed record. It skips when the file is missing.
func BenchmarkFile(b *testing.B, dec source.Decoder, path string) {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Skip(err)
	}
	var d jsondoc.Doc
	var sink Count
	if err := d.Parse(data); err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	if err := dec.Decode(d.Root(), "", &sink); err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	Benchmark(b, dec, data, sink.Events)
}
