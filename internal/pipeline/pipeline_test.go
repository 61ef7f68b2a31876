package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/source"
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
	return &env{bus: b, db: db, in: NewIngester(decode.Builtin(), b, IngestMetrics{}),
		det: NewDetector(b, db, set, DetectorOptions{DedupWindow: time.Hour})}
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
	// The same body again is one duplicate bus message.
	res, _ = e.in.Ingest(ctx, "cloudtrail", records(0, 100))
	if res.Accepted != 0 || res.Duplicates != 100 {
		t.Errorf("the same batch again: %+v", res)
	}
	// An overlapping body is other messages: the bus takes them, and the
	// store keeps each event once.
	res, _ = e.in.Ingest(ctx, "auto", records(50, 100))
	if res.Accepted != 100 || res.Duplicates != 0 {
		t.Errorf("overlapping batch: %+v", res)
	}
	e.drain(t, 150)
	st, err := e.db.Stats(ctx, time.Now())
	if err != nil || st.Events != 150 {
		t.Errorf("stored %d events (%v), want 150", st.Events, err)
	}
	alerts, _, err := e.db.ListAlerts(ctx, store.AlertFilter{Limit: 1000})
	if err != nil || len(alerts) != 30 {
		t.Errorf("%d alerts (%v), want 30: one per StopLogging principal", len(alerts), err)
	}
	for _, a := range alerts {
		if a.Count != 1 {
			t.Errorf("alert %s counted %d times, want once: a replayed event raised it again", a.Principal, a.Count)
		}
	}
}

// TestIngestBatchesMessages checks how events are packed into bus
// messages: per source, at most maxMessageEvents per message, the same
// body always giving the same message IDs.
func TestIngestBatchesMessages(t *testing.T) {
	ctx := context.Background()
	fb := &fakeBus{}
	in := NewIngester(decode.Builtin(), fb, IngestMetrics{})
	res, err := in.Ingest(ctx, "cloudtrail", records(0, 1200))
	if err != nil || res.Accepted != 1200 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	var sizes []int
	seen := map[string]bool{}
	for _, m := range fb.msgs {
		evs, _, err := ParseMessage(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(evs))
		for _, p := range evs {
			if seen[p.Event.ID] {
				t.Errorf("event %s published twice", p.Event.ID)
			}
			seen[p.Event.ID] = true
			if !bytes.HasPrefix(p.Body, []byte(`{"time":`)) || !bytes.Contains(p.Body, []byte(`"raw":{`)) {
				t.Errorf("event body %.80s... is not the stored event JSON", p.Body)
			}
		}
	}
	if diff := cmp.Diff([]int{500, 500, 200}, sizes); diff != "" {
		t.Errorf("events per message (-want +got):\n%s", diff)
	}
	first := fb.msgs
	fb.msgs = nil
	if _, err := in.Ingest(ctx, "cloudtrail", records(0, 1200)); err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if first[i].ID != fb.msgs[i].ID {
			t.Errorf("message %d: ID %s, then %s for the same body", i, first[i].ID, fb.msgs[i].ID)
		}
	}
	fb.msgs = nil
	if _, err := in.Ingest(ctx, "cloudtrail", records(1, 1200)); err != nil {
		t.Fatal(err)
	}
	if fb.msgs[0].ID == first[0].ID {
		t.Error("different events gave the same message ID")
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

// fakeBus records what ingest publishes.
type fakeBus struct {
	msgs []bus.Msg
	full bool
}

func (f *fakeBus) Publish(_ context.Context, msgs []bus.Msg) (int, error) {
	f.msgs = append(f.msgs, msgs...)
	return 0, nil
}

func (f *fakeBus) MaxPayload() int64 { return 1 << 20 }

func (f *fakeBus) Full() bool { return f.full }

func TestIngestRefusals(t *testing.T) {
	fb := &fakeBus{}
	in := NewIngester(decode.Builtin(), fb, IngestMetrics{})
	ctx := context.Background()
	// JSON Lines of which no line is any known format: the body as a
	// whole is not the format.
	if _, err := in.Ingest(ctx, "auto", []byte("{\"a\":1}\n{\"b\":2}\n")); !errors.Is(err, source.ErrNotFormat) {
		t.Errorf("unknown JSON Lines: %v", err)
	}
	// One event over the bus's message limit is a rejected record; the
	// others go through.
	big := strings.Repeat("x", 2<<20)
	body := `{"Records":[` + string(records(0, 1))[12:len(records(0, 1))-2] + `,{"eventVersion":"1.09","eventTime":"2026-11-20T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","awsRegion":"us-east-1","eventID":"big","requestParameters":{"x":"` + big + `"}}]}`
	res, err := in.Ingest(ctx, "cloudtrail", []byte(body))
	if err != nil || res.Accepted != 1 || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error, "message limit") {
		t.Errorf("oversize event: %+v %v", res, err)
	}
	if len(fb.msgs) != 1 {
		t.Errorf("published %d messages", len(fb.msgs))
	}
	// A full bus refuses before decoding: busy, and nothing published.
	fb.full = true
	if _, err := in.Ingest(ctx, "cloudtrail", records(0, 3)); !errors.Is(err, ErrBusy) || !errors.Is(err, bus.ErrFull) {
		t.Errorf("ingest into a full bus: %v, want ErrBusy wrapping bus.ErrFull", err)
	}
	if len(fb.msgs) != 1 {
		t.Errorf("a full bus got %d more messages", len(fb.msgs)-1)
	}
}

