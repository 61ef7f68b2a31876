package bench

// End-to-end benchmarks of vigil serve: the real binary, built from
// ./cmd/vigil, runs as a subprocess on 127.0.0.1 with a fresh data
// directory and its defaults, and the benchmarks talk to it over HTTP as
// log shippers, responders and the CLI do. They print figures and assert
// only correctness, never speed. Run them with VIGIL_BENCH_SERVE=1; see
// README.md.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const ingestPath = "/api/v1/ingest/cloudtrail"

// postFile posts one delivery file until it is acknowledged, retrying
// while the server answers 503 (busy) after the Retry-After it gives, as a
// shipper would. It gives up at deadline. busy counts the 503s. A 503 may
// come after part of the file was stored, so after a retry some records
// are duplicates.
func (s *serveProc) postFile(body []byte, deadline time.Time, busy *atomic.Int64) (a ingestAck, retried bool, err error) {
	for ; ; retried = true {
		code, resp, hdr, err := s.doHeader(context.Background(), "POST", ingestPath, body)
		if err != nil {
			return ingestAck{}, retried, err
		}
		switch code {
		case http.StatusAccepted:
			a, err := decodeAck(resp)
			if err == nil && len(a.Rejected) > 0 {
				err = fmt.Errorf("%d records rejected, first: %s", len(a.Rejected), a.Rejected[0].Error)
			}
			return a, retried, err
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			busy.Add(1)
			wait := 100 * time.Millisecond
			if n, err := strconv.Atoi(hdr.Get("Retry-After")); err == nil && n >= 0 {
				wait = min(time.Duration(n)*time.Second, 5*time.Second)
			}
			if time.Now().Add(wait).After(deadline) {
				return ingestAck{}, retried, fmt.Errorf("still busy at the deadline: %d %.300s", code, resp)
			}
			time.Sleep(wait)
		default:
			return ingestAck{}, retried, fmt.Errorf("POST %s: %d %.300s", ingestPath, code, resp)
		}
	}
}

// firstError keeps the first of the errors goroutines report.
type firstError struct {
	mu  sync.Mutex
	err error
	n   atomic.Int64
}

