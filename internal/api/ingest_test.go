package api_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/source"
)

func gz(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

const trail = `{"Records":[{"eventVersion":"1.08","eventSource":"lambda.amazonaws.com","eventName":"AddPermission20150331v2"}]}`

func TestIngest(t *testing.T) {
	e := newEnv(t) // MaxBodyBytes 64 KiB
	tok := e.b.Token(authz.Ingest)
	big := `{"Records":[` + strings.Repeat(`{"eventName":"x"},`, 5000) + `{}]}` // > 64 KiB
	for _, tc := range []struct {
		name     string
		q        req
		status   int
		code     string
		wantBody string // what the backend should receive, "" for no call
	}{
		{"plain", req{path: "/api/v1/ingest/cloudtrail", body: trail}, 202, "", trail},
		{"auto", req{path: "/api/v1/ingest/auto", body: trail}, 202, "", trail},
		{"gzip", req{path: "/api/v1/ingest/cloudtrail", body: gz(t, trail), header: map[string]string{"Content-Encoding": "gzip"}}, 202, "", trail},
		{"gzip magic without header", req{path: "/api/v1/ingest/cloudtrail", body: gz(t, trail)}, 202, "", trail},
		{"lying gzip", req{path: "/api/v1/ingest/cloudtrail", body: trail, header: map[string]string{"Content-Encoding": "gzip"}}, 400, "bad_gzip", ""},
		{"truncated gzip", req{path: "/api/v1/ingest/cloudtrail", body: gz(t, trail)[:30], header: map[string]string{"Content-Encoding": "gzip"}}, 400, "bad_gzip", ""},
		{"corrupt gzip", req{path: "/api/v1/ingest/cloudtrail", body: gz(t, trail)[:10] + strings.Repeat("\x00", 40), header: map[string]string{"Content-Encoding": "gzip"}}, 400, "bad_gzip", ""},
		{"oversize", req{path: "/api/v1/ingest/cloudtrail", body: big}, 413, "too_large", ""},
		{"oversize after gunzip", req{path: "/api/v1/ingest/cloudtrail", body: gz(t, big), header: map[string]string{"Content-Encoding": "gzip"}}, 413, "too_large", ""},
		{"unsupported encoding", req{path: "/api/v1/ingest/cloudtrail", body: trail, header: map[string]string{"Content-Encoding": "br"}}, 415, "unsupported_encoding", ""},
		{"empty", req{path: "/api/v1/ingest/cloudtrail", body: " \n"}, 400, "invalid", ""},
		{"unknown kind", req{path: "/api/v1/ingest/syslog", body: trail}, 404, "unknown_kind", ""},
		{"token in query", req{path: "/api/v1/ingest/lambda?token=" + tok, body: trail}, 202, "", trail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.b.Ingests())
			q := tc.q
			q.method = "POST"
			if !strings.Contains(q.path, "token=") {
				q.token = tok
			}
			r := e.do(t, q)
			calls := e.b.Ingests()[before:]
			if tc.code != "" {
				checkError(t, tc.name, r, tc.status, tc.code)
			} else if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.wantBody == "" {
				if len(calls) != 0 {
					t.Errorf("backend called %d times for a refused request", len(calls))
				}
				return
			}
			if len(calls) != 1 || string(calls[0].Body) != tc.wantBody {
				t.Fatalf("backend calls %+v, want one with the plain body", calls)
			}
			var res api.IngestResult
			r.json(t, &res)
			if res.Accepted != 1 || res.Rejected == nil {
				t.Errorf("result %s", r.body)
			}
			if !strings.Contains(string(r.body), `"rejected":[]`) {
				t.Errorf("rejected should be [] not null: %s", r.body)
			}
		})
	}
	r := e.do(t, req{method: "POST", path: "/api/v1/ingest/syslog", token: tok, body: trail})
	for _, k := range []string{"auto", "cloudtrail", "cloudwatch", "firehose", "lambda", "azure", "gcp", "pubsub", "eventarc", "eventgrid"} {
		if !strings.Contains(string(r.body), k) {
			t.Errorf("unknown_kind message does not list %q: %s", k, r.body)
		}
	}
}

