package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The end-to-end benchmarks of vigil serve run only when asked: they take
// minutes, use both cores and gigabytes of disk.
const serveEnv = "VIGIL_BENCH_SERVE"

func requireServe(t *testing.T) {
	t.Helper()
	if os.Getenv(serveEnv) != "1" {
		t.Skipf("end-to-end benchmark of vigil serve; run it with %s=1 go test -run '^TestServe' -v -timeout 90m ./bench/ (see bench/README.md)", serveEnv)
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 20s", name, v)
	}
	return d
}

// vigil binary, built once per test process.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// vigilBinary builds ./cmd/vigil as a user would (no race detector, no
// coverage), whatever flags the benchmark itself was built with.
func vigilBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vigil-bench-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "vigil")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/vigil-sec/vigil/cmd/vigil")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/vigil: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// serveProc is vigil serve running on 127.0.0.1: a subprocess, or, for
// profiling, app.Server inside the benchmark process (see startInProcess).
type serveProc struct {
	cmd     *exec.Cmd // nil in process
	pid     int       // the benchmark's own pid in process
	base    string
	token   string
	dataDir string
	logPath string
	client  *http.Client
	exited  chan struct{}
	cancel  context.CancelFunc // stops the in-process server
}

func newClient() *http.Client {
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		Proxy:               nil, // 127.0.0.1 only
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe starts vigil serve with a fresh data directory, and args
// (such as --config) after its own, and stops it when the test ends,
// however it ends. The server process is also killed if the test process
// dies (see setDeathSignal).
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	bin := vigilBinary(t)
	dir := t.TempDir()
	addr := freeLoopbackAddr(t)
	s := &serveProc{
		base:    "http://" + addr,
		dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "serve.log"),
		exited:  make(chan struct{}),
		client:  newClient(),
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, append([]string{"serve", "--data", s.dataDir, "--listen", addr}, args...)...)
	env := []string{"VIGIL_SERVER_SHUTDOWN_TIMEOUT=10s"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VIGIL_") && !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "GOGC=") {
			env = append(env, kv)
		}
	}
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	setDeathSignal(s.cmd)
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	s.pid = s.cmd.Process.Pid
	go func() {
		s.cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	t.Cleanup(s.stop)
	s.waitReady(t)
	return s
}

// waitReady waits for /readyz and reads the admin token.
func (s *serveProc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-s.exited:
			t.Fatalf("vigil serve exited during start-up:\n%s", s.logTail())
		default:
		}
		if resp, err := s.client.Get(s.base + "/readyz"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil serve did not become ready within a minute:\n%s", s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(s.dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
}

// stop asks the server to shut down, and kills it if it has not within 30
// seconds.
func (s *serveProc) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	defer s.client.CloseIdleConnections()
	if s.cmd == nil {
		s.cancel()
		<-s.exited
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *serveProc) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (s *serveProc) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// do sends one request with the admin token and returns the status and the
// body, read to the end.
func (s *serveProc) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	code, b, _, err := s.doHeader(ctx, method, path, body)
	return code, b, err
}

// doHeader is do that also returns the response's header.
func (s *serveProc) doHeader(ctx context.Context, method, path string, body []byte) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// ingestAck is the body of a 202 from the ingest API.
type ingestAck struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Rejected   []struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	} `json:"rejected"`
}

// metrics scrapes /metrics into series name (with labels) → value.
func (s *serveProc) metrics(t *testing.T) promSample {
	t.Helper()
	m, err := s.scrape()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scrape is metrics for goroutines other than the test's.
func (s *serveProc) scrape() (promSample, error) {
	code, body, err := s.do(context.Background(), "GET", "/metrics", nil)
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d %v %.200s", code, err, body)
	}
	m := promSample{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

type promSample map[string]float64

// sum adds every series of a metric, whatever its labels.
func (m promSample) sum(name string) float64 {
	total := 0.0
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			total += v
		}
	}
	return total
}

// histogram is the difference of a Prometheus histogram between two
// scrapes.
type histogram struct {
	bounds []float64 // upper bounds, ascending, +Inf last
	counts []float64 // cumulative
	sum    float64
	count  float64
}

