package cloudtrail

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

// Run with:
//
//	go test -run='^$' -bench=. -cpu 1 -benchtime=3s ./internal/source/cloudtrail/

const benchRecords = 1000

// templateRecords returns every decodable record in the samples, as maps.
func templateRecords(tb testing.TB) []map[string]any {
	tb.Helper()
	files, _ := filepath.Glob("testdata/*.json*")
	var out []map[string]any
	add := func(v any) {
		if m, ok := v.(map[string]any); ok {
			if _, ok := m["eventName"].(string); ok {
				if _, ok := m["eventTime"].(string); ok {
					out = append(out, m)
				}
			}
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if b, err = source.Gunzip(b); err != nil {
			tb.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		for {
			var v any
			if dec.Decode(&v) != nil {
				break
			}
			switch v := v.(type) {
			case []any:
				for _, r := range v {
					add(r)
				}
			case map[string]any:
				if rs, ok := v["Records"].([]any); ok {
					for _, r := range rs {
						add(r)
					}
				} else if evs, ok := v["Events"].([]any); ok {
					for _, e := range evs {
						if s, ok := e.(map[string]any)["CloudTrailEvent"].(string); ok {
							var r any
							if json.Unmarshal([]byte(s), &r) == nil {
								add(r)
							}
						}
					}
				} else if d, ok := v["detail"]; ok {
					add(d)
				} else {
					add(v)
				}
			}
		}
	}
	if len(out) == 0 {
		tb.Fatal("no CloudTrail records in testdata")
	}
	return out
}

// deliveryFile builds an S3 delivery file of n records drawn from the
// samples, each with its own eventID, eventTime, request ID, source address
// and caller, as a trail of a busy account would hold.
func deliveryFile(tb testing.TB, n int) []byte {
	tb.Helper()
	tmpl := templateRecords(tb)
	base := time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)
	records := make([]any, n)
	for i := range records {
		src := tmpl[i%len(tmpl)]
		raw, _ := json.Marshal(src)
		var r map[string]any
		_ = json.Unmarshal(raw, &r) // deep copy
		r["eventID"] = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i*2654435761, i%65536, i%4096, (i*7)%4096, i*40503)
		r["requestID"] = fmt.Sprintf("%08X%08X", i*97, i*31)
		r["eventTime"] = base.Add(time.Duration(i) * 1370 * time.Millisecond).Format(time.RFC3339)
		if ip, ok := r["sourceIPAddress"].(string); ok && strings.Count(ip, ".") == 3 {
			r["sourceIPAddress"] = fmt.Sprintf("%d.%d.%d.%d", 198, 51, 100+i%3, i%250+1)
		}
		if ui, ok := r["userIdentity"].(map[string]any); ok {
			if arn, ok := ui["arn"].(string); ok && strings.Contains(arn, "assumed-role") {
				ui["arn"] = fmt.Sprintf("%s-%d", arn, i%17)
				ui["principalId"] = fmt.Sprintf("AROAEXAMPLE%09d:session-%d", i%17, i%17)
			}
		}
		records[i] = r
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{"Records": records}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkDecode parses a delivery file with jsondoc and decodes and
// normalizes every record.
func BenchmarkDecode(b *testing.B) {
	sourcetest.Benchmark(b, Decoder, deliveryFile(b, benchRecords), benchRecords)
}

// BenchmarkEncodingJSONMap is the baseline: encoding/json into
// map[string]any, with no normalization at all.
func BenchmarkEncodingJSONMap(b *testing.B) {
	data := deliveryFile(b, benchRecords)
	b.SetBytes(int64(len(data)))
	sourcetest.Measure(b, benchRecords, func() {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
	})
}