func TestIngestBackendErrors(t *testing.T) {
	e := newEnv(t)
	tok := e.b.Token(authz.Ingest)
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("publishing: %w", api.ErrBusy), 503, "busy"},
		{fmt.Errorf("decode: %w", source.NotFormat("cloudtrail", `no "Records" array`)), 400, "not_format"},
		{errors.New("disk on fire"), 500, "internal"},
	} {
		e.b.IngestFunc = func(string, []byte) (api.IngestResult, error) { return api.IngestResult{}, tc.err }
		r := e.do(t, req{method: "POST", path: "/api/v1/ingest/cloudtrail", token: tok, body: trail})
		checkError(t, tc.code, r, tc.status, tc.code)
		if tc.status == 503 && r.header.Get("Retry-After") != "1" {
			t.Errorf("busy without Retry-After: 1")
		}
		if tc.status == 500 && strings.Contains(string(r.body), "fire") {
			t.Errorf("internal error text reaches the client: %s", r.body)
		}
	}
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Error("the internal error is not logged")
	}
}

func TestIngestRejections(t *testing.T) {
	e := newEnv(t)
	e.b.IngestFunc = func(string, []byte) (api.IngestResult, error) {
		return api.IngestResult{Accepted: 2, Duplicates: 1, Rejected: []api.Rejection{{Index: 3, Error: "Records[3]: no eventName"}}}, nil
	}
	r := e.do(t, req{method: "POST", path: "/api/v1/ingest/cloudtrail", token: e.b.Token(authz.Ingest), body: trail})
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	want := `{"accepted":2,"duplicates":1,"rejected":[{"index":3,"error":"Records[3]: no eventName"}]}` + "\n"
	if string(r.body) != want {
		t.Errorf("body %s, want %s", r.body, want)
	}
}

func TestFirehose(t *testing.T) {
	e := newEnv(t)
	key := e.b.Token(authz.Ingest)
	body := `{"requestId":"body-id","timestamp":1578090901599,"records":[{"data":"e30="}]}`
	fh := func(hdr map[string]string, body string) req {
		return req{method: "POST", path: "/api/v1/ingest/firehose", body: body, header: hdr}
	}
	check := func(what string, r resp, status int, id string) map[string]any {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
		}
		if r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type %q", what, r.header.Get("Content-Type"))
		}
		var m map[string]any
		r.json(t, &m)
		if m["requestId"] != id {
			t.Errorf("%s: requestId %v, want %q", what, m["requestId"], id)
		}
		if m["timestamp"] != float64(epoch.UnixMilli()) {
			t.Errorf("%s: timestamp %v, want %d", what, m["timestamp"], epoch.UnixMilli())
		}
		if status == 200 && len(m) != 2 {
			t.Errorf("%s: success body has extra fields: %s", what, r.body)
		}
		if status != 200 {
			if msg, _ := m["errorMessage"].(string); msg == "" || len(m) != 3 {
				t.Errorf("%s: error body %s, want requestId, timestamp and errorMessage", what, r.body)
			}
		}
		return m
	}
	hdr := map[string]string{"X-Amz-Firehose-Access-Key": key, "X-Amz-Firehose-Request-Id": "hdr-id", "X-Amz-Firehose-Protocol-Version": "1.0"}
	check("success", e.do(t, fh(hdr, body)), 200, "hdr-id")
	calls := e.b.Ingests()
	if len(calls) != 1 || calls[0].Kind != "firehose" || string(calls[0].Body) != body {
		t.Fatalf("backend calls %+v", calls)
	}
	check("request ID from the body", e.do(t, fh(map[string]string{"X-Amz-Firehose-Access-Key": key}, body)), 200, "body-id")
	check("gzip", e.do(t, fh(map[string]string{"X-Amz-Firehose-Access-Key": key, "X-Amz-Firehose-Request-Id": "g", "Content-Encoding": "gzip"}, gz(t, body))), 200, "g")

	check("no key", e.do(t, fh(map[string]string{"X-Amz-Firehose-Request-Id": "a"}, body)), 401, "a")
	check("bad key", e.do(t, fh(map[string]string{"X-Amz-Firehose-Access-Key": "wrong", "X-Amz-Firehose-Request-Id": "b"}, body)), 401, "b")
	check("viewer key", e.do(t, fh(map[string]string{"X-Amz-Firehose-Access-Key": e.b.Token(authz.Viewer), "X-Amz-Firehose-Request-Id": "c"}, body)), 403, "c")
	check("too large", e.do(t, fh(map[string]string{"X-Amz-Firehose-Access-Key": key, "X-Amz-Firehose-Request-Id": "d"}, strings.Repeat(" ", 70<<10)+body)), 413, "d")
	check("lying gzip", e.do(t, fh(map[string]string{"X-Amz-Firehose-Access-Key": key, "X-Amz-Firehose-Request-Id": "e", "Content-Encoding": "gzip"}, body)), 400, "e")

	e.b.IngestFunc = func(string, []byte) (api.IngestResult, error) { return api.IngestResult{}, api.ErrBusy }
	r := e.do(t, fh(hdr, body))
	check("busy", r, 503, "hdr-id")
	if r.header.Get("Retry-After") == "" {
		t.Error("busy without Retry-After")
	}
	e.b.IngestFunc = func(string, []byte) (api.IngestResult, error) {
		return api.IngestResult{}, source.NotFormat("firehose", `"records" is missing`)
	}
	m := check("not format", e.do(t, fh(hdr, `{"hello":1}`)), 400, "hdr-id")
	if !strings.Contains(m["errorMessage"].(string), "records") {
		t.Errorf("errorMessage does not say what is wrong: %v", m["errorMessage"])
	}
	// Rejected records do not fail the delivery: a retry would not help.
	e.b.IngestFunc = func(string, []byte) (api.IngestResult, error) {
		return api.IngestResult{Accepted: 1, Rejected: []api.Rejection{{Index: 1, Error: "bad"}}}, nil
	}
	check("rejections", e.do(t, fh(hdr, body)), 200, "hdr-id")
	if !strings.Contains(e.logs.String(), "hdr-id") {
		t.Error("the Firehose request ID is not logged")
	}
}

