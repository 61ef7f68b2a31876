package lambda

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/sourcetest"
)

func TestParseLines(t *testing.T) {
	for _, tc := range []struct {
		msg     string
		action  string
		outcome event.Outcome
		code    string
		lambda  string // the raw record's "lambda" member
	}{
		{"START RequestId: r1 Version: $LATEST\n", event.ActionFunctionStart, event.Unknown, "",
			`{"type":"START","requestId":"r1","version":"$LATEST"}`},
		{"END RequestId: r1\n", event.ActionFunctionEnd, event.Success, "", `{"type":"END","requestId":"r1"}`},
		{"REPORT RequestId: r1\tDuration: 2.23 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 71 MB\tInit Duration: 143.31 ms\t\n",
			event.ActionFunctionReport, event.Success, "",
			`{"type":"REPORT","requestId":"r1","durationMs":2.23,"billedDurationMs":3,"memorySizeMB":128,"maxMemoryUsedMB":71,"initDurationMs":143.31,"outOfMemory":false}`},
		// Copied from a console, with spaces for tabs.
		{"REPORT RequestId: r1 Duration: 3000.00 ms Billed Duration: 3000 ms Memory Size: 128 MB Max Memory Used: 129 MB",
			event.ActionFunctionOOM, event.Failure, "",
			`{"type":"REPORT","requestId":"r1","durationMs":3000,"billedDurationMs":3000,"memorySizeMB":128,"maxMemoryUsedMB":129,"outOfMemory":true}`},
		{"REPORT RequestId: r1\tDuration: 6954.19 ms\tBilled Duration: 6955 ms\tMemory Size: 1024 MB\tMax Memory Used: 1023 MB\tStatus: error\tError Type: Runtime.OutOfMemory",
			event.ActionFunctionOOM, event.Failure, "Runtime.OutOfMemory",
			`{"type":"REPORT","requestId":"r1","durationMs":6954.19,"billedDurationMs":6955,"memorySizeMB":1024,"maxMemoryUsedMB":1023,"status":"error","errorType":"Runtime.OutOfMemory","outOfMemory":true}`},
		{"REPORT RequestId: r1\tDuration: 3003.12 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: timeout",
			event.ActionFunctionTimeout, event.Failure, "",
			`{"type":"REPORT","requestId":"r1","durationMs":3003.12,"billedDurationMs":3000,"memorySizeMB":128,"maxMemoryUsedMB":40,"status":"timeout","outOfMemory":false}`},
		{"INIT_REPORT Init Duration: 10007.33 ms\tPhase: init\tStatus: timeout", event.ActionFunctionInitError, event.Failure, "",
			`{"type":"INIT_REPORT","initDurationMs":10007.33,"status":"timeout","phase":"init"}`},
		{"INIT_REPORT Init Duration: 412.55 ms", event.ActionFunctionReport, event.Success, "",
			`{"type":"INIT_REPORT","initDurationMs":412.55}`},
		{"2024-05-14T10:05:31.004Z r1 Task timed out after 3.00 seconds", event.ActionFunctionTimeout, event.Failure, "",
			`{"type":"TIMEOUT","requestId":"r1","status":"timeout","timeoutSeconds":3}`},
		{"Task timed out after 900.00 seconds", event.ActionFunctionTimeout, event.Failure, "",
			`{"type":"TIMEOUT","status":"timeout","timeoutSeconds":900}`},
		{"RequestId: r1 Error: Runtime exited with error: exit status 1\nRuntime.ExitError", event.ActionFunctionError, event.Failure, "Runtime.ExitError",
			`{"type":"RUNTIME_EXIT","requestId":"r1","status":"error","errorType":"Runtime.ExitError","errorMessage":"Runtime exited with error: exit status 1"}`},
		{"RequestId: r1 Error: Runtime exited with error: signal: killed Runtime.ExitError", event.ActionFunctionOOM, event.Failure, "Runtime.ExitError",
			`{"type":"RUNTIME_EXIT","requestId":"r1","status":"error","errorType":"Runtime.ExitError","errorMessage":"Runtime exited with error: signal: killed","outOfMemory":true}`},
		{"2024-05-14T10:01:01.040Z\tundefined\tERROR\tUncaught Exception \t{\"errorType\":\"Runtime.UserCodeSyntaxError\",\"errorMessage\":\"SyntaxError: Unexpected end of input\",\"stack\":[]}",
			event.ActionFunctionInitError, event.Failure, "Runtime.UserCodeSyntaxError",
			`{"type":"UNCAUGHT_ERROR","status":"error","errorType":"Runtime.UserCodeSyntaxError","errorMessage":"SyntaxError: Unexpected end of input","level":"ERROR"}`},
		{"2024-05-14T10:01:01.040Z\tr1\tERROR\tUnhandled Promise Rejection \tnot json", event.ActionFunctionError, event.Failure, "Error",
			`{"type":"UNCAUGHT_ERROR","requestId":"r1","status":"error","errorType":"Error","level":"ERROR"}`},
		{"2024-05-14T10:01:01.040Z\tr1\tERROR\tpayment declined", event.ActionFunctionLog, event.Unknown, "",
			`{"type":"LOG","requestId":"r1","level":"ERROR"}`},
		{"[ERROR] KeyError: 'id'\nTraceback (most recent call last):\n  File \"/var/task/app.py\", line 3, in handler\n", event.ActionFunctionError, event.Failure, "KeyError",
			`{"type":"UNCAUGHT_ERROR","status":"error","errorType":"KeyError","errorMessage":"'id'","level":"ERROR"}`},
		{"[WARNING]\t2024-05-14T10:00:00.000Z\tr1\tslow", event.ActionFunctionLog, event.Unknown, "",
			`{"type":"LOG","requestId":"r1","level":"WARNING"}`},
		{"[ERROR] not an exception line", event.ActionFunctionLog, event.Unknown, "", `{"type":"LOG","level":"ERROR"}`},
		{`{"timestamp":"2024-05-14T12:00:00Z","level":"ERROR","requestId":"r1","message":{"errorType":"Error","errorMessage":"boom","stackTrace":["at x"]}}`,
			event.ActionFunctionError, event.Failure, "Error",
			`{"type":"UNCAUGHT_ERROR","requestId":"r1","status":"error","errorType":"Error","errorMessage":"boom","level":"ERROR"}`},
		{`{"errorMessage":"name 'x' is not defined","errorType":"NameError","requestId":"","stackTrace":[]}`,
			event.ActionFunctionInitError, event.Failure, "NameError",
			`{"type":"UNCAUGHT_ERROR","status":"error","errorType":"NameError","errorMessage":"name 'x' is not defined"}`},
		{`{"time":"2024-06-17T17:48:06.348Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"timeout","metrics":{"durationMs":10000.487}}}`,
			event.ActionFunctionInitError, event.Failure, "",
			`{"type":"platform.initReport","initDurationMs":10000.487,"status":"timeout","phase":"init"}`},
		{`{"time":"2022-10-12T00:00:16.000Z","type":"platform.initRuntimeDone","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ImportModuleError"}}`,
			event.ActionFunctionInitError, event.Failure, "Runtime.ImportModuleError",
			`{"type":"platform.initRuntimeDone","status":"error","errorType":"Runtime.ImportModuleError","phase":"init"}`},
		{`{"time":"2022-10-12T00:00:16.000Z","type":"platform.restoreReport","record":{"status":"success","metrics":{"durationMs":210.5}}}`,
			event.ActionFunctionReport, event.Success, "", `{"type":"platform.restoreReport","restoreDurationMs":210.5,"status":"success"}`},
		{`{"time":"2022-10-12T00:00:16.000Z","type":"platform.runtimeDone","record":{"requestId":"r1","status":"failure","errorType":"Runtime.ExitError"}}`,
			event.ActionFunctionError, event.Failure, "Runtime.ExitError",
			`{"type":"platform.runtimeDone","requestId":"r1","status":"failure","errorType":"Runtime.ExitError"}`},
		{`{"time":"2022-10-12T00:00:16.000Z","type":"platform.report","record":{"requestId":"r1","metrics":{"durationMs":"12","memorySizeMB":-1}}}`,
			event.ActionFunctionReport, event.Success, "", `{"type":"platform.report","requestId":"r1","outOfMemory":false}`},
		{`{"time":"2022-10-12T00:00:16.000Z","type":"platform.logsDropped","record":{"reason":"buffer full"}}`,
			event.ActionFunctionLog, event.Unknown, "", `{"type":"platform.logsDropped"}`},
		{"EXTENSION\tName: datadog-agent\tState: Ready\tEvents: [INVOKE,SHUTDOWN]", event.ActionFunctionLog, event.Unknown, "", `{"type":"EXTENSION"}`},
		{"LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code.", event.ActionFunctionLog, event.Unknown, "",
			`{"type":"LOG","level":"WARN"}`},
		{"{not json", event.ActionFunctionLog, event.Unknown, "", `{"type":"LOG"}`},
		{"plain output", event.ActionFunctionLog, event.Unknown, "", `{"type":"LOG"}`},
	} {
		t.Run(strings.SplitN(tc.msg, "\t", 2)[0], func(t *testing.T) {
			var c source.Collect
			DecodeMessage([]byte(tc.msg), Meta{LogGroup: "/aws/lambda/f", ID: "1", Timestamp: 1715688000000}, "logEvents[0]", &c)
			if len(c.Events) != 1 {
				t.Fatalf("got %d events, errors %v", len(c.Events), c.Errors)
			}
			e := c.Events[0]
			if e.Action != tc.action || e.Outcome != tc.outcome || e.ErrorCode != tc.code {
				t.Errorf("action %q outcome %v error %q, want %q %v %q", e.Action, e.Outcome, e.ErrorCode, tc.action, tc.outcome, tc.code)
			}
			if got := string(e.Raw.Get("lambda").Raw()); got != tc.lambda {
				t.Errorf("lambda:\n got %s\nwant %s", got, tc.lambda)
			}
			if e.Raw.Get("message").Str() != tc.msg {
				t.Errorf("raw message %q, want %q", e.Raw.Get("message").Str(), tc.msg)
			}
		})
	}
}

