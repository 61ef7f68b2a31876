package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// server is vigil serve running as a subprocess.
type server struct {
	cmd   *exec.Cmd
	base  string
	token string
	log   *syncBuffer
}

// kill stops the server with SIGKILL, as a crash does.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

// stopAtEnd stops the server with SIGTERM when the test ends.
func (s *server) stopAtEnd(t *testing.T) {
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	})
}

// syncBuffer collects a subprocess's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startServe(t *testing.T, dir, addr string, extra ...string) *server {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--data", dir, "--listen", addr}, extra...)...)
	cmd.Env = append(os.Environ(), "VIGIL_TEST_MAIN=1")
	log := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, base: "http://" + addr, log: log}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
				if err != nil {
					t.Fatal(err)
				}
				s.token = strings.TrimSpace(string(tok))
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("vigil serve did not become ready:\n%s", log.String())
	return nil
}

func (s *server) get(t *testing.T, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

func ctRecord(i int) string {
	// Every fifth event stops a trail, each by a principal of its own, so
	// each raises exactly one alert.
	name := "DescribeTrails"
	if i%5 == 0 {
		name = "StopLogging"
	}
	return fmt.Sprintf(`{"eventVersion":"1.09","eventTime":"%s","eventSource":"cloudtrail.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":"203.0.113.50","userAgent":"aws-cli/2","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u%06d","accountId":"111122223333"},"eventID":"00000000-0000-4000-8000-%012d","recipientAccountId":"111122223333"}`,
		time.Now().UTC().Format(time.RFC3339), name, i, i)
}

// TestCrashLosesNothingAcknowledged kills the server with SIGKILL while
// clients ingest, restarts it, and checks that every acknowledged event is
// stored and evaluated exactly once.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil serve twice")
	}
	dir := t.TempDir()
	addr := freePort(t)
	s := startServe(t, dir, addr)
	const batch = 100
	var (
		mu    sync.Mutex
		acked []int // first event index of each acknowledged batch
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := w; ; b += 3 {
				var body strings.Builder
				body.WriteString(`{"Records":[`)
				for i := 0; i < batch; i++ {
					if i > 0 {
						body.WriteByte(',')
					}
					body.WriteString(ctRecord(b*batch + i))
				}
				body.WriteString(`]}`)
				req, _ := http.NewRequest("POST", s.base+"/api/v1/ingest/cloudtrail", strings.NewReader(body.String()))
				req.Header.Set("Authorization", "Bearer "+s.token)
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					mu.Lock()
					acked = append(acked, b*batch)
					mu.Unlock()
				}
			}
		}(w)
	}
	time.Sleep(1000 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	wg.Wait()
	mu.Lock()
	ackedBatches := len(acked)
	mu.Unlock()
	if ackedBatches == 0 {
		t.Fatalf("no batch was acknowledged before the kill:\n%s", s.log)
	}

	t0 := time.Now()
	s = startServe(t, dir, addr)
	t.Logf("restarted in %s", time.Since(t0))
	defer func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	}()
	// Wait for detection to drain the bus.
	var st struct{ Events int64 }
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.get(t, "/api/v1/stats", &st)
		if st.Events >= int64(ackedBatches*batch) {
			time.Sleep(500 * time.Millisecond) // let anything unacknowledged but stored settle
			s.get(t, "/api/v1/stats", &st)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d events stored, %d acknowledged", st.Events, ackedBatches*batch)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("drained in %s", time.Since(t0))
	for _, first := range acked {
		for _, i := range []int{first, first + batch - 1} {
			var res struct{ Events []json.RawMessage }
			s.get(t, fmt.Sprintf("/api/v1/events?principal=arn:aws:iam::111122223333:user/u%06d", i), &res)
			if len(res.Events) != 1 {
				t.Fatalf("acknowledged event %d stored %d times", i, len(res.Events))
			}
		}
	}
	// One alert per stored StopLogging event, none doubled.
	var alerts struct {
		Alerts []struct {
			Count     int
			Principal string
		}
		NextCursor string `json:"next_cursor"`
	}
	t.Logf("checked events in %s", time.Since(t0))
	seen := map[string]bool{}
	for cursor := ""; ; {
		alerts.NextCursor = ""
		s.get(t, "/api/v1/alerts?limit=1000&cursor="+cursor, &alerts)
		for _, a := range alerts.Alerts {
			if a.Count != 1 || seen[a.Principal] {
				t.Fatalf("alert for %s counted %d times (seen before: %v)", a.Principal, a.Count, seen[a.Principal])
			}
			seen[a.Principal] = true
		}
		if alerts.NextCursor == "" {
			break
		}
		cursor = alerts.NextCursor
	}
	stops := 0
	for cursor := ""; ; {
		var page struct {
			Events     []json.RawMessage
			NextCursor string `json:"next_cursor"`
		}
		s.get(t, "/api/v1/events?action=StopLogging&limit=1000&cursor="+cursor, &page)
		stops += len(page.Events)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != stops {
		t.Errorf("%d alerts for %d stored StopLogging events", len(seen), stops)
	}
	t.Logf("acknowledged %d events before SIGKILL; %d stored after restart; %d alerts; checked in %s", ackedBatches*batch, st.Events, len(seen), time.Since(t0))
}

// TestServeDemo runs vigil serve --demo as a user would and waits for the
// simulated attack's alerts.
func TestServeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil serve")
	}
	s := startServe(t, t.TempDir(), freePort(t), "--demo")
	defer func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		if err := s.cmd.Wait(); err != nil {
			t.Errorf("vigil serve did not exit cleanly on SIGTERM: %v\n%s", err, s.log)
		}
	}()
	var alerts struct {
		Alerts []struct {
			Rule     struct{ Title string }
			Severity string
		}
	}
	want := []string{"CloudTrail Logging Stopped", "Function App Publishing Profile Downloaded", "Service Account Key Created"}
	titles := map[string]bool{}
	missing := func() []string {
		var out []string
		for _, w := range want {
			if !titles[w] {
				out = append(out, w)
			}
		}
		return out
	}
	// The demo posts the AWS, Azure and Google files in turn: wait for an
	// alert from each.
	for deadline := time.Now().Add(30 * time.Second); len(missing()) > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		s.get(t, "/api/v1/alerts?limit=1000", &alerts)
		for _, a := range alerts.Alerts {
			titles[a.Rule.Title] = true
		}
	}
	if m := missing(); len(m) > 0 {
		t.Errorf("the demo raised no %q alert; got %v", m, titles)
	}
	if !strings.Contains(s.log.String(), "Created an admin token") {
		t.Errorf("the first start did not announce the admin token:\n%s", s.log)
	}
}