func (f *firstError) set(err error) {
	f.n.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// TestServeIngest measures sustained ingest: clients post S3 delivery files
// of 500 CloudTrail records, each acknowledged (202) only once the bus
// stored it, as fast as the server takes them, for VIGIL_BENCH_DURATION
// (20s) after a 3 s warm-up. It then waits for detection to store every
// acknowledged event.
func TestServeIngest(t *testing.T) {
	requireServe(t)
	runIngest(t, startServe(t))
}

func runIngest(t *testing.T, s *serveProc) {
	const batch = 500
	dur := envDuration(t, "VIGIL_BENCH_DURATION", 20*time.Second)
	clients := envInt(t, "VIGIL_BENCH_CLIENTS", 8)
	const warm = 3 * time.Second

	stream := NewCloudTrailStream(batch, 16, 1)
	rss := sampleRSS(s.pid, 200*time.Millisecond)
	t.Logf("machine: %s", machine())
	t.Logf("load: %d clients posting files of %d records (%d KiB each, uncompressed) for %s after a %s warm-up",
		clients, batch, len(stream.AppendFile(nil, 0, time.Now(), time.Millisecond, nil))>>10, dur, warm)

	type ack struct {
		at     time.Time
		events int
		took   time.Duration
	}
	var (
		mu    sync.Mutex
		acks  []ack
		busy  atomic.Int64
		errs  firstError
		next  atomic.Uint32
		wg    sync.WaitGroup
		start = time.Now()
		from  = start.Add(warm)
		until = from.Add(dur)
		// Record i of file f happened at evBase + (f*batch+i) ms.
		evBase = start.Add(-2 * time.Hour)
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 1<<20)
			for time.Now().Before(until) && errs.n.Load() == 0 {
				f := next.Add(1) - 1
				buf = stream.AppendFile(buf[:0], f, evBase.Add(time.Duration(f)*batch*time.Millisecond), time.Millisecond, nil)
				t0 := time.Now()
				a, retried, err := s.postFile(buf, until.Add(time.Minute), &busy)
				if err != nil {
					errs.set(err)
					return
				}
				now := time.Now()
				mu.Lock()
				acks = append(acks, ack{now, a.Accepted, now.Sub(t0)})
				mu.Unlock()
				if a.Accepted+a.Duplicates != batch || (a.Duplicates != 0 && !retried) {
					errs.set(fmt.Errorf("file %d: %d accepted and %d duplicates of %d unique records", f, a.Accepted, a.Duplicates, batch))
				}
			}
		}()
	}
	time.Sleep(time.Until(from))
	m0 := s.metrics(t)
	cpu := startCPU(s.pid)
	rss.phase()
	stopProfile := startWindowProfile(t, s)
	time.Sleep(time.Until(until))
	stopProfile()
	m1 := s.metrics(t)
	cpuWindow := cpu.String()
	rssLoad := rss.phase()
	wg.Wait()
	loadEnd := time.Now()
	if err := errs.get(); err != nil {
		t.Fatalf("ingest failed (%d errors), first: %v\n%s", errs.n.Load(), err, s.logTail())
	}

	var inWindow, total int
	var took []time.Duration
	for _, a := range acks {
		total += a.events
		if !a.at.Before(from) && a.at.Before(until) {
			inWindow += a.events
			took = append(took, a.took)
		}
	}
	storedWindow := m1.sum("vigil_events_stored_total") - m0.sum("vigil_events_stored_total")
	t.Logf("RESULT ingest: %.0f events/s acknowledged (202 after the bus stored them) over %s: %d files, %d events; target ≥ 50000 events/s",
		float64(inWindow)/dur.Seconds(), dur, len(took), inWindow)
	t.Logf("  ack latency per %d-record POST: %s", batch, dist(took))
	const slot = 5 * time.Second
	perSlot := make([]int, int(until.Sub(start)/slot)) // whole slots only
	for _, a := range acks {
		if i := int(a.at.Sub(start) / slot); i < len(perSlot) {
			perSlot[i] += a.events
		}
	}
	var series []string
	for _, n := range perSlot {
		series = append(series, fmt.Sprint(n/int(slot/time.Second)))
	}
	t.Logf("  acknowledged events/s every 5 s from the first POST (warm-up included): %s", strings.Join(series, " "))
	t.Logf("  503 busy answers: %d; %s", busy.Load(), cpuWindow)
	t.Logf("  detection meanwhile stored %.0f events/s; bus lag at the end of the window: %.0f messages",
		storedWindow/dur.Seconds(), m1.sum("vigil_stream_lag_messages"))
	t.Logf("  server memory at the end of the window: %s", memStats(m1))

	// Detection catches up with everything acknowledged.
	drainStart := time.Now()
	took2, ok := s.waitStored(t, float64(total), drainStart.Add(15*time.Minute))
	stored := s.metrics(t).sum("vigil_events_stored_total")
	rssDrain := rss.phase()
	rssMax, samples := rss.finish()
	if !ok {
		t.Errorf("detection stored only %.0f of %d acknowledged events in %s", stored, total, took2)
	}
	t.Logf("  detection stored all %d acknowledged events %s after the load stopped (%.0f events/s from the first POST to the last store)",
		total, took2.Round(100*time.Millisecond), stored/time.Since(start).Seconds())
	t.Logf("RESULT ingest RSS: max %.0f MiB while ingesting, %.0f MiB while detection drained, max %.0f MiB over the run (%d samples every 200 ms); target < 300 MB",
		rssLoad, rssDrain, rssMax, samples)
	t.Logf("  data directory: %.0f MiB (store %.0f MiB, bus %.0f MiB); load stopped %s after the window",
		dirSize(s.dataDir), dirSize(s.dataDir)-dirSize(s.dataDir+"/bus"), dirSize(s.dataDir+"/bus"), loadEnd.Sub(until).Round(time.Millisecond))
}

// TestServeLatency measures the time from ingest to an alert a responder
// can see, under a steady background load of VIGIL_BENCH_RATE (5000)
// events/s posted as files of 100 records every 20 ms: every 100 ms a
// marker, a CloudTrail StopLogging record by a principal of its own, is
// posted alone, and the alert list is polled for that principal every 2 ms.
// The latency runs from just before the marker's POST to the response
// that shows its alert.
func TestServeLatency(t *testing.T) {
	requireServe(t)
	runLatency(t, startServe(t))
}

