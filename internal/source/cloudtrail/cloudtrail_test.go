package cloudtrail

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

var update = sourcetest.Update()

// samples decodes the samples in testdata as the decode command does.
var samples = sourcetest.Golden{
	Decoders: []source.Decoder{Decoder},
	Want:     sourcetest.Want{Cloud: event.AWS, Sources: []string{event.SourceCloudTrail}, Time: true, Raw: true},
}

// TestGolden decodes every sample and compares the result with
// testdata/golden/<sample>.jsonl. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	samples.Test(t, "testdata", *update)
}

// The gzipped and plain S3 delivery samples must decode alike.
func TestGzipSameAsPlain(t *testing.T) {
	for _, name := range []string{"testdata/s3-delivery.json", "testdata/s3-delivery.json.gz"} {
		if _, err := os.Stat(name); err != nil {
			t.Skip("sample not present")
		}
	}
	plain := samples.Decode(t, "testdata/s3-delivery.json")
	gz := samples.Decode(t, "testdata/s3-delivery.json.gz")
	if diff := cmp.Diff(string(plain), string(gz)); diff != "" {
		t.Errorf("gzip decode differs:\n%s", diff)
	}
}

const minimal = `{"eventVersion":"1.09","eventTime":"2024-05-14T09:43:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventID":"e1"}`

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want bool
	}{
		{"delivery file", `{"Records":[` + minimal + `]}`, true},
		{"empty delivery file", `{"Records":[]}`, true},
		{"insights file", `{"Records":[{"eventVersion":"1.07","eventType":"AwsCloudTrailInsight"}]}`, true},
		{"array", `[` + minimal + `]`, true},
		{"single record", minimal, true},
		{"lookup-events", `{"Events":[{"EventId":"x","CloudTrailEvent":"{}"}]}`, true},
		{"eventbridge", `{"detail-type":"AWS API Call via CloudTrail","detail":{}}`, true},
		{"eventbridge sign-in", `{"detail-type":"AWS Console Sign In via CloudTrail","detail":{}}`, true},
		{"digest", `{"digestStartTime":"2024-05-14T09:01:47Z","logFiles":[]}`, true},
		{"lake results", `{"QueryStatus":"FINISHED","QueryResultRows":[]}`, true},
		{"s3 notification", `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"2024-05-14T09:43:00Z","eventName":"ObjectCreated:Put"}]}`, false},
		{"sqs event", `{"Records":[{"messageId":"1","eventSource":"aws:sqs"}]}`, false},
		{"records not array", `{"Records":"x"}`, true},
		{"other eventbridge", `{"detail-type":"EC2 Instance State-change Notification","detail":{}}`, false},
		{"cloudwatch", `{"messageType":"DATA_MESSAGE","logEvents":[]}`, false},
		{"gcp audit", `{"protoPayload":{"methodName":"x"},"logName":"projects/p/logs/x"}`, false},
		{"azure", `{"records":[{"operationName":"x","time":"2024-05-14T09:43:00Z"}]}`, false},
		{"empty object", `{}`, false},
		{"empty array", `[]`, false},
		{"string", `"Records"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(sourcetest.Parse(t, tc.doc)); got != tc.want {
				t.Errorf("Detect(%s) = %v, want %v", tc.doc, got, tc.want)
			}
		})
	}
}

func TestDecodeBadInput(t *testing.T) {
	for _, tc := range []struct {
		name      string
		doc       string
		notFormat string   // substring of the NotFormat error, if one is expected
		errs      []string // record errors, as Error() strings
		events    int
		notes     int
	}{
		{name: "records not array", doc: `{"Records":{"a":1}}`, notFormat: `"Records" is an object, not an array`},
		{name: "s3 notifications", doc: `{"Records":[{"eventSource":"aws:s3"}]}`, notFormat: "aws:s3 event notifications"},
		{name: "unrelated object", doc: `{"a":1}`, notFormat: `no "Records" array`},
		{name: "number", doc: `42`, notFormat: "a JSON number"},
		{name: "array of numbers", doc: `[1,2]`, notFormat: "first array element"},
		{name: "events not array", doc: `{"Events":"x"}`, notFormat: `"Events" is a string`},
		{name: "record not object", doc: `{"Records":[` + minimal + `,7,null]}`, events: 1,
			errs: []string{"Records[1]: record is a JSON number, not an object", "Records[2]: record is a JSON null, not an object"}},
		{name: "missing eventName", doc: `{"Records":[{"eventVersion":"1","eventSource":"a.amazonaws.com","eventTime":"2024-05-14T09:43:00Z"}]}`,
			errs: []string{`Records[0]: record has no "eventName"`}},
		{name: "missing eventTime", doc: `{"Records":[{"eventName":"X"}]}`, errs: []string{`Records[0]: record has no "eventTime"`}},
		{name: "eventName wrong type", doc: `{"Records":[{"eventName":5,"eventTime":"2024-05-14T09:43:00Z"}]}`,
			errs: []string{`Records[0]: "eventName" is not a non-empty string`}},
		{name: "eventTime wrong type", doc: `{"Records":[{"eventName":"X","eventTime":true}]}`,
			errs: []string{`Records[0]: "eventTime" is a true, not a string`}},
		{name: "bad eventTime", doc: `{"Records":[{"eventName":"X","eventTime":"yesterday"}]}`,
			errs: []string{`Records[0]: invalid "eventTime" "yesterday": want RFC 3339 such as 2024-05-14T09:21:30Z`}},
		{name: "lookup event bad nested JSON", doc: `{"Events":[{"EventId":"a","CloudTrailEvent":"{\"eventName\":"}]}`,
			errs: []string{"Events[0].CloudTrailEvent: invalid JSON at byte 13: unexpected end of input"}},
		{name: "lookup event nested not object", doc: `{"Events":[{"EventId":"a","CloudTrailEvent":"[1]"}]}`,
			errs: []string{"Events[0].CloudTrailEvent: record is not a JSON object"}},
		{name: "eventbridge no detail", doc: `{"detail-type":"AWS API Call via CloudTrail","detail":"x"}`,
			errs: []string{`EventBridge event has no "detail" object`}},
		{name: "eventbridge bad detail", doc: `[{"detail-type":"AWS API Call via CloudTrail","time":"2024-05-14T09:43:00Z","detail":{}}]`,
			errs: []string{`[0].detail: record has no "eventName"`}},
		{name: "empty records", doc: `{"Records":[]}`, notes: 1},
		{name: "empty lookup", doc: `{"Events":[]}`, notes: 1},
		{name: "lake results", doc: `{"QueryStatus":"FINISHED","QueryResultRows":[[{"eventName":"X"}]]}`, notes: 1},
		{name: "insight only", doc: `{"eventVersion":"1.07","eventType":"AwsCloudTrailInsight","eventTime":"2024-05-14T09:43:00Z"}`, notes: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c source.Collect
			err := Decode(sourcetest.Parse(t, tc.doc), "", &c)
			if tc.notFormat != "" {
				if !errors.Is(err, source.ErrNotFormat) || !strings.Contains(err.Error(), tc.notFormat) {
					t.Fatalf("Decode error = %v, want NotFormat containing %q", err, tc.notFormat)
				}
				if len(c.Events)+len(c.Errors)+len(c.Notes) != 0 {
					t.Errorf("NotFormat but emitted %d events, %d errors, %d notes", len(c.Events), len(c.Errors), len(c.Notes))
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			var errs []string
			for _, e := range c.Errors {
				errs = append(errs, e.Error())
			}
			if diff := cmp.Diff(tc.errs, errs); diff != "" {
				t.Errorf("record errors (-want +got):\n%s", diff)
			}
			if len(c.Events) != tc.events || len(c.Notes) != tc.notes {
				t.Errorf("got %d events and notes %q, want %d events and %d notes", len(c.Events), c.Notes, tc.events, tc.notes)
			}
		})
	}
}

func TestWherePrefix(t *testing.T) {
	var c source.Collect
	if err := Decode(sourcetest.Parse(t, `{"Records":[1]}`), "line 7", &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Errors) != 1 || c.Errors[0].Where != "line 7.Records[0]" {
		t.Errorf("errors = %v, want one at line 7.Records[0]", c.Errors)
	}
}

// envelope is the comparable part of an event.
type envelope struct {
	Time                                         time.Time
	Cloud, Source, ID, Account, Region, Service  string
	Action, Outcome, ErrorCode, Principal, PType string
	SourceIP, UserAgent, Function                string
	Resources                                    []event.Resource
}

func envelopeOf(e *event.Event) envelope {
	return envelope{e.Time, e.Cloud, e.Source, e.ID, e.Account, e.Region, e.Service, e.Action, e.Outcome.String(),
		e.ErrorCode, e.Principal, e.PrincipalType, e.SourceIP, e.UserAgent, e.Function, e.Resources}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  string
		want envelope
	}{
		{
			name: "assumed role lambda update with function ARN",
			rec: `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROA1:s","arn":"arn:aws:sts::111122223333:assumed-role/r/s","accountId":"111122223333"},
				"eventTime":"2024-05-14T09:21:30.5Z","eventSource":"lambda.amazonaws.com","eventName":"UpdateFunctionCode20150331v2","awsRegion":"us-east-1",
				"sourceIPAddress":"198.51.100.23","userAgent":"aws-cli/2","requestParameters":{"functionName":"arn:aws:lambda:us-east-1:111122223333:function:orders-api:live"},
				"responseElements":{"functionName":"orders-api","functionArn":"arn:aws:lambda:us-east-1:111122223333:function:orders-api"},"eventID":"id-1","recipientAccountId":"111122223333"}`,
			want: envelope{Time: time.Date(2024, 5, 14, 9, 21, 30, 5e8, time.UTC), Cloud: "aws", Source: "aws.cloudtrail", ID: "id-1",
				Account: "111122223333", Region: "us-east-1", Service: "lambda.amazonaws.com", Action: "UpdateFunctionCode20150331v2",
				Outcome: "success", Principal: "arn:aws:sts::111122223333:assumed-role/r/s", PType: "AssumedRole", SourceIP: "198.51.100.23",
				UserAgent: "aws-cli/2", Function: "orders-api",
				Resources: []event.Resource{{Type: "AWS::Lambda::Function", UID: "arn:aws:lambda:us-east-1:111122223333:function:orders-api"}}},
		},
		{
			name: "failed call, service principal, non-IP source, account from identity",
			rec: `{"userIdentity":{"type":"AWSService","invokedBy":"events.amazonaws.com","accountId":"444455556666"},"eventTime":"2024-05-14T09:00:00+02:00",
				"eventSource":"lambda.amazonaws.com","eventName":"Invoke","sourceIPAddress":"events.amazonaws.com","errorCode":"AccessDenied",
				"requestParameters":{"functionName":"report-builder"},"eventID":"id-2"}`,
			want: envelope{Time: time.Date(2024, 5, 14, 7, 0, 0, 0, time.UTC), Cloud: "aws", Source: "aws.cloudtrail", ID: "id-2",
				Account: "444455556666", Service: "lambda.amazonaws.com", Action: "Invoke", Outcome: "failure", ErrorCode: "AccessDenied",
				Principal: "events.amazonaws.com", PType: "AWSService", Function: "report-builder"},
		},
		{
			name: "principalId fallback and IPv6",
			rec: `{"userIdentity":{"type":"AWSAccount","principalId":"AIDAX","accountId":"444455556666"},"eventTime":"2024-05-14T09:00:00Z",
				"eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"2001:db8::1","recipientAccountId":"111122223333","eventID":"id-3",
				"resources":[{"type":"AWS::S3::Object","ARNPrefix":"arn:aws:s3:::b/k"},{"type":"AWS::S3::Bucket"}]}`,
			want: envelope{Time: time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC), Cloud: "aws", Source: "aws.cloudtrail", ID: "id-3",
				Account: "111122223333", Service: "s3.amazonaws.com", Action: "GetObject", Outcome: "success", Principal: "AIDAX", PType: "AWSAccount",
				SourceIP: "2001:db8::1", Resources: []event.Resource{{Type: "AWS::S3::Object", UID: "arn:aws:s3:::b/k"}}},
		},
		{
			name: "console login failure",
			rec: `{"userIdentity":{"type":"IAMUser","accountId":"111122223333","accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"},"eventTime":"2024-05-14T09:00:00Z",
				"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"},"eventID":"id-4"}`,
			want: envelope{Time: time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC), Cloud: "aws", Source: "aws.cloudtrail", ID: "id-4",
				Account: "111122223333", Service: "signin.amazonaws.com", Action: "ConsoleLogin", Outcome: "failure",
				Principal: "HIDDEN_DUE_TO_SECURITY_REASONS", PType: "IAMUser"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev event.Event
			rec := sourcetest.Parse(t, tc.rec)
			if err := Normalize(rec, &ev); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, envelopeOf(&ev)); diff != "" {
				t.Errorf("envelope (-want +got):\n%s", diff)
			}
			if !bytes.Equal(ev.Raw.Raw(), rec.Raw()) {
				t.Errorf("Raw is not the record")
			}
		})
	}
}

func TestNormalizeDigestIDWithoutEventID(t *testing.T) {
	rec := sourcetest.Parse(t, `{"eventTime":"2024-05-14T09:00:00Z","eventName":"X"}`)
	var a, b event.Event
	if err := Normalize(rec, &a); err != nil {
		t.Fatal(err)
	}
	if err := Normalize(sourcetest.Parse(t, `{"eventTime":"2024-05-14T09:00:00Z","eventName":"X"}`), &b); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.ID, "sha256:") || a.ID != b.ID {
		t.Errorf("IDs %q and %q, want one stable digest", a.ID, b.ID)
	}
}

// The raw record of a lookup-events entry and of an EventBridge event is the
// inner CloudTrail record, and the wrapper's time and id fill gaps.
func TestWrappersRaw(t *testing.T) {
	var c source.Collect
	doc := `{"Events":[{"EventId":"outer","EventTime":1715679000,"CloudTrailEvent":"{\"eventName\":\"ListBuckets\"}"}]}`
	if err := Decode(sourcetest.Parse(t, doc), "", &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Events) != 1 {
		t.Fatalf("events %d, errors %v", len(c.Events), c.Errors)
	}
	e := c.Events[0]
	if string(e.Raw.Raw()) != `{"eventName":"ListBuckets"}` || e.ID != "outer" || !e.Time.Equal(time.Unix(1715679000, 0)) {
		t.Errorf("lookup event: raw %s id %q time %v", e.Raw.Raw(), e.ID, e.Time)
	}

	c = source.Collect{}
	doc = `{"id":"eb-1","detail-type":"AWS Service Event via CloudTrail","time":"2024-05-14T09:00:00Z","account":"111122223333","region":"eu-west-1",
		"detail":{"eventName":"RotationSucceeded","eventSource":"secretsmanager.amazonaws.com","eventType":"AwsServiceEvent"}}`
	if err := Decode(sourcetest.Parse(t, doc), "", &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Events) != 1 {
		t.Fatalf("events %d, errors %v", len(c.Events), c.Errors)
	}
	e = c.Events[0]
	want := envelope{Time: time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC), Cloud: "aws", Source: "aws.cloudtrail", ID: "eb-1",
		Account: "111122223333", Region: "eu-west-1", Service: "secretsmanager.amazonaws.com", Action: "RotationSucceeded", Outcome: "success"}
	if diff := cmp.Diff(want, envelopeOf(e)); diff != "" {
		t.Errorf("eventbridge envelope (-want +got):\n%s", diff)
	}
	if e.Raw.Get("eventType").Str() != "AwsServiceEvent" {
		t.Errorf("raw is not detail: %s", e.Raw.Raw())
	}
}

func TestNeverPanics(t *testing.T) {
	deep := strings.Repeat(`{"Records":[`, 60) + strings.Repeat("]}", 60)
	for _, in := range []string{"", "{", deep, "\xff\xfe", `{"Records":[{"eventName":"\ud800","eventTime":"2024-05-14T09:00:00Z","eventSource":"lambda.amazonaws.com","requestParameters":{"functionName":":function:"}}]}`,
		`{"Records":[{"eventTime":"2024-05-14T09:00:00Z","eventName":"X","sourceIPAddress":"1","resources":[1,{"ARN":5}]}]}`} {
		var d jsondoc.Doc
		if d.Parse([]byte(in)) != nil {
			continue
		}
		var c source.Collect
		Detect(d.Root())
		_ = Decode(d.Root(), "", &c)
	}
}
