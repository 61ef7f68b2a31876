package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// BenchmarkAddEvents measures how fast detection can store events: batches
// of CloudTrail-sized events (about 1.4 KiB of JSON each, random UUID
// IDs) per transaction, into a database that already holds prefill events.
// It reports events/s.
func BenchmarkAddEvents(b *testing.B) {
	for _, c := range []struct{ prefill, batch int }{{0, 500}, {200_000, 500}, {200_000, 2000}} {
		prefill, size := c.prefill, c.batch
		b.Run(fmt.Sprintf("prefill=%d/batch=%d", prefill, size), func(b *testing.B) {
			ctx := context.Background()
			db, err := Open(ctx, filepath.Join(b.TempDir(), "vigil.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			r := rand.New(rand.NewPCG(1, 2))
			pad := strings.Repeat("x", 1100)
			batch := func() {
				tx, err := db.Begin(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for range size {
					e := &event.Event{ID: fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff),
						Time: time.Now(), Cloud: "aws", Source: event.SourceCloudTrail, Account: "111122223333",
						Action: fmt.Sprintf("Action%d", r.IntN(60)), Principal: fmt.Sprintf("arn:aws:sts::111122223333:assumed-role/role-%d/session", r.IntN(500)),
						SourceIP: fmt.Sprintf("203.0.%d.%d", r.IntN(256), r.IntN(256)), Function: fmt.Sprintf("fn-%d", r.IntN(40))}
					body := append(e.AppendJSON(nil, false), pad...)
					if _, err := tx.AddEvent(ctx, e, body); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			for range prefill / size {
				batch()
			}
			w0 := bytesWritten(b)
			b.ResetTimer()
			for b.Loop() {
				batch()
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
			// Bytes written per event do not depend on the machine's load.
			if w0 >= 0 {
				b.ReportMetric(float64(bytesWritten(b)-w0)/float64(b.N*size), "written-B/event")
			}
		})
	}
}

// bytesWritten returns the bytes this process has passed to write(2) and
// pwrite(2) so far (wchar in /proc/self/io), or -1 where there is no such
// file.
func bytesWritten(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	return -1
}