func TestPubSubWithTokens(t *testing.T) {
	e := newEnv(t)
	body := `{"message":{"data":"e30=","messageId":"m-1"},"subscription":"projects/p/subscriptions/s"}`
	r := e.do(t, req{method: "POST", path: "/api/v1/ingest/pubsub?token=" + e.b.Token(authz.Ingest), body: body})
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if c := e.b.Ingests(); len(c) != 1 || c[0].Kind != "pubsub" {
		t.Fatalf("calls %+v", c)
	}
	e.b.IngestFunc = func(string, []byte) (api.IngestResult, error) {
		return api.IngestResult{}, source.NotFormat("pubsub", `no "message" object`)
	}
	checkError(t, "not a push body", e.do(t, req{method: "POST", path: "/api/v1/ingest/pubsub", token: e.b.Token(authz.Ingest), body: body}), 400, "not_format")
	if !strings.Contains(e.logs.String(), "m-1") {
		t.Error("the Pub/Sub message ID of a refused push is not logged")
	}
	e.b.IngestFunc = func(string, []byte) (api.IngestResult, error) { return api.IngestResult{}, api.ErrBusy }
	checkError(t, "busy", e.do(t, req{method: "POST", path: "/api/v1/ingest/pubsub", token: e.b.Token(authz.Ingest), body: body}), 503, "busy")
}