func runLatency(t *testing.T, s *serveProc) {
	const batch = 100
	rate := envInt(t, "VIGIL_BENCH_RATE", 5000)
	markers := envInt(t, "VIGIL_BENCH_MARKERS", 300)
	interval := time.Duration(batch) * time.Second / time.Duration(rate)
	const (
		markerEvery = 100 * time.Millisecond
		poll        = 2 * time.Millisecond
		warm        = 3 * time.Second
		senders     = 8
	)
	stream := NewCloudTrailStream(batch, 16, 2)
	rss := sampleRSS(s.pid, 200*time.Millisecond)
	t.Logf("machine: %s", machine())
	t.Logf("load: %d events/s as files of %d records every %s; %d markers, one every %s; alerts polled every %s",
		rate, batch, interval, markers, markerEvery, poll)

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
		posted   = make([]time.Duration, markers)
		polls    atomic.Int64
		merrs    firstError
		markerWG sync.WaitGroup
		mStart   = time.Now()
		doneMu   sync.Mutex
		recent   []time.Duration // marker latencies since the last progress line
	)
	stopProfile := startWindowProfile(t, s)
	// A progress line every 30 s shows whether the server keeps up.
	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		prev, prevAt, prevAcked := m0, time.Now(), load.acked.Load()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
			}
			m, err := s.scrape()
			if err != nil {
				continue
			}
			now, a := time.Now(), load.acked.Load()
			secs := now.Sub(prevAt).Seconds()
			doneMu.Lock()
			lats := recent
			recent = nil
			doneMu.Unlock()
			delta := func(name string) float64 { return m.sum(name) - prev.sum(name) }
			var wal float64
			if fi, err := os.Stat(filepath.Join(s.dataDir, "vigil.db-wal")); err == nil {
				wal = float64(fi.Size()) / (1 << 20)
			}
			t.Logf("  progress %4.0fs: acked %.0f/s, stored %.0f/s, bus lag %.0f messages, alerts %.0f, server CPU %.0f%%, %.0f GCs/s, RSS %.0f MiB, Go heap in use %.0f MiB, SQLite WAL %.0f MiB; markers %s",
				now.Sub(mStart).Seconds(), float64(a-prevAcked)/secs, delta("vigil_events_stored_total")/secs,
				m.sum("vigil_stream_lag_messages"), m.sum("vigil_alerts_total"), 100*delta("process_cpu_seconds_total")/secs,
				delta("go_gc_duration_seconds_count")/secs, m.sum("process_resident_memory_bytes")/(1<<20),
				m.sum("go_memstats_heap_inuse_bytes")/(1<<20), wal, dist(lats))
			prev, prevAt, prevAcked = m, now, a
		}
	}()
	for m := range markers {
		time.Sleep(time.Until(mStart.Add(time.Duration(m) * markerEvery)))
		markerWG.Add(1)
		go func() {
			defer markerWG.Done()
			user := fmt.Sprintf("bench-marker-%06d-%04d", nonce, m)
			body := append([]byte(`{"Records":[`), StopLoggingRecord(user, uint64(m), time.Now())...)
			body = append(body, "]}"...)
			alertsPath := "/api/v1/alerts?limit=1&principal=" + url.QueryEscape("arn:aws:iam::111122223333:user/"+user)
			t0 := time.Now()
			a, _, err := s.postFile(body, t0.Add(10*time.Second), &load.busy)
			if err == nil && a.Accepted != 1 {
				err = fmt.Errorf("marker %d: accepted %d", m, a.Accepted)
			}
			if err != nil {
				merrs.set(err)
				return
			}
			posted[m] = time.Since(t0)
			for {
				polls.Add(1)
				code, resp, err := s.do(context.Background(), "GET", alertsPath, nil)
				if err != nil || code != http.StatusOK {
					merrs.set(fmt.Errorf("GET %s: %d %v %.200s", alertsPath, code, err, resp))
					return
				}
				var list struct {
					Alerts []json.RawMessage `json:"alerts"`
				}
				if err := json.Unmarshal(resp, &list); err != nil {
					merrs.set(err)
					return
				}
				if len(list.Alerts) > 0 {
					lat[m] = time.Since(t0)
					doneMu.Lock()
					recent = append(recent, lat[m])
					doneMu.Unlock()
					return
				}
				if time.Since(t0) > 30*time.Second {
					merrs.set(fmt.Errorf("marker %d: no alert after 30 s", m))
					return
				}
				time.Sleep(poll)
			}
		}()
	}
	markerWG.Wait()
	stopProfile()
	close(stopProgress)
	<-progressDone
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
	h := histogramDelta(m0, m1, "vigil_detection_latency_seconds")
	t.Logf("RESULT latency POST→alert visible in GET /api/v1/alerts, %d markers at %.0f events/s background: %s; target p99 < 100 ms",
		markers, achieved, dist(lat))
	t.Logf("  marker POST alone (202, in the bus): %s", dist(posted))
	t.Logf("  alert polls: %d (%.1f per marker); background files skipped because no sender was free: %d; 503 busy: %d",
		polls.Load(), float64(polls.Load())/float64(markers), load.skipped.Load(), load.busy.Load())
	t.Logf("  server's vigil_detection_latency_seconds (ingest to stored and evaluated, per event) over the same window (%0.f events): p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  mean %.1f ms; buckets %s",
		h.count, 1000*h.quantile(.5), 1000*h.quantile(.95), 1000*h.quantile(.99), 1000*h.sum/h.count, h)
	t.Logf("  %s", cpuWindow)
	t.Logf("RESULT latency RSS: max %.0f MiB during the markers, max %.0f MiB over the run (%d samples every 200 ms); target < 300 MB",
		rssPeak, rssMax, samples)
}

