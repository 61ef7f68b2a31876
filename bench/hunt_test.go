package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"runtime"
	"testing"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/hunt"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/rules"
)

const recordsPerFile = 2000

// perRecord reports records/s and allocations per record.
func perRecord(b *testing.B, records int, body func()) {
	b.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		body()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := float64(records) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/record")
}

func builtinRules(b *testing.B) []detect.File {
	b.Helper()
	files, err := detect.ReadFS(rules.FS, ".")
	if err != nil {
		b.Fatal(err)
	}
	return files
}

// matchSink evaluates every decoded event.
type matchSink struct {
	eng     *detect.Engine
	scratch *detect.Scratch
	events  int
	matches int
}

func (s *matchSink) Event(e *event.Event) {
	s.events++
	s.eng.Match(e, s.scratch, func(*detect.Rule) { s.matches++ })
}
func (s *matchSink) Fail(err *source.RecordError) { panic(err) }
func (s *matchSink) Note(string)                  {}

// BenchmarkHunt compares, on one core and the same CloudTrail file,
// unmarshalling into map[string]any with encoding/json against decoding,
// normalizing and evaluating rule sets of different sizes.
func BenchmarkHunt(b *testing.B) {
	data := CloudTrailFile(recordsPerFile, 1)
	b.Run("baseline=encoding-json-map", func(b *testing.B) {
		perRecord(b, recordsPerFile, func() {
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		})
	})
	rd, err := decode.Builtin().NewReader(decode.Options{Kind: "cloudtrail"})
	if err != nil {
		b.Fatal(err)
	}
	sets := []struct {
		name  string
		files func() []detect.File
	}{
		{"rules=0", func() []detect.File { return nil }},
		{"rules=50", func() []detect.File { return Rules(50, 7) }},
		{"rules=500", func() []detect.File { return Rules(500, 7) }},
		{"rules=builtin+500", func() []detect.File { return append(builtinRules(b), Rules(500, 7)...) }},
	}
	for _, rs := range sets {
		b.Run(rs.name, func(b *testing.B) {
			set := detect.Load(rs.files(), detect.Options{})
			if len(set.Failed) > 0 {
				b.Fatal(set.Failed)
			}
			s := &matchSink{eng: set.Engine, scratch: set.Engine.NewScratch()}
			perRecord(b, recordsPerFile, func() {
				if err := rd.Read(bytes.NewReader(data), s, nil); err != nil {
					b.Fatal(err)
				}
			})
			if s.events != recordsPerFile*b.N {
				b.Fatalf("decoded %d events, want %d", s.events, recordsPerFile*b.N)
			}
		})
	}
}

// BenchmarkHuntWorkers measures hunt over 16 delivery files with one and
// with two workers.
func BenchmarkHuntWorkers(b *testing.B) {
	const files = 16
	var inputs []decode.Input
	for i := 0; i < files; i++ {
		data := CloudTrailFile(recordsPerFile, uint64(i+1))
		inputs = append(inputs, decode.Input{Name: "file", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }})
	}
	rd, err := decode.Builtin().NewReader(decode.Options{})
	if err != nil {
		b.Fatal(err)
	}
	set := detect.Load(append(builtinRules(b), Rules(500, 7)...), detect.Options{})
	for _, workers := range []int{1, 2} {
		b.Run("workers="+string(rune('0'+workers)), func(b *testing.B) {
			perRecord(b, files*recordsPerFile, func() {
				st := hunt.Run(context.Background(), inputs, hunt.Options{Reader: rd, Engine: set.Engine, Workers: workers},
					func(hunt.Match) {}, func(e hunt.InputError) { b.Error(e.Err) })
				if st.Events != files*recordsPerFile {
					b.Fatalf("hunted %d events", st.Events)
				}
			})
		})
	}
}
