package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/apitest"
)

// lockedBuffer collects log output written from server goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var epoch = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// env is an API server over the fake backend.
type env struct {
	b     *apitest.Backend
	srv   *httptest.Server
	logs  *lockedBuffer
	clock *clock
	opts  api.Options
}

func newEnv(t *testing.T, configure ...func(*api.Options)) *env {
	t.Helper()
	e := &env{logs: &lockedBuffer{}, clock: &clock{}}
	e.clock.Set(epoch)
	e.b = apitest.New(e.clock.Now)
	e.opts = api.Options{
		MaxBodyBytes: 64 << 10,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "# TYPE vigil_up gauge\nvigil_up 1\n")
		}),
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    e.clock.Now,
	}
	for _, c := range configure {
		c(&e.opts)
	}
	e.srv = httptest.NewServer(api.New(e.b, e.opts))
	t.Cleanup(e.srv.Close)
	return e
}

// req describes a request.
type req struct {
	method, path, token string
	body                string
	header              map[string]string
	// setup, if set, prepares the fake backend before the request.
	setup func(*apitest.Backend)
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response is not JSON (%v): %s", err, r.body)
	}
}

func (e *env) do(t *testing.T, q req) resp {
	t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r, err := http.NewRequest(q.method, e.srv.URL+q.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// checkError checks that a response is an error in the API's shape with
// the given status and code.
func checkError(t *testing.T, what string, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d (body %s)", what, r.status, status, r.body)
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Errorf("%s: error body is not JSON: %s", what, r.body)
		return
	}
	msg, _ := m["error"].(string)
	got, _ := m["code"].(string)
	if len(m) != 2 || msg == "" || got == "" {
		t.Errorf("%s: error body %s, want exactly {error, code}", what, r.body)
	}
	if code != "" && got != code {
		t.Errorf("%s: code %q, want %q (%s)", what, got, code, msg)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("%s: message spans lines: %q", what, msg)
	}
}
