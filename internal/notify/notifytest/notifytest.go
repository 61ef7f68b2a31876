// Package notifytest holds what the tests of the notification receivers
// share: golden files, a captured logger, a guarded HTTP client for local
// servers, and the secret-leak suite that every receiver runs.
package notifytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/netguard"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/notifyhttp"
)

// maxRetryAfter is the cap on a server's Retry-After.
const maxRetryAfter = notifyhttp.MaxRetryAfter

// Update defines the -update flag of the test binary that calls it and
// returns it. The flag makes Golden rewrite the golden files instead of
// comparing with them. Call it once per package, in a package-level
// variable:
//
//	var update = notifytest.Update()
func Update() *bool {
	return flag.Bool("update", false, "rewrite the golden files in testdata/")
}

// Golden compares got with testdata/name, or writes it there when update
// is set.
func Golden(t testing.TB, update bool, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; run go test -update if the change is right):\n%s", path, diff)
	}
}

// GoldenJSON indents v (raw JSON or a value to encode) and compares it
// with testdata/name.
func GoldenJSON(t testing.TB, update bool, name string, v any) {
	t.Helper()
	var b []byte
	switch v := v.(type) {
	case []byte:
		var buf bytes.Buffer
		if err := json.Indent(&buf, v, "", "  "); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", name, err, v)
		}
		b = buf.Bytes()
	default:
		var err error
		if b, err = json.MarshalIndent(v, "", "  "); err != nil {
			t.Fatal(err)
		}
	}
	Golden(t, update, name, append(b, '\n'))
}

// Buffer is a concurrency-safe bytes.Buffer for captured log output.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a logger that writes every record, debug included, as
// JSON to the returned buffer.
func Logger() (*slog.Logger, *Buffer) {
	buf := &Buffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// Hosts the Resolver of Client knows. Every other name is not found.
const (
	// LocalHost resolves to 127.0.0.1.
	LocalHost = "hooks.vigil.test"
	// InternalHost resolves to a private address that Client refuses.
	InternalHost = "internal.vigil.test"
	// MissingHost does not resolve.
	MissingHost = "nxdomain.vigil.test"
)

// Resolver answers LocalHost and InternalHost without the network.
type Resolver struct{}

// LookupNetIP resolves the test host names.
func (Resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	switch host {
	case LocalHost, "localhost":
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	case InternalHost:
		return []netip.Addr{netip.MustParseAddr("10.200.0.7")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// Client returns a guarded client that may reach 127.0.0.0/8 (where
// httptest servers listen) and resolves names with Resolver.
func Client() *http.Client {
	return netguard.NewClient(netguard.Options{
		Policy:    netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Resolver:  Resolver{},
		UserAgent: "Vigil/test",
	})
}

// AssertNoSecrets fails t for every text that holds a secret, in its raw
// form or an encoding a server or encoder may produce (URL, JSON, HTML,
// base64). texts maps a description ("error", "log") to the text.
func AssertNoSecrets(t testing.TB, secrets []string, texts map[string]string) {
	t.Helper()
	for what, text := range texts {
		for _, s := range secrets {
			for _, form := range encodings(s) {
				if strings.Contains(text, form) {
					t.Errorf("%s holds the secret %q:\n%s", what, s, text)
					break
				}
			}
		}
	}
}

func encodings(s string) []string {
	out := []string{s, url.QueryEscape(s), url.PathEscape(s), html.EscapeString(s), base64.StdEncoding.EncodeToString([]byte(s))}
	if b, err := json.Marshal(s); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	return out
}

// NewFunc builds a receiver whose every request goes under base, the URL
// of a target ("http://host:port"). It returns the receiver and its
// configuration.
type NewFunc func(t *testing.T, base string, client *http.Client, logger *slog.Logger) (notify.Receiver, any)

// Build returns a NewFunc that configures a receiver with cfg(base) and
// builds it named name with newReceiver, a receiver package's New. It
// fails the test when newReceiver returns an error.
func Build[C any, R notify.Receiver](newReceiver func(string, C, *http.Client, *slog.Logger) (R, error), name string, cfg func(base string) C) NewFunc {
	return func(t *testing.T, base string, client *http.Client, logger *slog.Logger) (notify.Receiver, any) {
		t.Helper()
		c := cfg(base)
		r, err := newReceiver(name, c, client, logger)
		if err != nil {
			t.Fatal(err)
		}
		return r, c
	}
}

// StatusTest checks how a receiver maps HTTP answers to delivery
// outcomes: 500 and 503 are retried, 429 is retried after its Retry-After
// (in seconds or as an HTTP date), 400, 401 and 404 are permanent.
type StatusTest struct {
	// New builds the receiver for the base URL of a target.
	New NewFunc
	// Notification is sent.
	Notification *notify.Notification
}

// Run runs the status test.
func (st StatusTest) Run(t *testing.T) {
	t.Helper()
	date := time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		status     int
		retryAfter string
		permanent  bool
		wantAfter  time.Duration
	}{
		{http.StatusInternalServerError, "", false, 0},
		{http.StatusServiceUnavailable, "", false, 0},
		{http.StatusTooManyRequests, "7", false, 7 * time.Second},
		{http.StatusTooManyRequests, date, false, maxRetryAfter},
		{http.StatusRequestTimeout, "", false, 0},
		{http.StatusBadRequest, "", true, 0},
		{http.StatusUnauthorized, "", true, 0},
		{http.StatusNotFound, "", true, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.retryAfter), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, `{"ok":false,"error":"status %d"}`, tt.status)
			}))
			defer srv.Close()
			logger, _ := Logger()
			rcv, _ := st.New(t, srv.URL, Client(), logger)
			_, err := rcv.Send(t.Context(), st.Notification)
			var ne *notify.Error
			if !errors.As(err, &ne) {
				t.Fatalf("err = %v, want a *notify.Error", err)
			}
			if ne.Status != tt.status || ne.Permanent != tt.permanent {
				t.Errorf("status %d permanent %v, want %d %v (%v)", ne.Status, ne.Permanent, tt.status, tt.permanent, err)
			}
			// An HTTP date is a little less than two hours ahead by the time
			// it is read, and the delay is capped at one hour.
			if ne.RetryAfter != tt.wantAfter {
				t.Errorf("RetryAfter = %s, want %s", ne.RetryAfter, tt.wantAfter)
			}
		})
	}
}

// ErrorLines splits an error's text into lines, nil for no error: one
// line per problem of a Validate method.
func ErrorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}