func TestIngestExpansionBudget(t *testing.T) {
	in := NewIngester(decode.Builtin(), &fakeBus{}, IngestMetrics{})
	// A Firehose body of gzipped records: small on the wire, about 100 MiB
	// of events decoded.
	var body strings.Builder
	body.WriteString(`{"requestId":"r","timestamp":1795167000000,"records":[`)
	for r := 0; r < 20; r++ {
		var payload bytes.Buffer
		zw := gzip.NewWriter(&payload)
		zw.Write([]byte(`{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"/aws/app","logStream":"s","subscriptionFilters":["f"],"logEvents":[`))
		for i := 0; i < 4000; i++ {
			if i > 0 {
				zw.Write([]byte(","))
			}
			fmt.Fprintf(zw, `{"id":"%d-%d","timestamp":1795167000000,"message":"%s"}`, r, i, strings.Repeat("a", 1000))
		}
		zw.Write([]byte("]}"))
		zw.Close()
		if r > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"data":"` + base64.StdEncoding.EncodeToString(payload.Bytes()) + `"}`)
	}
	body.WriteString(`]}`)
	_, err := in.Ingest(context.Background(), "firehose", []byte(body.String()))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("a %d KiB body that decodes to hundreds of MiB: %v", body.Len()>>10, err)
	}
}

// FuzzIngest drives the real ingest path — framing, every decoder, message
// building, the size limits — with arbitrary bodies.
func FuzzIngest(f *testing.F) {
	f.Add("auto", records(0, 3))
	f.Add("cloudtrail", []byte(`{"Records":{}}`))
	f.Add("firehose", []byte(`{"requestId":"r","records":[{"data":"!!"}]}`))
	f.Add("pubsub", []byte(`{"message":{"data":"e30="}}`))
	f.Add("lambda", []byte("START RequestId: 1 Version: $LATEST\n"))
	kinds := decode.Builtin().Kinds()
	f.Fuzz(func(t *testing.T, kind string, body []byte) {
		if !slices.Contains(kinds, kind) {
			kind = "auto"
		}
		fb := &fakeBus{}
		res, err := NewIngester(decode.Builtin(), fb, IngestMetrics{}).Ingest(context.Background(), kind, body)
		if err != nil {
			if len(fb.msgs) > 0 {
				t.Fatalf("an ingest error (%v) published %d messages", err, len(fb.msgs))
			}
			return
		}
		published := 0
		for _, m := range fb.msgs {
			evs, _, err := ParseMessage(m.Data)
			if err != nil {
				t.Fatalf("published an unreadable message: %v", err)
			}
			published += len(evs)
		}
		if res.Accepted != published {
			t.Fatalf("accepted %d but published %d", res.Accepted, published)
		}
	})
}

// BenchmarkIngestAllocs reports what ingest allocates per byte of a
// CloudTrail body (decoding and building bus messages, the bus left out),
// which api's inflightFactor budgets for.
func BenchmarkIngestAllocs(b *testing.B) {
	body := records(0, 2000)
	in := NewIngester(decode.Builtin(), &fakeBus{}, IngestMetrics{})
	ctx := context.Background()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for b.Loop() {
		in.bus = &fakeBus{}
		if _, err := in.Ingest(ctx, "cloudtrail", body); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(b.N*len(body)), "alloc-B/body-B")
}

// TestBuildingBlockRulesDoNotAlert checks that a rule a correlation refers
// to (without generate) raises no alert of its own, and that SetRules
// swaps that behaviour in.
func TestBuildingBlockRulesDoNotAlert(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	corr := `title: Trail stopped often
id: 0f3c2a1b-7d6e-4f5a-9b8c-1d2e3f4a5b6c
level: critical
correlation:
  type: event_count
  rules: [4a3e1f0b-9c1d-4e7a-8b2c-5d6e7f8a9b0c]
  group-by: [userIdentity.arn]
  timespan: 1h
  condition: {gte: 1000}
`
	set := detect.Load([]detect.File{{Name: "stop.yml", Data: []byte(stopRule)}, {Name: "corr.yml", Data: []byte(corr)}}, detect.Options{})
	if len(set.Failed) > 0 {
		t.Fatalf("rules failed: %v", set.Failed)
	}
	e.det.SetRules(set)
	if _, err := e.in.Ingest(ctx, "cloudtrail", records(0, 100)); err != nil {
		t.Fatal(err)
	}
	e.drain(t, 100)
	alerts, _, err := e.db.ListAlerts(ctx, store.AlertFilter{Limit: 1000})
	if err != nil || len(alerts) != 0 {
		t.Errorf("%d alerts (%v), want none: the rule only feeds a correlation", len(alerts), err)
	}
}
