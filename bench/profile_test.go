package bench

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
)

// startInProcess runs the server (app.New, Listen, Run) inside the benchmark
// process on 127.0.0.1, with the defaults and the soft memory limit vigil
// serve uses, so that
// go test -cpuprofile and -memprofile profile it; vigil serve has no pprof
// endpoint. The profiles include the benchmark's clients, a few percent of
// the CPU.
func startInProcess(t *testing.T) *serveProc {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Server.Data = filepath.Join(dir, "data")
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.ShutdownTimeout = 10 * time.Second
	logPath := filepath.Join(dir, "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logf, nil)), io.Discard)
	if err != nil {
		logf.Close()
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// What vigil serve does (internal/cli/serve.go), so that the
		// garbage collector works as it does there.
		prev := debug.SetMemoryLimit(200 << 20)
		t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &serveProc{pid: os.Getpid(), base: "http://" + srv.Addr(), dataDir: cfg.Server.Data, logPath: logPath,
		client: newClient(), exited: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.exited)
		defer logf.Close()
		srv.Run(ctx)
	}()
	t.Cleanup(s.stop)
	s.waitReady(t)
	return s
}

// startWindowProfile starts a CPU profile into $VIGIL_BENCH_CPUPROFILE when
// the server runs in process, and returns what ends it and also writes a
// heap profile (live objects at that moment) into
// $VIGIL_BENCH_HEAPPROFILE.
func startWindowProfile(t *testing.T, s *serveProc) (stop func()) {
	t.Helper()
	if s.cmd != nil {
		return func() {}
	}
	var cpuFile *os.File
	if path := os.Getenv("VIGIL_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			t.Fatalf("%v (use VIGIL_BENCH_CPUPROFILE or go test -cpuprofile, not both)", err)
		}
		cpuFile = f
	}
	return func() {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			cpuFile.Close()
			t.Logf("CPU profile of the measured window: %s", cpuFile.Name())
		}
		if path := os.Getenv("VIGIL_BENCH_HEAPPROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
				t.Fatal(err)
			}
			t.Logf("heap profile at the end of the measured window: %s", path)
		}
	}
}

// TestProfileIngest is TestServeIngest with the server in process, for
// profiles of the measured window only:
//
//	VIGIL_BENCH_SERVE=1 VIGIL_BENCH_CPUPROFILE=/tmp/cpu.pb.gz VIGIL_BENCH_HEAPPROFILE=/tmp/heap.pb.gz \
//	    go test -run '^TestProfileIngest$' -v ./bench/
//	go tool pprof -top /tmp/cpu.pb.gz
//
// The heap profile is taken at the end of the window, under full load.
func TestProfileIngest(t *testing.T) {
	requireServe(t)
	runIngest(t, startInProcess(t))
}

// TestProfileLatency is TestServeLatency with the server in process; the
// profiles cover the markers' window. Set VIGIL_BENCH_MARKERS for a long
// run.
func TestProfileLatency(t *testing.T) {
	requireServe(t)
	runLatency(t, startInProcess(t))
}
