package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// markerPrefix starts the IAM user names of the notification markers.
const markerPrefix = "arn:aws:iam::111122223333:user/bench-notify-"

// TestServeNotifyLatency measures the time from ingest to a notification
// arriving at a webhook: vigil serve runs with one webhook receiver on
// 127.0.0.1 (signed payloads, group_by [rule, principal], group_wait 0s)
// under a steady background load of VIGIL_BENCH_RATE (5000) events/s
// posted as files of 100 records every 20 ms. Every 100 ms a marker, a
// CloudTrail StopLogging record by a principal of its own, is posted
// alone; its latency runs from just before the marker's POST to the
// webhook request about its alert arriving. VIGIL_BENCH_MARKERS (300)
// markers are sent.
func TestServeNotifyLatency(t *testing.T) {
	requireServe(t)
	rate := envInt(t, "VIGIL_BENCH_RATE", 5000)
	markers := envInt(t, "VIGIL_BENCH_MARKERS", 300)
	const (
		batch       = 100
		markerEvery = 100 * time.Millisecond
		warm        = 3 * time.Second
		senders     = 8
	)
	interval := time.Duration(batch) * time.Second / time.Duration(rate)

	// The receiver: the first arrival of each marker's alert.
	var (
		mu      sync.Mutex
		arrived = map[string]time.Time{}
		others  atomic.Int64 // alerts of the background load in notifications
		hookReq atomic.Int64
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		hookReq.Add(1)
		var p struct {
			Alerts []struct {
				Principal string `json:"principal"`
			} `json:"alerts"`
		}
		err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, a := range p.Alerts {
			if !strings.HasPrefix(a.Principal, markerPrefix) {
				others.Add(1)
				continue
			}
			if _, seen := arrived[a.Principal]; !seen {
				arrived[a.Principal] = at
			}
		}
		mu.Unlock()
	}))
	defer hook.Close()

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "webhook.secret")
	if err := os.WriteFile(keyFile, []byte("bench-signing-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "vigil.yaml")
	cfg := fmt.Sprintf(`notify:
  allow_private_targets: ["127.0.0.0/8"]
  receivers:
    - name: bench-webhook
      webhook: {url: %q, secret_file: %q}
  route:
    receiver: bench-webhook
    group_by: [rule, principal]
    group_wait: 0s
`, hook.URL+"/vigil", keyFile)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--config", cfgPath)
	stream := NewCloudTrailStream(batch, 16, 2)
	rss := sampleRSS(s.pid, 200*time.Millisecond)
	t.Logf("machine: %s", machine())
	t.Logf("load: %d events/s as files of %d records every %s; %d markers, one every %s; webhook on 127.0.0.1, group_wait 0s",
		rate, batch, interval, markers, markerEvery)

	load := startPacedLoad(s, stream, senders, batch, interval)
	defer load.stop()

	time.Sleep(warm)
	m0 := s.metrics(t)
	cpu := startCPU(s.pid)
	acked0 := load.acked.Load()
	rss.phase()
	nonce := time.Now().UnixNano() % 1e6
	var (
		lat      = make([]time.Duration, markers)
		merrs    firstError
		markerWG sync.WaitGroup
		mStart   = time.Now()
	)
	for m := range markers {
		time.Sleep(time.Until(mStart.Add(time.Duration(m) * markerEvery)))
		markerWG.Go(func() {
			user := fmt.Sprintf("bench-notify-%06d-%04d", nonce, m)
			principal := "arn:aws:iam::111122223333:user/" + user
			body := append([]byte(`{"Records":[`), StopLoggingRecord(user, uint64(m), time.Now())...)
			body = append(body, "]}"...)
			t0 := time.Now()
			a, _, err := s.postFile(body, t0.Add(10*time.Second), &load.busy)
			if err == nil && a.Accepted != 1 {
				err = fmt.Errorf("marker %d: accepted %d", m, a.Accepted)
			}
			if err != nil {
				merrs.set(err)
				return
			}
			for {
				mu.Lock()
				at, ok := arrived[principal]
				mu.Unlock()
				if ok {
					lat[m] = at.Sub(t0)
					return
				}
				if time.Since(t0) > 30*time.Second {
					merrs.set(fmt.Errorf("marker %d: no notification after 30 s", m))
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	markerWG.Wait()
	mDur := time.Since(mStart)
	m1 := s.metrics(t)
	cpuWindow := cpu.String()
	achieved := float64(load.acked.Load()-acked0) / mDur.Seconds()
	rssPeak := rss.phase()
	load.stop()
	rssMax, samples := rss.finish()
	if err := merrs.get(); err != nil {
		t.Fatalf("%d markers failed, first: %v\n%s", merrs.n.Load(), err, s.logTail())
	}
	if err := load.errs.get(); err != nil {
		t.Fatalf("background load failed (%d errors), first: %v", load.errs.n.Load(), err)
	}
	h := histogramDelta(m0, m1, `vigil_notification_delivery_seconds`)
	t.Logf("RESULT notify latency POST→webhook request received, %d markers at %.0f events/s background: %s; target p99 < 200 ms",
		markers, achieved, dist(lat))
	t.Logf("  webhook requests: %d (alerts of the background load in them: %d); background files skipped: %d; 503 busy: %d; notifications failed: %.0f, retried: %.0f",
		hookReq.Load(), others.Load(), load.skipped.Load(), load.busy.Load(),
		m1.sum("vigil_notifications_failed_total")-m0.sum("vigil_notifications_failed_total"),
		m1.sum("vigil_notification_retries_total")-m0.sum("vigil_notification_retries_total"))
	if h.count > 0 {
		t.Logf("  server's vigil_notification_delivery_seconds (queued to accepted) over the window (%.0f notifications): p50 %.1f ms  p99 %.1f ms  mean %.1f ms",
			h.count, 1000*h.quantile(.5), 1000*h.quantile(.99), 1000*h.sum/h.count)
	}
	t.Logf("  %s", cpuWindow)
	t.Logf("RESULT notify latency RSS: max %.0f MiB during the markers, max %.0f MiB over the run (%d samples every 200 ms)", rssPeak, rssMax, samples)
}