func TestEventGrid(t *testing.T) {
	e := newEnv(t)
	tok := e.b.Token(authz.Ingest)
	for _, v := range []struct{ body, code string }{
		{`[{"id":"1","topic":"/subscriptions/s","subject":"","data":{"validationCode":"512d38b6","validationUrl":"https://x"},"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2024-03-05T14:00:00Z","metadataVersion":"1","dataVersion":"1"}]`, "512d38b6"},
		{`{"specversion":"1.0","id":"1","source":"/s","type":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"ce"}}`, "ce"},
	} {
		r := e.do(t, req{method: "POST", path: "/api/v1/ingest/eventgrid?token=" + tok, body: v.body})
		if r.status != 200 || string(r.body) != `{"validationResponse":"`+v.code+`"}`+"\n" {
			t.Errorf("validation: %d %s", r.status, r.body)
		}
	}
	if n := len(e.b.Ingests()); n != 0 {
		t.Errorf("validation events were ingested (%d calls)", n)
	}
	// Unauthenticated validation is refused.
	checkError(t, "validation without token", e.do(t, req{method: "POST", path: "/api/v1/ingest/eventgrid", body: `[{"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent"}]`}), 401, "unauthorized")

	r := e.do(t, req{method: "OPTIONS", path: "/api/v1/ingest/eventgrid?token=" + tok, header: map[string]string{"WebHook-Request-Origin": "eventgrid.azure.net"}})
	if r.status != 200 || r.header.Get("WebHook-Allowed-Origin") != "eventgrid.azure.net" || r.header.Get("WebHook-Allowed-Rate") != "*" {
		t.Errorf("CloudEvents handshake: %d %v", r.status, r.header)
	}
	checkError(t, "handshake without origin", e.do(t, req{method: "OPTIONS", path: "/api/v1/ingest/eventgrid", token: tok}), 400, "invalid")
	checkError(t, "handshake with a bad origin", e.do(t, req{method: "OPTIONS", path: "/api/v1/ingest/eventgrid", token: tok, header: map[string]string{"WebHook-Request-Origin": "a b"}}), 400, "invalid")
	checkError(t, "handshake without token", e.do(t, req{method: "OPTIONS", path: "/api/v1/ingest/eventgrid", header: map[string]string{"WebHook-Request-Origin": "eventgrid.azure.net"}}), 401, "unauthorized")

	events := `[{"id":"c1","topic":"/subscriptions/S","subject":"/x","eventType":"Microsoft.Resources.ResourceWriteSuccess","eventTime":"2024-03-05T14:00:00Z","data":{}}]`
	r = e.do(t, req{method: "POST", path: "/api/v1/ingest/eventgrid?token=" + tok, body: events})
	if r.status != 202 {
		t.Fatalf("events: %d %s", r.status, r.body)
	}
	if c := e.b.Ingests(); len(c) != 1 || c[0].Kind != "eventgrid" || string(c[0].Body) != events {
		t.Errorf("calls %+v", c)
	}
	if r := e.do(t, req{method: "POST", path: "/api/v1/ingest/eventgrid?token=" + tok + "&other=1", body: events}); r.status != http.StatusAccepted {
		t.Errorf("extra query parameters on an ingest URL: %d", r.status)
	}
}

func TestPubSubSharedToken(t *testing.T) {
	const shared = "s3cret-push-token-0123456789"
	e := newEnv(t, func(o *api.Options) { o.PubSub.SharedToken = shared })
	body := `{"message":{"data":"e30=","messageId":"m-1"},"subscription":"projects/p/subscriptions/s"}`
	if r := e.do(t, req{method: "POST", path: "/api/v1/ingest/pubsub?token=" + shared, body: body}); r.status != 202 {
		t.Fatalf("shared token: %d %s", r.status, r.body)
	}
	checkError(t, "wrong shared token", e.do(t, req{method: "POST", path: "/api/v1/ingest/pubsub?token=" + shared + "x", body: body}), 401, "unauthorized")
	// The shared token is for the Pub/Sub route only.
	checkError(t, "shared token elsewhere", e.do(t, req{method: "POST", path: "/api/v1/ingest/cloudtrail?token=" + shared, body: `{}`}), 401, "unauthorized")
	if strings.Contains(e.logs.String(), shared) {
		t.Error("the shared token appears in the logs")
	}
}

func TestIngestAdmission(t *testing.T) {
	// Each of these bodies reserves 4 × 7 bytes.
	e := newEnv(t, func(o *api.Options) { o.MaxInflightBytes = 40 })
	started, release := make(chan struct{}), make(chan struct{})
	e.b.IngestFunc = func(string, []byte) (api.IngestResult, error) {
		close(started)
		<-release
		return api.IngestResult{Accepted: 1}, nil
	}
	tok := e.b.Token(authz.Ingest)
	done := make(chan int)
	go func() {
		done <- e.do(t, req{method: "POST", path: "/api/v1/ingest/auto", token: tok, body: `{"k":1}`}).status
	}()
	<-started
	// The first request holds the whole in-flight budget: the next one
	// is refused before its body is read.
	r := e.do(t, req{method: "POST", path: "/api/v1/ingest/auto", token: tok, body: `{"k":2}`})
	checkError(t, "over the in-flight limit", r, 503, "busy")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	close(release)
	if code := <-done; code != 202 {
		t.Errorf("the admitted request: %d", code)
	}
	e.b.IngestFunc = func(string, []byte) (api.IngestResult, error) { return api.IngestResult{Accepted: 1}, nil }
	if r := e.do(t, req{method: "POST", path: "/api/v1/ingest/auto", token: tok, body: `{"k":3}`}); r.status != 202 {
		t.Errorf("after the first finished: %d", r.status)
	}
}
