package gcp

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, input string
		want        []string
	}{{
		name: "audit entry of a 2nd gen function",
		input: `{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","status":{"code":7,"message":"PERMISSION_DENIED"},
			"authenticationInfo":{"principalEmail":"ci@p1.iam.gserviceaccount.com","principalSubject":"serviceAccount:ci@p1.iam.gserviceaccount.com"},
			"requestMetadata":{"callerIp":"203.0.113.5","callerSuppliedUserAgent":"terraform/1.8"},
			"serviceName":"cloudfunctions.googleapis.com","methodName":"google.cloud.functions.v2.FunctionService.UpdateFunction",
			"resourceName":"projects/p1/locations/europe-west3/functions/billing"},
			"insertId":"abc","resource":{"type":"cloud_run_revision","labels":{"project_id":"p1","location":"europe-west3","service_name":"billing"}},
			"timestamp":"2024-06-01T08:00:00+02:00","logName":"projects/p1/logs/cloudaudit.googleapis.com%2Factivity"}`,
		want: []string{`{"time":"2024-06-01T06:00:00Z","cloud":"gcp","source":"gcp.audit","id":"abc","account":"p1","region":"europe-west3","service":"cloudfunctions.googleapis.com","action":"google.cloud.functions.v2.FunctionService.UpdateFunction","outcome":"failure","error_code":"PERMISSION_DENIED","principal":"ci@p1.iam.gserviceaccount.com","principal_type":"serviceAccount","source_ip":"203.0.113.5","user_agent":"terraform/1.8","function":"billing","resources":[{"type":"cloud_run_revision","uid":"projects/p1/locations/europe-west3/functions/billing"}]}`},
	}, {
		name:  "entry with only a receive timestamp",
		input: `[{"logName":"projects/p2/logs/stdout","receiveTimestamp":"2024-06-01T08:00:00.5Z","textPayload":"hi","resource":{"type":"k8s_container","labels":{"project_id":"p2","location":"europe-west1-b"}}}]`,
		want: []string{`{"time":"2024-06-01T08:00:00.5Z","cloud":"gcp","source":"gcp.logging","id":"` +
			event.DigestID(event.SourceGCPLogging, []byte(`{"logName":"projects/p2/logs/stdout","receiveTimestamp":"2024-06-01T08:00:00.5Z","textPayload":"hi","resource":{"type":"k8s_container","labels":{"project_id":"p2","location":"europe-west1-b"}}}`)) +
			`","account":"p2","region":"europe-west1-b","action":"stdout","outcome":"unknown"}`},
	}, {
		name:  "empty entries list",
		input: `{"entries":[]}`,
	}, {
		name:  "bad entries after a good one",
		input: `[{"logName":"projects/p/logs/a","timestamp":"2024-06-01T08:00:00Z","insertId":"1"},null,{"logName":"projects/p/logs/a","timestamp":{}},{"logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","timestamp":"2024-06-01T08:00:00Z","protoPayload":{"methodName":7}}]`,
		want: []string{
			`{"time":"2024-06-01T08:00:00Z","cloud":"gcp","source":"gcp.logging","id":"1","account":"p","action":"a","outcome":"unknown"}`,
			`fail: [1]: entry is not a JSON object (it is null)`,
			`fail: [2]: "timestamp" is an object, want a string`,
			`fail: [3]: audit entry without "protoPayload.methodName"`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := want.Decode(t, Decoder, tt.input, "")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotFormat(t *testing.T) {
	tests := []struct {
		dec   source.Decoder
		input string
	}{
		{Decoder, `{}`},
		{Decoder, `{"entries":[{"x":1}]}`},
		{Decoder, `[{"eventVersion":"1.08"}]`},
		{Decoder, `{"records":[]}`},
		{Decoder, `"x"`},
		{Decoder, `null`},
		{PubSubDecoder, `{"message":"x"}`},
		{PubSubDecoder, `[]`},
		{EventarcDecoder, `{"type":"google.cloud.audit.log.v1.written"}`},
		{EventarcDecoder, `{"specversion":"1.0","type":"Microsoft.Storage.BlobCreated","source":"/s","id":"1"}`},
		{EventarcDecoder, `[{"specversion":"1.0"}]`},
	}
	for _, tt := range tests {
		var c source.Collect
		err := tt.dec.Decode(sourcetest.Parse(t, tt.input), "", &c)
		if !errors.Is(err, source.ErrNotFormat) {
			t.Errorf("%s: Decode(%s) = %v, want ErrNotFormat", tt.dec.Kind, tt.input, err)
		}
		if len(c.Events)+len(c.Errors)+len(c.Notes) > 0 {
			t.Errorf("%s: Decode(%s) emitted %+v", tt.dec.Kind, tt.input, c)
		}
		if tt.dec.Detect(sourcetest.Parse(t, tt.input)) {
			t.Errorf("%s: Detect(%s) = true", tt.dec.Kind, tt.input)
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		input                 string
		gcp, pubsub, eventarc bool
	}{
		{`{"logName":"projects/p/logs/x","timestamp":"t"}`, true, false, false},
		{`{"logName":"projects/p/logs/x"}`, false, false, false},
		{`[{"logName":"projects/p/logs/x","insertId":"i"}]`, true, false, false},
		{`{"entries":[{"logName":"projects/p/logs/x","resource":{}}],"nextPageToken":"t"}`, true, false, false},
		{`{"message":{"data":"e30=","messageId":"1"},"subscription":"s"}`, false, true, false},
		{`{"message":{"attributes":{},"message_id":"1"}}`, false, true, false},
		{`{"message":"hello"}`, false, false, false},
		{`{"specversion":"1.0","type":"google.cloud.pubsub.topic.v1.messagePublished","source":"//p","id":"1"}`, false, false, true},
		{`{"specversion":"1.0","type":"Microsoft.Resources.ResourceWriteSuccess","source":"/s","id":"1"}`, false, false, false},
		{`{"records":[{"time":"t","resourceId":"/x","category":"c"}]}`, false, false, false},
	}
	for _, tt := range tests {
		v := sourcetest.Parse(t, tt.input)
		if got := Detect(v); got != tt.gcp {
			t.Errorf("Detect(%s) = %v", tt.input, got)
		}
		if got := DetectPubSub(v); got != tt.pubsub {
			t.Errorf("DetectPubSub(%s) = %v", tt.input, got)
		}
		if got := DetectEventarc(v); got != tt.eventarc {
			t.Errorf("DetectEventarc(%s) = %v", tt.input, got)
		}
	}
}

func TestMessageID(t *testing.T) {
	for input, want := range map[string]string{
		`{"message":{"data":"e30=","messageId":"111","message_id":"111"}}`:        "111",
		`{"message":{"data":"e30=","message_id":222}}`:                            "222",
		`{"specversion":"1.0","id":"333","data":{"message":{"messageId":"333"}}}`: "333",
		`{"message":{"data":"e30="}}`:                                             "",
		`{"message":{"messageId":{}}}`:                                            "",
		`[]`:                                                                      "",
	} {
		if got := MessageID(sourcetest.Parse(t, input)); got != want {
			t.Errorf("MessageID(%s) = %q, want %q", input, got, want)
		}
	}
}

func TestPubSubFailures(t *testing.T) {
	body := func(data string) string {
		return `{"message":{"data":"` + data + `","messageId":"1"},"subscription":"projects/p/subscriptions/s"}`
	}
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	tests := []struct{ input, want string }{
		{body(""), `message.data: the Pub/Sub message data is not JSON: invalid JSON at byte 0: empty input`},
		{body("%%%"), `message.data: invalid base64: illegal base64 data at input byte 0`},
		{body(base64.StdEncoding.EncodeToString([]byte(`{"a":1}`))), `message.data: the Pub/Sub message data is not a Cloud Logging LogEntry (no "logName"), an array of them, or an entries.list response; only log sinks' messages can be decoded`},
		{body(base64.StdEncoding.EncodeToString([]byte(deep))), `message.data: the Pub/Sub message data is not JSON: invalid JSON at byte 128: nesting deeper than 128 levels`},
		{body(base64.StdEncoding.EncodeToString([]byte("{\"a\":\"\xff\"}"))), `message.data: the Pub/Sub message data is not JSON: invalid JSON at byte 5: invalid UTF-8 in string`},
		{body(base64.StdEncoding.EncodeToString([]byte{0x1f, 0x8b, 8, 0, 0, 0})), `message.data: invalid gzip data: unexpected EOF`},
		{body(base64.StdEncoding.EncodeToString(truncatedGzip(t))), `message.data: truncated gzip data`},
		{`{"message":{"data":42,"messageId":"1"}}`, `message.data: is a number, want a base64 string`},
	}
	for _, tt := range tests {
		got, err := want.Decode(t, PubSubDecoder, tt.input, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != "fail: "+tt.want {
			t.Errorf("Decode(%s) = %q, want fail %q", tt.input, got, tt.want)
		}
	}
}

// truncatedGzip returns a gzip stream cut in the middle.
func truncatedGzip(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(strings.Repeat(`{"logName":"projects/p/logs/x"}`, 100))); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()[:buf.Len()/2]
}

func TestClassifyMessage(t *testing.T) {
	tests := []struct {
		msg, action string
		outcome     event.Outcome
		code        string
	}{
		{"Function execution started", event.ActionFunctionStart, event.Unknown, ""},
		{"Function execution took 5 ms, finished with status code: 204", event.ActionFunctionEnd, event.Success, ""},
		{"Function execution took 5 ms, finished with status code: 503", event.ActionFunctionEnd, event.Failure, "503"},
		{"Function execution took 5 ms, finished with status code: ", event.ActionFunctionEnd, event.Unknown, ""},
		{"Function execution took 60000 ms, finished with status: 'timeout'", event.ActionFunctionTimeout, event.Failure, "timeout"},
		{"Function execution took 5 ms, finished with status: 'weird'", event.ActionFunctionEnd, event.Unknown, ""},
		{"Function execution took 5 ms, finished with status: 'crash", event.ActionFunctionError, event.Failure, "crash"},
		{"Function execution took 5 ms", event.ActionFunctionEnd, event.Unknown, ""},
		{"Memory limit of 128 MiB exceeded with 130 MiB used.", event.ActionFunctionOOM, event.Failure, ""},
		{"hello", "", event.Unknown, ""},
	}
	for _, tt := range tests {
		var e event.Event
		classifyMessage(tt.msg, &e)
		if e.Action != tt.action || e.Outcome != tt.outcome || e.ErrorCode != tt.code {
			t.Errorf("classifyMessage(%q) = %q, %v, %q, want %q, %v, %q", tt.msg, e.Action, e.Outcome, e.ErrorCode, tt.action, tt.outcome, tt.code)
		}
	}
}

func TestHelpers(t *testing.T) {
	for in, want := range map[string]string{"us-central1-a": "us-central1", "europe-west4": "europe-west4", "global": "global", "x-": "x-", "": ""} {
		if got := zoneRegion(in); got != want {
			t.Errorf("zoneRegion(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tt := range []struct{ name, key, want string }{
		{"projects/p/locations/l/functions/f", "functions", "f"},
		{"projects/p/locations/l/functions/f/x", "functions", "f"},
		{"projects/p/locations/l", "locations", "l"},
		{"projects/p/locations", "locations", ""},
		{"functions", "functions", ""},
		{"", "functions", ""},
	} {
		if got := segmentAfter(tt.name, tt.key); got != tt.want {
			t.Errorf("segmentAfter(%q, %q) = %q, want %q", tt.name, tt.key, got, tt.want)
		}
	}
	for code, want := range map[int64]string{0: "OK", 7: "PERMISSION_DENIED", 16: "UNAUTHENTICATED", 17: "17", -1: "-1"} {
		if got := codeName(code); got != want {
			t.Errorf("codeName(%d) = %q, want %q", code, got, want)
		}
	}
}