// TestServeSearch fills a server with VIGIL_BENCH_EVENTS (1,000,000)
// events through the HTTP ingest path, timing it, then runs
// VIGIL_BENCH_SEARCHES (300) searches of each kind through GET
// /api/v1/events, one at a time, with selective and unselective values,
// and reports the time to the last byte of each response.
func TestServeSearch(t *testing.T) {
	requireServe(t)
	total := envInt(t, "VIGIL_BENCH_EVENTS", 1_000_000)
	perKind := envInt(t, "VIGIL_BENCH_SEARCHES", 300)
	const (
		perFile = 2000
		rare    = 10 // records per file from RareRecord: 0.5% of events
		clients = 4
		span    = 7 * 24 * time.Hour
	)
	files := (total + perFile - 1) / perFile
	total = files * perFile
	stream := NewCloudTrailStream(perFile-rare, 8, 3)
	last := time.Now().Add(-time.Minute).Truncate(time.Second)
	first := last.Add(-span)
	step := span / time.Duration(total)
	at := func(i int) time.Time { return first.Add(time.Duration(i) * step) }

	s := startServe(t)
	rss := sampleRSS(s.pid, 200*time.Millisecond)
	t.Logf("machine: %s", machine())

	// Fill through HTTP, as fast as the server takes it, noting how fast
	// detection stores every 15 s.
	progress := s.storeProgress(15 * time.Second)
	var (
		next  atomic.Int64
		busy  atomic.Int64
		errs  firstError
		wg    sync.WaitGroup
		start = time.Now()
		limit = start.Add(20 * time.Minute)
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 3<<20)
			var extra []byte
			for errs.n.Load() == 0 {
				f := int(next.Add(1) - 1)
				if f >= files {
					return
				}
				extra = extra[:0]
				for r := range rare {
					if r > 0 {
						extra = append(extra, ',')
					}
					extra = append(extra, RareRecord(uint64(f*rare+r), at(f*perFile+perFile-rare+r))...)
				}
				buf = stream.AppendFile(buf[:0], uint32(f), at(f*perFile), step, extra)
				a, retried, err := s.postFile(buf, limit, &busy)
				if err == nil && (a.Accepted+a.Duplicates != perFile || (a.Duplicates != 0 && !retried)) {
					err = fmt.Errorf("file %d: %d of %d records accepted", f, a.Accepted, perFile)
				}
				if err != nil {
					errs.set(err)
				}
			}
		}()
	}
	wg.Wait()
	ackTook := time.Since(start)
	if err := errs.get(); err != nil {
		t.Fatalf("fill failed (%d errors), first: %v\n%s", errs.n.Load(), err, s.logTail())
	}
	if _, ok := s.waitStored(t, float64(total), limit); !ok {
		t.Fatalf("detection stored %.0f of %d events within %s", s.metrics(t).sum("vigil_events_stored_total"), total, limit.Sub(start))
	}
	fillTook := time.Since(start)
	rates := progress()
	t.Logf("RESULT fill: %d events (files of %d records, %d clients) through POST %s: all acknowledged in %s (%.0f events/s), all stored by detection in %s (%.0f events/s); 503 busy answers: %d",
		total, perFile, clients, ingestPath, ackTook.Round(100*time.Millisecond), float64(total)/ackTook.Seconds(),
		fillTook.Round(100*time.Millisecond), float64(total)/fillTook.Seconds(), busy.Load())
	t.Logf("  detection stored events/s, every 15 s from the start: %s; alerts raised: %.0f",
		rates, s.metrics(t).sum("vigil_alerts_total"))
	t.Logf("  data directory after the fill: %.0f MiB (bus %.0f MiB); server RSS max during the fill %.0f MiB",
		dirSize(s.dataDir), dirSize(s.dataDir+"/bus"), rss.phase())

	// The searches.
	r := rand.New(rand.NewPCG(42, 43))
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	window := func(d time.Duration) string {
		since := first.Add(time.Duration(r.Int64N(int64(span - d))))
		return "since=" + ts(since) + "&until=" + ts(since.Add(d))
	}
	principal := func(class string) string {
		switch class {
		case "common": // a quarter of the events each
			return pick("arn:aws:iam::111122223333:user/dev-alice", "arn:aws:sts::111122223333:assumed-role/ci-deploy/github-actions", "lambda.amazonaws.com")
		case "mid": // 3% each
			f := pick(functions...)
			return "arn:aws:sts::111122223333:assumed-role/" + f + "-role/" + f
		case "rare": // 5 events each
			return fmt.Sprintf("arn:aws:iam::%s:user/contractor-%03d", RareAccount, r.IntN(min(RareUsers, files*rare)))
		}
		return fmt.Sprintf("arn:aws:iam::111122223333:user/nobody-%d", r.IntN(1000))
	}
	kinds := []struct {
		name    string
		classes []string
		query   func(class string) string
	}{
		{"principal", []string{"common", "mid", "rare", "none"}, func(c string) string {
			return "principal=" + url.QueryEscape(principal(c))
		}},
		{"source_ip", []string{"common", "rare", "none"}, func(c string) string {
			switch c {
			case "common": // 0.4% each
				return fmt.Sprintf("source_ip=198.51.100.%d", r.IntN(250)+1)
			case "rare": // 25 events each
				return fmt.Sprintf("source_ip=192.0.2.%d", r.IntN(min(RareIPs, files*rare))+1)
			}
			return fmt.Sprintf("source_ip=203.0.113.%d", r.IntN(250)+1)
		}},
		{"action", []string{"common", "mid", "rare", "none"}, func(c string) string {
			switch c {
			case "common":
				return "action=" + pick("Invoke", "GetObject", "AssumeRole", "Decrypt")
			case "mid":
				return "action=" + pick("LookupEvents", "PassRole", "AttachRolePolicy", "CreateFunction20150331")
			case "rare":
				return "action=" + rareCalls[r.IntN(len(rareCalls))].name
			}
			return "action=" + pick("DeleteTrail", "StopLogging", "CreateAccessKey")
		}},
		{"function", []string{"common", "mid", "rare", "none"}, func(c string) string {
			switch c {
			case "common":
				return "function=" + pick(functions...)
			case "mid":
				return "function=" + pick(functions...) + "-v2"
			case "rare":
				return "function=billing-export"
			}
			return "function=does-not-exist"
		}},
		{"account", []string{"common", "rare", "none"}, func(c string) string {
			switch c {
			case "common":
				return "account=111122223333"
			case "rare":
				return "account=" + RareAccount
			}
			return "account=999988887777"
		}},
		{"time", []string{"10m", "1h", "24h"}, func(c string) string {
			d, _ := time.ParseDuration(c)
			return window(d)
		}},
		{"page2", []string{"all", "account", "action", "principal", "24h"}, func(c string) string {
			switch c {
			case "account":
				return "account=111122223333"
			case "action":
				return "action=" + pick("Invoke", "GetObject", "LookupEvents")
			case "principal":
				return "principal=" + url.QueryEscape(principal(pick("common", "mid")))
			case "24h":
				return window(24 * time.Hour)
			}
			return ""
		}},
		// Not asked for, but what an investigation does next: what did
		// this principal do with that API.
		{"principal+action", []string{"common+mid", "mid+common", "disjoint"}, func(c string) string {
			switch c {
			case "common+mid":
				return "principal=" + url.QueryEscape(principal("common")) + "&action=" + pick("LookupEvents", "PassRole", "AttachRolePolicy")
			case "mid+common":
				return "principal=" + url.QueryEscape(principal("mid")) + "&action=" + pick("Invoke", "GetObject", "AssumeRole")
			}
			// Both values are common enough, but never together.
			return "principal=" + url.QueryEscape(principal("common")) + "&action=" + rareCalls[r.IntN(len(rareCalls))].name
		}},
	}

	type page struct {
		Events     []json.RawMessage `json:"events"`
		NextCursor string            `json:"next_cursor"`
	}
	get := func(q string) (page, time.Duration) {
		t.Helper()
		t0 := time.Now()
		code, body, err := s.do(context.Background(), "GET", "/api/v1/events?"+q, nil)
		took := time.Since(t0)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /api/v1/events?%s: %d %v %.300s", q, code, err, body)
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p, took
	}
	cpu := startCPU(s.pid)
	searchStart := time.Now()
	var all []time.Duration
	for _, k := range kinds {
		var kindLat []time.Duration
		byClass := map[string][]time.Duration{}
		results := map[string]int{}
		for i := range perKind {
			class := k.classes[i%len(k.classes)]
			q := k.query(class)
			if k.name == "page2" {
				p1, _ := get(q)
				if p1.NextCursor == "" {
					t.Fatalf("%s: no second page", q)
				}
				q = strings.TrimPrefix(q+"&cursor="+url.QueryEscape(p1.NextCursor), "&")
			}
			p, took := get(q)
			kindLat = append(kindLat, took)
			byClass[class] = append(byClass[class], took)
			results[class] += len(p.Events)
			if empty := class == "none" || class == "disjoint"; empty != (len(p.Events) == 0) {
				t.Errorf("%s (%s): %d events", q, class, len(p.Events))
			}
		}
		all = append(all, kindLat...)
		t.Logf("RESULT search %-16s %s", k.name+":", dist(kindLat))
		for _, c := range k.classes {
			t.Logf("    %-12s %s, %.0f events per response", c+":", dist(byClass[c]), float64(results[c])/float64(len(byClass[c])))
		}
	}
	t.Logf("  all searches: %s; target p95 < 200 ms; searches ran one at a time on an idle server over %s; %s",
		dist(all), time.Since(searchStart).Round(time.Second), cpu)

	// The alert lookup TestServeLatency polls: by a principal with an alert
	// and by one without.
	alertsTotal := s.metrics(t).sum("vigil_alerts_total")
	for _, c := range []struct{ class, principal string }{
		{"with", "arn:aws:iam::111122223333:user/dev-alice"},
		{"without", "arn:aws:iam::111122223333:user/nobody"},
	} {
		var lat []time.Duration
		for range perKind {
			path := "/api/v1/alerts?limit=1&principal=" + url.QueryEscape(c.principal)
			t0 := time.Now()
			code, body, err := s.do(context.Background(), "GET", path, nil)
			lat = append(lat, time.Since(t0))
			if err != nil || code != http.StatusOK {
				t.Fatalf("GET %s: %d %v %.300s", path, code, err, body)
			}
			if got := strings.Contains(string(body), `"alerts":[]`); got != (c.class == "without") {
				t.Fatalf("GET %s: %.300s", path, body)
			}
		}
		t.Logf("RESULT alerts by principal %-8s %s (%.0f alerts stored)", c.class+":", dist(lat), alertsTotal)
	}
	rssMax, samples := rss.finish()
	t.Logf("  server RSS max over the run: %.0f MiB (%d samples)", rssMax, samples)
}