func histogramDelta(before, after promSample, name string) histogram {
	var h histogram
	type b struct{ le, n float64 }
	var bs []b
	prefix := name + `_bucket{le="`
	for k, v := range after {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		leStr := strings.TrimSuffix(strings.TrimPrefix(k, prefix), `"}`)
		le, err := strconv.ParseFloat(leStr, 64)
		if err != nil {
			continue
		}
		bs = append(bs, b{le, v - before[k]})
	}
	slices.SortFunc(bs, func(x, y b) int {
		switch {
		case x.le < y.le:
			return -1
		case x.le > y.le:
			return 1
		}
		return 0
	})
	for _, x := range bs {
		h.bounds = append(h.bounds, x.le)
		h.counts = append(h.counts, x.n)
	}
	h.sum = after[name+"_sum"] - before[name+"_sum"]
	h.count = after[name+"_count"] - before[name+"_count"]
	return h
}

// quantile estimates a quantile as Prometheus's histogram_quantile does:
// linear interpolation inside the bucket that holds it.
func (h histogram) quantile(q float64) float64 {
	if h.count == 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, prev := 0.0, 0.0
	for i, le := range h.bounds {
		if h.counts[i] >= rank {
			if math.IsInf(le, 1) {
				return lower
			}
			in := h.counts[i] - prev
			if in == 0 {
				return le
			}
			return lower + (le-lower)*(rank-prev)/in
		}
		lower, prev = le, h.counts[i]
	}
	return lower
}

func (h histogram) String() string {
	var b strings.Builder
	prev := 0.0
	for i, le := range h.bounds {
		n := h.counts[i] - prev
		prev = h.counts[i]
		if n == 0 {
			continue
		}
		fmt.Fprintf(&b, " ≤%gs:%d", le, int64(n))
	}
	return strings.TrimSpace(b.String())
}

// rssSampler reads VmRSS of a process every period.
type rssSampler struct {
	mu      sync.Mutex
	peakKB  int64 // since the last resetPeak
	maxKB   int64 // over the whole run
	lastKB  int64
	samples int
	stop    chan struct{}
	done    chan struct{}
}

func sampleRSS(pid int, period time.Duration) *rssSampler {
	r := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			if kb, ok := readRSS(pid); ok {
				r.mu.Lock()
				r.lastKB = kb
				r.peakKB = max(r.peakKB, kb)
				r.maxKB = max(r.maxKB, kb)
				r.samples++
				r.mu.Unlock()
			}
			select {
			case <-r.stop:
				return
			case <-t.C:
			}
		}
	}()
	return r
}

// phase returns the peak since the last call and starts a new phase.
func (r *rssSampler) phase() (peakMB float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peakKB
	r.peakKB = r.lastKB
	return float64(p) / 1024
}

func (r *rssSampler) finish() (maxMB float64, samples int) {
	close(r.stop)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return float64(r.maxKB) / 1024, r.samples
}

// readRSS reads VmRSS from /proc/<pid>/status, in KiB.
func readRSS(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// procCPU returns the CPU time (user+system) a process has used, from
// /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const clkTck = 100 // USER_HZ on every Linux architecture Go supports
	return time.Duration(ut+st) * time.Second / clkTck, true
}

// cpuMeter measures the CPU the server and the benchmark process use over an
// interval, as a share of one core.
type cpuMeter struct {
	pid              int
	wall             time.Time
	server, ownStart time.Duration
}

func startCPU(pid int) cpuMeter {
	sv, _ := procCPU(pid)
	return cpuMeter{pid: pid, wall: time.Now(), server: sv, ownStart: selfCPU()}
}

func (c cpuMeter) String() string {
	wall := time.Since(c.wall).Seconds()
	sv, ok := procCPU(c.pid)
	if !ok {
		return "CPU: not available"
	}
	return fmt.Sprintf("CPU (of %d cores): server %.0f%%, benchmark clients %.0f%%", runtime.NumCPU(),
		100*(sv-c.server).Seconds()/wall, 100*(selfCPU()-c.ownStart).Seconds()/wall)
}

