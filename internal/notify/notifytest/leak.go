package notifytest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/notify"
)

// LeakTest sends notifications through a receiver against every way an
// HTTP delivery fails and checks that no secret reaches the returned
// error, the log, or the receiver and its configuration printed with %v,
// %+v and %#v. It also checks that the secrets did travel in the requests
// the failing servers echoed back, so that the redaction was put to the
// test.
type LeakTest struct {
	// Secrets are the values that must never appear: URL tokens, keys,
	// passwords. Use recognisable values that are not substrings of
	// "<secret>".
	Secrets []string
	// New builds the receiver for the base URL of a target; every request
	// of the receiver must go under it. The configuration it returns is
	// checked too.
	New NewFunc
	// Notifications are sent in turn in every scenario, for example
	// Notifications(template.Sample()).
	Notifications []*notify.Notification
}

// Notifications returns a firing, an acknowledged and a resolved
// notification of one group, the latter two with Prior set, so that
// receivers that update a message take that path too.
func Notifications(base *notify.Notification) []*notify.Notification {
	var out []*notify.Notification
	for i, st := range []notify.Status{notify.Firing, notify.Acknowledged, notify.Resolved} {
		n := *base
		n.ID = fmt.Sprintf("%s-%d", base.ID, i)
		n.Status = st
		if i > 0 {
			n.Prior = "C0LEAK/1700000000.000100"
		}
		out = append(out, &n)
	}
	return out
}

type scenario struct {
	name string
	// base returns the target's base URL.
	base func(t *testing.T, echo *echoLog) string
	// mustFail says that every send must fail.
	mustFail bool
	timeout  time.Duration
}

// echoLog records what the echoing servers received.
type echoLog struct {
	mu       sync.Mutex
	requests []string
}

func (e *echoLog) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, s)
}

func (e *echoLog) all() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.requests, "\n")
}

// echoServer answers every request with status and a body that repeats
// the request: method, URI, headers and body, as text or inside JSON
// error fields (Slack's "error", PagerDuty's "message" and "errors").
func echoServer(t *testing.T, echo *echoLog, status int, asJSON bool) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		text := fmt.Sprintf("%s %s %v %s", r.Method, r.RequestURI, r.Header, body)
		echo.add(text)
		w.Header().Set("Retry-After", "1")
		if asJSON {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]any{
				"ok": false, "status": "invalid event", "error": text, "message": text,
				"errors": []string{text}, "requestId": text,
			})
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, text)
	}))
	t.Cleanup(srv.Close)
	return "http://" + LocalHost + ":" + port(t, srv.Listener.Addr())
}

func port(t *testing.T, a net.Addr) string {
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var scenarios = []scenario{
	{name: "500 echoing the request", mustFail: true, base: func(t *testing.T, e *echoLog) string {
		return echoServer(t, e, http.StatusInternalServerError, false)
	}},
	{name: "400 echoing the request", mustFail: true, base: func(t *testing.T, e *echoLog) string {
		return echoServer(t, e, http.StatusBadRequest, false)
	}},
	{name: "403 echoing the request as JSON", mustFail: true, base: func(t *testing.T, e *echoLog) string {
		return echoServer(t, e, http.StatusForbidden, true)
	}},
	{name: "429 echoing the request", mustFail: true, base: func(t *testing.T, e *echoLog) string {
		return echoServer(t, e, http.StatusTooManyRequests, false)
	}},
	{name: "200 with a JSON error echoing the request", base: func(t *testing.T, e *echoLog) string {
		return echoServer(t, e, http.StatusOK, true)
	}},
	{name: "redirect to an internal address", mustFail: true, base: func(t *testing.T, e *echoLog) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			http.Redirect(w, r, "http://"+InternalHost+r.RequestURI, http.StatusTemporaryRedirect)
		}))
		t.Cleanup(srv.Close)
		return "http://" + LocalHost + ":" + port(t, srv.Listener.Addr())
	}},
	{name: "connection refused", mustFail: true, base: func(t *testing.T, _ *echoLog) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := port(t, l.Addr())
		l.Close()
		return "http://" + LocalHost + ":" + p
	}},
	{name: "host not found", mustFail: true, base: func(*testing.T, *echoLog) string {
		return "http://" + MissingHost + ":8080"
	}},
	{name: "internal address refused", mustFail: true, base: func(*testing.T, *echoLog) string {
		return "http://" + InternalHost + ":8080"
	}},
	{name: "timeout", mustFail: true, timeout: 300 * time.Millisecond, base: func(t *testing.T, _ *echoLog) string {
		done := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-done:
			}
		}))
		t.Cleanup(func() { close(done); srv.Close() })
		return "http://" + LocalHost + ":" + port(t, srv.Listener.Addr())
	}},
}

// Run runs the leak test.
func (lt LeakTest) Run(t *testing.T) {
	t.Helper()
	notes := lt.Notifications
	if len(notes) == 0 {
		t.Fatal("LeakTest.Notifications is empty")
	}
	echo := &echoLog{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			logger, logs := Logger()
			base := sc.base(t, echo)
			rcv, cfg := lt.New(t, base, Client(), logger)
			texts := map[string]string{}
			for i, n := range notes {
				ctx := t.Context()
				if sc.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, sc.timeout)
					defer cancel()
				}
				ref, err := rcv.Send(ctx, n)
				if sc.mustFail && err == nil {
					t.Errorf("notification %d (%s): Send succeeded, want an error", i, n.Status)
				}
				if err != nil {
					texts[fmt.Sprintf("error %d", i)] = fmt.Sprintf("%s | %v | %+v | %#v", err.Error(), err, err, err)
				}
				texts[fmt.Sprintf("ref %d", i)] = ref
			}
			texts["log"] = logs.String()
			texts["receiver"] = fmt.Sprintf("%v | %+v | %#v | %s", rcv, rcv, rcv, rcv)
			texts["config"] = fmt.Sprintf("%v | %+v | %#v", cfg, cfg, cfg)
			if b, err := json.Marshal(cfg); err == nil {
				texts["config as JSON"] = string(b)
			}
			AssertNoSecrets(t, lt.Secrets, texts)
		})
	}
	// The echoing servers must have seen a secret, or nothing was tested.
	seen := false
	wire := echo.all()
	for _, s := range lt.Secrets {
		for _, form := range encodings(s) {
			if strings.Contains(wire, form) {
				seen = true
			}
		}
	}
	if !seen {
		t.Errorf("no secret travelled in the requests the servers echoed; the test proves nothing:\n%s", wire)
	}
}
