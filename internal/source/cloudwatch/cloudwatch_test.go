package cloudwatch

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

var update = sourcetest.Update()

// samples decodes the samples in testdata with the one decoder that
// detects each. Golden lines hold the raw records except CloudTrail ones,
// which are the messages as they came.
var samples = sourcetest.Golden{
	Decoders: []source.Decoder{Decoder, FirehoseDecoder},
	Want:     sourcetest.Want{Cloud: event.AWS, Action: true, Raw: true},
	Raw:      func(e *event.Event) bool { return e.Source != event.SourceCloudTrail },
}

func TestGolden(t *testing.T) {
	samples.Test(t, "testdata", *update)
}

// The Lambda trigger wrapper, the gzipped payload and the plain payload of
// the same data give the same events.
func TestWrappersAgree(t *testing.T) {
	read := func(name string) []byte {
		path := filepath.Join("testdata", name)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("sample %s not present", name)
		}
		return samples.Decode(t, path)
	}
	plain := read("data-message.json")
	if diff := cmp.Diff(string(plain), string(read("data-message.json.gz"))); diff != "" {
		t.Errorf("gzipped payload differs:\n%s", diff)
	}
	if diff := cmp.Diff(string(plain), string(read("lambda-trigger.json"))); diff != "" {
		t.Errorf("Lambda trigger wrapper differs:\n%s", diff)
	}
}

func gzipBase64(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		doc              string
		cloudwatch, hose bool
	}{
		{`{"messageType":"DATA_MESSAGE","logEvents":[]}`, true, false},
		{`{"messageType":"CONTROL_MESSAGE","logEvents":[]}`, true, false},
		{`{"awslogs":{"data":"H4sI"}}`, true, false},
		{`{"requestId":"r","timestamp":1,"records":[{"data":"eA=="}]}`, false, true},
		{`{"requestId":"r","timestamp":1,"records":[]}`, false, true},
		{`{"invocationId":"i","deliveryStreamArn":"arn:aws:firehose:eu-west-1:1:deliverystream/s","records":[{"recordId":"1","data":"eA=="}]}`, false, true},
		{`{"Records":[{"kinesis":{"data":"eA=="}}]}`, false, false},
		{`{"records":[{"operationName":"x"}]}`, false, false},
		{`{"requestId":"r","timestamp":1,"records":[{"value":1}]}`, false, false},
		{`{"messageType":"DATA_MESSAGE"}`, false, false},
		{`{"events":[]}`, false, false},
		{`[1]`, false, false},
	} {
		root := sourcetest.Parse(t, tc.doc)
		if got := Detect(root); got != tc.cloudwatch {
			t.Errorf("Detect(%s) = %v", tc.doc, got)
		}
		if got := DetectFirehose(root); got != tc.hose {
			t.Errorf("DetectFirehose(%s) = %v", tc.doc, got)
		}
	}
}

func TestNotFormat(t *testing.T) {
	for _, tc := range []struct {
		dec    source.Decoder
		doc    string
		reason string
	}{
		{Decoder, `{"messageType":"DATA_MESSAGE","logEvents":{}}`, `"logEvents" is an object, want an array`},
		{Decoder, `{"messageType":"DATA_MESSAGE"}`, `"logEvents" is missing`},
		{Decoder, `{"messageType":"OTHER","logEvents":[]}`, `unknown "messageType" "OTHER"`},
		{Decoder, `{"messageType":5,"logEvents":[]}`, `"messageType" is a number`},
		{Decoder, `{"awslogs":{"data":7}}`, `"awslogs.data" is a number`},
		{Decoder, `{"x":1}`, `no "messageType" or "awslogs"`},
		{Decoder, `[]`, "a JSON array"},
		{FirehoseDecoder, `{"requestId":"r","records":"x"}`, `"records" is a string`},
		{FirehoseDecoder, `{"records":[]}`, `no "requestId"`},
		{FirehoseDecoder, `"x"`, "a JSON string"},
	} {
		var c source.Collect
		err := tc.dec.Decode(sourcetest.Parse(t, tc.doc), "", &c)
		if !errors.Is(err, source.ErrNotFormat) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s Decode(%s) = %v, want NotFormat with %q", tc.dec.Kind, tc.doc, err, tc.reason)
		}
		if len(c.Events)+len(c.Errors)+len(c.Notes) != 0 {
			t.Errorf("%s Decode(%s) emitted something", tc.dec.Kind, tc.doc)
		}
	}
}