// percentile returns the q-quantile (0 < q ≤ 1) of ds, nearest rank.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func dist(ds []time.Duration) string {
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s  (n=%d)", ms(percentile(ds, .5)), ms(percentile(ds, .95)),
		ms(percentile(ds, .99)), ms(percentile(ds, 1)), len(ds))
}

// dirSize is the size of the files under dir, in MiB.
func dirSize(dir string) float64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return float64(n) / (1 << 20)
}

// machine describes where the benchmark ran.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					kb, _ := strconv.ParseFloat(f[0], 64)
					mem = fmt.Sprintf(", %.1f GiB RAM", kb/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s, %s, %s/%s", runtime.NumCPU(), model, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// waitStored waits until the server reports at least n events stored by
// detection, or the deadline passes, and returns how long it took.
func (s *serveProc) waitStored(t *testing.T, n float64, deadline time.Time) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for {
		if s.metrics(t).sum("vigil_events_stored_total") >= n {
			return time.Since(start), true
		}
		if time.Now().After(deadline) || !s.alive() {
			return time.Since(start), false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func decodeAck(body []byte) (ingestAck, error) {
	var a ingestAck
	err := json.Unmarshal(body, &a)
	return a, err
}

// memStats summarizes the Go runtime's memory figures from a scrape.
func memStats(m promSample) string {
	mib := func(name string) float64 { return m.sum(name) / (1 << 20) }
	return fmt.Sprintf("RSS %.0f MiB; Go heap in use %.0f MiB, heap idle %.0f MiB (released %.0f MiB), stacks %.0f MiB, total from the OS %.0f MiB; next GC at %.0f MiB heap",
		mib("process_resident_memory_bytes"), mib("go_memstats_heap_inuse_bytes"), mib("go_memstats_heap_idle_bytes"),
		mib("go_memstats_heap_released_bytes"), mib("go_memstats_stack_inuse_bytes"), mib("go_memstats_sys_bytes"), mib("go_memstats_next_gc_bytes"))
}

// storeProgress samples how many events detection has stored every period
// until the returned function is called, which returns the rates.
func (s *serveProc) storeProgress(period time.Duration) func() string {
	stop, done := make(chan struct{}), make(chan string)
	go func() {
		var rates []string
		last := 0.0
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- strings.Join(rates, " ")
				return
			case <-t.C:
			}
			if m, err := s.scrape(); err == nil {
				n := m.sum("vigil_events_stored_total")
				rates = append(rates, fmt.Sprintf("%.0f", (n-last)/period.Seconds()))
				last = n
			}
		}
	}()
	return func() string {
		close(stop)
		return <-done
	}
}

// pacedLoad is a steady background load: files of batch records every
// interval, posted by senders goroutines, retried after 503 as a shipper
// would. A file that no sender is free to post when it is due is skipped
// and counted, so the load never piles up.
type pacedLoad struct {
	skipped, busy, acked atomic.Int64
	errs                 firstError
	cancel               context.CancelFunc
	wg                   sync.WaitGroup
}

// startPacedLoad starts the load on s, with files from stream; stop ends it.
func startPacedLoad(s *serveProc, stream *CloudTrailStream, senders, batch int, interval time.Duration) *pacedLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &pacedLoad{cancel: cancel}
	work := make(chan uint32, 16)
	start := time.Now()
	evBase := start.Add(-time.Hour)
	for range senders {
		l.wg.Go(func() {
			buf := make([]byte, 0, 256<<10)
			for f := range work {
				buf = stream.AppendFile(buf[:0], f, evBase.Add(time.Duration(f)*interval), interval/time.Duration(batch), nil)
				a, _, err := s.postFile(buf, time.Now().Add(10*time.Second), &l.busy)
				if err != nil {
					l.errs.set(err)
					continue
				}
				l.acked.Add(int64(a.Accepted))
			}
		})
	}
	l.wg.Go(func() {
		defer close(work)
		for k := 0; ; k++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(start.Add(time.Duration(k) * interval))):
			}
			select {
			case work <- uint32(k):
			default:
				l.skipped.Add(1)
			}
		}
	})
	return l
}

// stop ends the load and waits for the files in flight.
func (l *pacedLoad) stop() {
	l.cancel()
	l.wg.Wait()
}
