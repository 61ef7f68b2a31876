package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/store"
)

const stopRule = `title: Trail stopped
id: 4a3e1f0b-9c1d-4e7a-8b2c-5d6e7f8a9b0c
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventName: StopLogging
  condition: sel
`

func records(from, n int) []byte {
	b := []byte(`{"Records":[`)
	for i := from; i < from+n; i++ {
		if i > from {
			b = append(b, ',')
		}
		name := "DescribeTrails"
		if i%5 == 0 {
			name = "StopLogging"
		}
		b = fmt.Appendf(b, `{"eventVersion":"1.09","eventTime":"2026-11-20T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u%d"},"eventID":"id-%d","recipientAccountId":"111122223333"}`, name, i, i)
	}
	return append(b, "]}"...)
}

type env struct {
	bus *bus.Bus
	db  *store.DB
	in  *Ingester
	det *Detector
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{Dir: filepath.Join(dir, "bus")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	db, err := store.Open(ctx, filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	set := detect.Load([]detect.File{{Name: "stop.yml", Data: []byte(stopRule)}}, detect.Options{})
	return &env{bus: b, db: db, in: NewIngester(decode.Builtin(), b, 1<<30, IngestMetrics{}),
		det: NewDetector(b, db, set.Engine, DetectorOptions{DedupWindow: time.Hour})}
}

func (e *env) drain(t testing.TB, want int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.det.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := e.db.Stats(context.Background(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if st.Events >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %d of %d events", st.Events, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestIngestDetectStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res, err := e.in.Ingest(ctx, "cloudtrail", records(0, 100))
	if err != nil || res.Accepted != 100 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	res, _ = e.in.Ingest(ctx, "auto", records(50, 100))
	if res.Accepted != 50 || res.Duplicates != 50 {
		t.Errorf("overlapping batch: %+v", res)
	}
	e.drain(t, 150)
	alerts, _, err := e.db.ListAlerts(ctx, store.AlertFilter{Limit: 1000})
	if err != nil || len(alerts) != 30 {
		t.Errorf("%d alerts (%v), want 30: one per StopLogging principal", len(alerts), err)
	}
}

func BenchmarkDetect(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	const perBatch = 500
	total := 0
	for i := 0; i < 20; i++ {
		if _, err := e.in.Ingest(ctx, "cloudtrail", records(i*perBatch, perBatch)); err != nil {
			b.Fatal(err)
		}
		total += perBatch
	}
	b.ResetTimer()
	start := time.Now()
	e.drain(b, int64(total))
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
}