func TestBadRecords(t *testing.T) {
	payload := `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","logEvents":[{"id":"1","timestamp":1,"message":"ok"}]}`
	good := gzipBase64(t, payload)
	full, _ := base64.StdEncoding.DecodeString(good)
	truncated := base64.StdEncoding.EncodeToString(full[:len(full)-6])
	doc := `{"requestId":"r","timestamp":1715680200000,"records":[
		{"data":"` + good + `"},
		{"data":"%%%"},
		{"data":"` + truncated + `"},
		{"data":""},
		{"data":"` + gzipBase64(t, `{"messageType":"DATA_MESSAGE","logEvents":[`) + `"},
		{"data":"` + gzipBase64(t, `{"messageType":"DATA_MESSAGE","logEvents":[1,{"timestamp":1},{"message":"x","timestamp":-1},{"message":"  ","timestamp":1}]}`) + `"},
		5]}`
	var c source.Collect
	if err := DecodeFirehose(sourcetest.Parse(t, doc), "body", &c); err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, e := range c.Errors {
		errs = append(errs, e.Error())
	}
	want := []string{
		"body.records[1]: invalid base64: illegal base64 data at input byte 0",
		"body.records[2]: truncated gzip data",
		"body.records[3]: empty record data",
		"body.records[4]: subscription payload: invalid JSON at byte 43: unexpected end of input",
		"body.records[5].logEvents[0]: log event is a JSON number, not an object",
		`body.records[5].logEvents[1]: "message" is missing, want a string`,
		`body.records[5].logEvents[2]: "timestamp" is a number, want milliseconds since the Unix epoch`,
		"body.records[5].logEvents[3]: empty log message",
		"body.records[6]: record is a JSON number, not an object",
	}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if len(c.Events) != 1 || c.Events[0].Source != event.SourceCloudWatch || c.Events[0].Action != ActionLog {
		t.Errorf("events %d", len(c.Events))
	}
}

func TestFirehoseRequestID(t *testing.T) {
	if got := FirehoseRequestID(sourcetest.Parse(t, `{"requestId":"ed4acda5-034f-9f42-bba1-f29aea6d7d8f","timestamp":1578090901599,"records":[]}`)); got != "ed4acda5-034f-9f42-bba1-f29aea6d7d8f" {
		t.Errorf("FirehoseRequestID = %q", got)
	}
	if got := FirehoseRequestID(sourcetest.Parse(t, `{"records":[]}`)); got != "" {
		t.Errorf("FirehoseRequestID without one = %q", got)
	}
}

func TestSplitValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`{"a":1}`, []string{`{"a":1}`}},
		{` {"a":"}{"} {"b":[1,{}]}` + "\n", []string{`{"a":"}{"}`, `{"b":[1,{}]}`}},
		{`{"a":"\"}"}{"b":2`, []string{`{"a":"\"}"}`, `{"b":2`}},
		{``, nil},
		{`]`, []string{`]`}},
	} {
		var got []string
		for _, p := range splitValues([]byte(tc.in)) {
			got = append(got, string(p))
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("splitValues(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestCloudTrailGroup(t *testing.T) {
	for group, want := range map[string]bool{
		"aws-cloudtrail-logs-111122223333-8f3a2c1d": true,
		"CloudTrail/DefaultLogGroup":                true,
		"/aws/lambda/cloudtrail-processor":          false,
		"/aws/lambda/orders-api":                    false,
		"":                                          false,
	} {
		if got := isCloudTrailGroup(group); got != want {
			t.Errorf("isCloudTrailGroup(%q) = %v", group, got)
		}
	}
	if got := trailRegion("111122223333_CloudTrail_eu-west-1"); got != "eu-west-1" {
		t.Errorf("trailRegion = %q", got)
	}
}

// A message that holds several JSON values must not shift the CloudTrail
// records that follow it.
func TestCloudTrailMessagesStayAligned(t *testing.T) {
	rec := func(id string) string {
		return `{\"eventVersion\":\"1.09\",\"eventSource\":\"iam.amazonaws.com\",\"eventName\":\"CreateUser\",\"eventTime\":\"2024-05-14T09:00:00Z\",\"eventID\":\"` + id + `\"}`
	}
	doc := `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"CloudTrail/DefaultLogGroup","logStream":"1_CloudTrail_us-east-1","logEvents":[
		{"id":"a","timestamp":1,"message":"` + rec("e1") + `,` + rec("e2") + `"},
		{"id":"b","timestamp":2,"message":"` + rec("e3") + `"}]}`
	var c source.Collect
	if err := Decode(sourcetest.Parse(t, doc), "", &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Events) != 1 || c.Events[0].ID != "e3" || len(c.Errors) != 1 || !strings.HasPrefix(c.Errors[0].Error(), "logEvents[0]: CloudTrail record: ") {
		t.Errorf("events %d, errors %v", len(c.Events), c.Errors)
	}
}
