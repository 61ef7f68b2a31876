package api_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/apitest"
	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/source"
)

// documented are the statuses the ingest routes may answer.
var documented = []int{200, 202, 400, 401, 403, 404, 405, 413, 415, 503}

const fuzzMaxBody = 4096

var fuzzKinds = []string{"auto", "cloudtrail", "cloudwatch", "lambda", "azure", "gcp", "eventarc", "syslog", ""}

// FuzzIngestHandlers sends random bodies and headers to the ingest routes
// and checks that they answer only documented statuses in the documented
// shapes, and hand the backend only bounded, authorized bodies.
func FuzzIngestHandlers(f *testing.F) {
	f.Add(byte(0), byte(0), byte(0), "req-1", []byte(`{"requestId":"r","timestamp":1,"records":[{"data":"e30="}]}`))
	f.Add(byte(1), byte(1), byte(1), "", []byte(`{"message":{"data":"e30=","messageId":"1"}}`))
	f.Add(byte(2), byte(0), byte(1), "", []byte(`[{"id":"1","subject":"","data":{"validationCode":"c"},"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2024-03-05T14:00:00Z"}]`))
	f.Add(byte(3), byte(0), byte(0), "eventgrid.azure.net", []byte{})
	f.Add(byte(5), byte(0x81), byte(0), "", []byte(`{"Records":[]}`))
	f.Add(byte(6), byte(1), byte(3), "x", []byte("!not the format"))
	f.Fuzz(func(t *testing.T, route, enc, auth byte, hdr string, body []byte) {
		fake := apitest.New(nil)
		fake.IngestFunc = func(kind string, body []byte) (api.IngestResult, error) {
			switch {
			case bytes.HasPrefix(body, []byte("B")):
				return api.IngestResult{}, api.ErrBusy
			case bytes.HasPrefix(body, []byte("!")):
				return api.IngestResult{}, source.NotFormat(kind, "fuzz")
			case bytes.HasPrefix(body, []byte("R")):
				return api.IngestResult{Accepted: 1, Rejected: []api.Rejection{{Index: 0, Error: string(body[:min(len(body), 40)])}}}, nil
			}
			return api.IngestResult{Accepted: 1}, nil
		}
		h := api.New(fake, api.Options{MaxBodyBytes: fuzzMaxBody})

		method, path := http.MethodPost, ""
		firehose := route%8 == 0
		switch route % 8 {
		case 0:
			path = "/api/v1/ingest/firehose"
		case 1:
			path = "/api/v1/ingest/pubsub"
		case 2:
			path = "/api/v1/ingest/eventgrid"
		case 3:
			method, path = http.MethodOptions, "/api/v1/ingest/eventgrid"
		default:
			path = "/api/v1/ingest/" + fuzzKinds[int(route/8)%len(fuzzKinds)]
		}
		payload := body
		if enc&0x80 != 0 {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(body)
			zw.Close()
			payload = buf.Bytes()
		}
		tok := fake.Token(authz.Ingest)
		switch auth % 5 {
		case 1:
			path += "?token=" + tok
		case 3:
			tok = fake.Token(authz.Viewer)
		case 4:
			tok = hdr
		}
		r := httptest.NewRequest(method, path, bytes.NewReader(payload))
		switch auth % 5 {
		case 0, 3, 4:
			r.Header.Set("Authorization", "Bearer "+tok)
		case 2:
			r.Header.Set("X-Amz-Firehose-Access-Key", tok)
		}
		switch enc & 3 {
		case 1:
			r.Header.Set("Content-Encoding", "gzip")
		case 2:
			r.Header.Set("Content-Encoding", hdr)
		}
		r.Header.Set("X-Amz-Firehose-Request-Id", hdr)
		r.Header.Set("WebHook-Request-Origin", hdr)
		r.Header.Set("X-Request-Id", hdr)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		res := w.Result()
		if !slices.Contains(documented, res.StatusCode) {
			t.Fatalf("%s %s: undocumented status %d: %s", method, path, res.StatusCode, w.Body.Bytes())
		}
		if res.Header.Get("X-Request-Id") == "" {
			t.Fatal("no X-Request-Id")
		}
		calls := fake.Ingests()
		for _, c := range calls {
			if len(c.Body) > fuzzMaxBody {
				t.Fatalf("backend got %d bytes, over the %d limit", len(c.Body), fuzzMaxBody)
			}
		}
		if len(calls) > 1 {
			t.Fatalf("%d backend calls for one request", len(calls))
		}
		if len(calls) == 1 && auth%5 >= 3 && tok != fake.Token(authz.Ingest) {
			t.Fatal("the backend was called for an unauthorized request")
		}
		if method == http.MethodOptions && res.StatusCode == 200 {
			if w.Body.Len() != 0 || res.Header.Get("WebHook-Allowed-Origin") != hdr {
				t.Fatalf("handshake answer: %v %q", res.Header, w.Body.Bytes())
			}
			return
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("body is not JSON: %q", w.Body.Bytes())
		}
		switch {
		case firehose:
			_, hasID := m["requestId"].(string)
			_, hasTS := m["timestamp"].(float64)
			msg, hasMsg := m["errorMessage"].(string)
			if !hasID || !hasTS || hasMsg != (res.StatusCode != 200) || (hasMsg && msg == "") {
				t.Fatalf("Firehose answer %d: %s", res.StatusCode, w.Body.Bytes())
			}
		case res.StatusCode >= 400:
			if s, _ := m["error"].(string); s == "" || m["code"] == nil || len(m) != 2 {
				t.Fatalf("error answer %d: %s", res.StatusCode, w.Body.Bytes())
			}
		case res.StatusCode == 202:
			if _, ok := m["accepted"]; !ok || len(calls) != 1 {
				t.Fatalf("202 answer %s with %d calls", w.Body.Bytes(), len(calls))
			}
		}
	})
}