func TestDecodeMessageEnvelope(t *testing.T) {
	var c source.Collect
	msg := `{"time":"2024-05-14T12:00:00.344Z","type":"platform.start","record":{"requestId":"r1","functionArn":"arn:aws:lambda:eu-west-1:444455556666:function:orders-api:live","version":"3"}}`
	DecodeMessage([]byte(msg), Meta{LogGroup: "/aws/lambda/orders-api", LogStream: "2024/05/14/[3]abc", ID: "3715", Timestamp: 1715688000344, Owner: "111122223333"}, "", &c)
	if len(c.Events) != 1 {
		t.Fatalf("events %d, errors %v", len(c.Events), c.Errors)
	}
	e := c.Events[0]
	got := e.AppendJSON(nil, false)
	want := `{"time":"2024-05-14T12:00:00.344Z","cloud":"aws","source":"aws.lambda","id":"3715","account":"111122223333","region":"eu-west-1","service":"lambda.amazonaws.com","action":"function.start","outcome":"unknown","function":"orders-api","resources":[{"type":"AWS::Lambda::Function","uid":"arn:aws:lambda:eu-west-1:444455556666:function:orders-api:live"}]}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	wantRaw := `{"logGroup":"/aws/lambda/orders-api","logStream":"2024/05/14/[3]abc","id":"3715","timestamp":1715688000344,"message":` +
		string(jsondoc.AppendString(nil, msg)) + `,"lambda":{"type":"platform.start","requestId":"r1","version":"3"}}`
	if diff := cmp.Diff(wantRaw, string(e.Raw.Raw())); diff != "" {
		t.Errorf("raw (-want +got):\n%s", diff)
	}
}

func TestDecodeMessageEmpty(t *testing.T) {
	var c source.Collect
	DecodeMessage([]byte(" \n"), Meta{}, "logEvents[4]", &c)
	if len(c.Events) != 0 || len(c.Errors) != 1 || c.Errors[0].Error() != "logEvents[4]: empty log message" {
		t.Errorf("events %d, errors %v", len(c.Events), c.Errors)
	}
}

func TestFunctionFromLog(t *testing.T) {
	for _, tc := range []struct {
		group, stream, fn string
		ok                bool
	}{
		{"/aws/lambda/orders-api", "2024/05/14/[$LATEST]abc", "orders-api", true},
		{"/aws/lambda/us-east-1.edge-auth", "2024/05/14/[3]abc", "edge-auth", true},
		{"/custom/app", "2024/05/14/orders-api[$LATEST]abc", "orders-api", true},
		{"", "2024/05/14/[$LATEST]abc", "", true},
		{"/aws/lambda/", "", "", false},
		{"/aws/apigateway/welcome", "ee/abc", "", false},
		{"CloudTrail/DefaultLogGroup", "111122223333_CloudTrail_us-east-1", "", false},
		{"", "2024/05/14/no-brackets", "", false},
	} {
		fn, ok := FunctionFromLog(tc.group, tc.stream)
		if fn != tc.fn || ok != tc.ok {
			t.Errorf("FunctionFromLog(%q, %q) = %q, %v; want %q, %v", tc.group, tc.stream, fn, ok, tc.fn, tc.ok)
		}
	}
}

func TestDecodeTextTailPrefix(t *testing.T) {
	for _, tc := range []struct {
		line, msg, stream string
		ts                int64
	}{
		{"2024-08-18T11:04:11.750000+00:00 2024/08/18/[$LATEST]60ce INIT_REPORT Init Duration: 1670.77 ms", "INIT_REPORT Init Duration: 1670.77 ms", "2024/08/18/[$LATEST]60ce", 1723979051750},
		{"2024/08/18/[$LATEST]60ce 2024-08-18T11:04:11.524000 [ERROR] Runtime.ImportModuleError: x", "[ERROR] Runtime.ImportModuleError: x", "2024/08/18/[$LATEST]60ce", 1723979051524},
		{"2024-05-14T10:05:31.004Z r1 Task timed out after 30.03 seconds", "2024-05-14T10:05:31.004Z r1 Task timed out after 30.03 seconds", "", 1715681131004},
		{"2024-05-14T10:00:00.215Z\tr1\tINFO\tGET /", "2024-05-14T10:00:00.215Z\tr1\tINFO\tGET /", "", 1715680800215},
		{"END RequestId: r1\r\n", "END RequestId: r1", "", 0},
	} {
		var c source.Collect
		if err := DecodeText([]byte(tc.line), "line 1", &c); err != nil || len(c.Events) != 1 {
			t.Fatalf("DecodeText(%q): %v, %d events, errors %v", tc.line, err, len(c.Events), c.Errors)
		}
		raw := c.Events[0].Raw
		ts, _ := raw.Get("timestamp").Int()
		if raw.Get("message").Str() != tc.msg || raw.Get("logStream").Str() != tc.stream || ts != tc.ts {
			t.Errorf("DecodeText(%q): message %q stream %q timestamp %d", tc.line, raw.Get("message").Str(), raw.Get("logStream").Str(), ts)
		}
	}
	var c source.Collect
	if err := DecodeText([]byte("  \r\n"), "line 2", &c); err != nil || len(c.Events)+len(c.Errors) != 0 {
		t.Errorf("blank line: %v, %d events, %d errors", err, len(c.Events), len(c.Errors))
	}
}

// Identical lines without time or ID get distinct IDs at distinct places and
// the same ID on replay.
func TestDigestIDs(t *testing.T) {
	id := func(where string) string {
		var c source.Collect
		_ = DecodeText([]byte("./bootstrap: error while loading shared libraries"), where, &c)
		return c.Events[0].ID
	}
	first, again := id("line 3"), id("line 3")
	if first == id("line 9") || first != again {
		t.Error("digest IDs do not tell lines apart or are not stable")
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{`{"time":"2024-05-14T12:00:00Z","type":"platform.report","record":{}}`, true},
		{`{"timestamp":"2024-05-14T12:00:00Z","level":"INFO","requestId":"r1","message":"x"}`, true},
		{`{"timestamp":"2024-05-14T12:00:00Z","log_level":"ERROR","requestId":"","errorType":"E","errorMessage":"m"}`, true},
		{`{"errorType":"E","errorMessage":"m","stackTrace":[]}`, true},
		{`{"events":[{"logStreamName":"2024/05/14/[$LATEST]ab","timestamp":1,"message":"hello"}]}`, true},
		{`{"events":[{"timestamp":1,"message":"x"},{"timestamp":2,"message":"REPORT RequestId: r"}]}`, true},
		{`{"events":[{"logStreamName":"i-0abc","timestamp":1,"message":"GET / 200"}]}`, false},
		{`{"events":"x"}`, false},
		{`{"type":"platform.report"}`, false},
		{`{"level":"INFO","message":"x"}`, false},
		{`{"Records":[]}`, false},
		{`{"messageType":"DATA_MESSAGE","logEvents":[]}`, false},
		{`[1]`, false},
	} {
		if got := Detect(sourcetest.Parse(t, tc.doc)); got != tc.want {
			t.Errorf("Detect(%s) = %v, want %v", tc.doc, got, tc.want)
		}
	}
}

func TestDecodeEventsBadEntries(t *testing.T) {
	doc := `{"events":[{"timestamp":1715688000000,"message":"START RequestId: r1 Version: 1","eventId":"a"},
		7, {"timestamp":"soon","message":"x"}, {"timestamp":1}, {"message":""}, {"message":"no time"}]}`
	var c source.Collect
	if err := Decode(sourcetest.Parse(t, doc), "line 1", &c); err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, e := range c.Errors {
		errs = append(errs, e.Error())
	}
	want := []string{
		"line 1.events[1]: log event is a JSON number, not an object",
		`line 1.events[2]: "timestamp" is a string, want milliseconds since the Unix epoch`,
		`line 1.events[3]: "message" is missing, want a string`,
		"line 1.events[4]: empty log message",
	}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if len(c.Events) != 2 || c.Events[0].ID != "a" || !c.Events[0].Time.Equal(time.UnixMilli(1715688000000)) || !c.Events[1].Time.IsZero() {
		t.Errorf("events: %d", len(c.Events))
	}
	for _, e := range c.Events {
		if e.Raw.Get("lambda").Kind() != jsondoc.Object {
			t.Errorf("raw %s", e.Raw.Raw())
		}
	}
}

func TestDecodeNotFormat(t *testing.T) {
	for _, doc := range []string{`[1,2]`, `"x"`, `{"events":{}}`} {
		var c source.Collect
		err := Decode(sourcetest.Parse(t, doc), "", &c)
		if !errors.Is(err, source.ErrNotFormat) || len(c.Events)+len(c.Errors) != 0 {
			t.Errorf("Decode(%s) = %v with %d events", doc, err, len(c.Events))
		}
	}
}

func TestDetectText(t *testing.T) {
	for line, want := range map[string]bool{
		"INIT_START Runtime Version: nodejs:20.v22\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:786a": true,
		"START RequestId: 74166e47-70a2-4a1d-8663-b8c4cf6889f4 Version: $LATEST":                                 true,
		"2024-05-14T10:00:00.215Z\t74166e47-70a2-4a1d-8663-b8c4cf6889f4\tINFO\tGET /orders":                      true,
		"[INFO]\t2024-05-14T10:08:00.125Z\t1c5d339c-2cde-45e2-97a5-c346a741e07f\tloading":                        true,
		"[ERROR] Runtime.ImportModuleError: Unable to import module 'app': No module named 'requests'":           true,
		"2024-05-14T10:05:31.004Z 08dc9ae5-c202-48b8-b62e-ab730ea74df1 Task timed out after 30.03 seconds":       true,
		"RequestId: 1c5d Error: Runtime exited with error: signal: killed":                                       true,
		"2024-08-18T11:04:11.750000+00:00 2024/08/18/[$LATEST]60ce REPORT RequestId: r\tDuration: 1 ms":          true,
		"Nov 22 15:32:01 host sshd[812]: Accepted publickey for root":                                            false,
		"2024-05-14T10:00:00Z INFO server started":                                                               false,
		"[notice] mod_ssl started": false,
		"127.0.0.1 - - [14/May/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 612": false,
		"hello": false,
	} {
		if got := DetectText([]byte(line)); got != want {
			t.Errorf("DetectText(%q) = %v, want %v", line, got, want)
		}
	}
}
