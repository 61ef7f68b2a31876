package notifyhttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/internal/netguard"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/redact"
)

var now = time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 3 ", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"99999999999", MaxRetryAfter},
		{"Sun, 22 Nov 2026 18:00:30 GMT", 30 * time.Second},
		{"Sunday, 22-Nov-26 18:01:00 GMT", time.Minute},
		{"Sun Nov 22 18:00:10 2026", 10 * time.Second},
		{"Sun, 22 Nov 2026 17:00:00 GMT", 0},
		{"Mon, 23 Nov 2026 18:00:00 GMT", MaxRetryAfter},
		{"soon", 0},
		{"1.5", 0},
		{strings.Repeat("9", 100), 0},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.v, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tt.v, got, tt.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	for status, want := range map[int]bool{
		200: false, 301: false, 400: false, 401: false, 403: false, 404: false, 408: true, 409: false, 413: false,
		422: false, 425: true, 429: true, 500: true, 501: false, 502: true, 503: true, 504: true, 505: false, 599: true,
	} {
		if got := Retryable(status); got != want {
			t.Errorf("Retryable(%d) = %v", status, got)
		}
	}
}

func TestSnippet(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"  {\"error\":\n\t\"bad\"}\r\n", `{"error": "bad"}`},
		{"a\x00b\x1bc", "a b c"},
		{"ok \xff\xfe", "ok \uFFFD\uFFFD"},
		{strings.Repeat("x", MaxErrorBody+10), strings.Repeat("x", MaxErrorBody) + "…"},
		{strings.Repeat("x", MaxErrorBody-1) + "é", strings.Repeat("x", MaxErrorBody-1) + "…"}, // the rune cut by the bound is dropped
	}
	for _, tt := range tests {
		if got := Snippet([]byte(tt.in)); got != tt.want {
			t.Errorf("Snippet(%.20q) = %.40q, want %.40q", tt.in, got, tt.want)
		}
	}
}

func guarded() *http.Client {
	return netguard.NewClient(netguard.Options{Policy: netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
}

func TestDo(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(b) != "hello" || r.Header.Get("X-A") != "1" || r.UserAgent() != "Vigil" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, strings.Repeat("y", 2*MaxResponseBody))
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "slow down, TOKEN-xyz")
	})
	mux.HandleFunc("/hang/", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := &Sender{Client: guarded(), Redactor: redact.New("TOKEN-xyz"), Now: func() time.Time { return now }}

	resp, err := s.Do(t.Context(), Request{Method: http.MethodPost, URL: srv.URL + "/ok", Header: http.Header{"X-A": {"1"}}, Body: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusAccepted || len(resp.Body) != MaxResponseBody {
		t.Errorf("status %d, body of %d bytes", resp.Status, len(resp.Body))
	}

	_, err = s.Do(t.Context(), Request{Method: http.MethodPost, URL: srv.URL + "/busy?token=TOKEN-xyz"})
	var ne *notify.Error
	if !errors.As(err, &ne) || ne.Permanent || ne.RetryAfter != 30*time.Second || ne.Status != 429 {
		t.Fatalf("err = %#v", err)
	}
	if got := err.Error(); got != "status 429: Too Many Requests: slow down, <secret>" {
		t.Errorf("error %q", got)
	}

	// The request's own timeout.
	s.Timeout = 50 * time.Millisecond
	_, err = s.Do(t.Context(), Request{Method: http.MethodPost, URL: srv.URL + "/hang/TOKEN-xyz"})
	if !errors.As(err, &ne) || ne.Permanent || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}
	if strings.Contains(err.Error(), "TOKEN") || strings.Contains(err.Error(), "/hang") {
		t.Errorf("the error names the path: %v", err)
	}
}

func TestTransportErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	tests := []struct {
		name, url string
		permanent bool
		want      string
	}{
		{"refused connection", closed + "/p/SECRET", false, "connection refused"},
		{"internal address", "http://10.1.2.3:9/p/SECRET", true, "refusing to connect to 10.1.2.3 (private address)"},
		{"metadata", "http://169.254.169.254/latest/meta-data/SECRET", true, "cloud metadata address"},
		{"scheme", "ftp://example.com/SECRET", true, `refusing the URL scheme "ftp"`},
		{"unparsable URL", "http://exa mple.com/SECRET", true, "cannot build the POST request to <url>: check the URL"},
	}
	s := &Sender{Client: guarded(), Redactor: redact.New().WithURL("http://x/p/SECRET")}
	for _, tt := range tests {
		_, err := s.Do(t.Context(), Request{Method: http.MethodPost, URL: tt.url})
		var ne *notify.Error
		if !errors.As(err, &ne) || ne.Permanent != tt.permanent || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v (permanent %v), want permanent %v and %q", tt.name, err, notify.IsPermanent(err), tt.permanent, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error names the path: %v", tt.name, err)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Sun, 22 Nov 2026 18:00:30 GMT")
	f.Add("-1")
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v, now); d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %s", v, d)
		}
	})
}

func FuzzSnippet(f *testing.F) {
	f.Add([]byte("hello\nworld"))
	f.Add([]byte("\xff\xfe\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := Snippet(b)
		if !utf8.ValidString(s) || len(s) > MaxErrorBody*3+len("…") || strings.ContainsAny(s, "\n\r\x00") {
			t.Fatalf("Snippet = %q", s)
		}
	})
}

func TestBaseURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "https://api.example.com/"}, {"https://eu.example.com", "https://eu.example.com/"}, {"http://x/api/", "http://x/api/"},
	} {
		if got := BaseURL(tt.in, "https://api.example.com/"); got != tt.want {
			t.Errorf("BaseURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
