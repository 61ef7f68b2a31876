// Package lambda decodes AWS Lambda platform and application logs, as Lambda
// writes them to CloudWatch Logs in the text and in the JSON log format.
//
// Every log message becomes one event with cloud "aws", source "aws.lambda",
// service "lambda.amazonaws.com" and one of the event.ActionFunction*
// actions:
//
//	START, platform.start, INIT_START, platform.initStart,
//	RESTORE_START, platform.restoreStart                      function.start
//	END, platform.runtimeDone (success),
//	platform.initRuntimeDone (success)                        function.end
//	REPORT, platform.report, INIT_REPORT, platform.initReport,
//	RESTORE_REPORT, platform.restoreReport (success)          function.report
//	"Task timed out after N seconds", a report or
//	runtimeDone with status timeout                           function.timeout
//	a report or runtimeDone with max memory used >= memory
//	size or error type Runtime.OutOfMemory, and
//	"Runtime exited with error: signal: killed"               function.out_of_memory
//	an init or restore report or runtime-done event with a
//	status other than success, and uncaught errors of a
//	function that failed to load (Runtime.ImportModuleError,
//	Runtime.UserCodeSyntaxError, Node.js "Uncaught Exception"
//	with request ID "undefined", ...)                         function.init_error
//	other uncaught errors (Node.js "Invoke Error", Python
//	"[ERROR] Type: message", JSON {"errorType",...}),
//	"Runtime exited with error", reports with status error    function.error
//	application log lines                                     function.log
//
// Timeouts, errors, init errors and out-of-memory events have outcome
// failure; reports without a failure status and ends have outcome success;
// starts and application logs have no outcome.
//
// The event's raw record is a JSON document the decoder builds, so that
// rules read the figures of a REPORT line as numbers:
//
//	{
//	  "logGroup": "/aws/lambda/orders-api",       // when known
//	  "logStream": "2024/05/14/[$LATEST]51c2…",   // when known
//	  "id": "3715…",                              // CloudWatch Logs event ID, when known
//	  "timestamp": 1715679000757,                 // ms since the Unix epoch, when known
//	  "message": "REPORT RequestId: …",           // the log message as written
//	  "lambda": {
//	    "type": "REPORT",           // START, END, REPORT, INIT_START, INIT_REPORT, RESTORE_START,
//	                                // RESTORE_REPORT, XRAY, EXTENSION, TELEMETRY, LOGS, TIMEOUT,
//	                                // RUNTIME_EXIT, UNCAUGHT_ERROR, LOG, or the JSON format's
//	                                // platform.* event type
//	    "requestId": "bafb9512-…",
//	    "version": "$LATEST",
//	    "durationMs": 101.84,
//	    "billedDurationMs": 102,
//	    "memorySizeMB": 256,
//	    "maxMemoryUsedMB": 87,
//	    "initDurationMs": 242.61,
//	    "restoreDurationMs": 310.2,
//	    "billedRestoreDurationMs": 311,
//	    "status": "timeout",        // success, error, failure or timeout
//	    "errorType": "Runtime.ExitError",
//	    "errorMessage": "…",
//	    "level": "ERROR",           // application log level
//	    "phase": "init",            // init or invoke, for init reports
//	    "runtimeVersion": "nodejs:20.v22",
//	    "runtimeVersionArn": "arn:aws:lambda:us-east-1::runtime:…",
//	    "outOfMemory": false,       // on reports, and on out-of-memory events
//	    "timeoutSeconds": 30.03
//	  }
//	}
//
// Only the keys that apply are present, so a rule can test
// lambda.maxMemoryUsedMB with the Sigma gt and gte modifiers.
//
// The decoder of kind "lambda" reads raw text lines (DecodeText), one JSON
// log line per document (Decode), and the output of `aws logs
// filter-log-events` and `aws logs get-log-events` (Decode). DecodeMessage
// serves the CloudWatch Logs decoders, which know each message's log group
// and stream.
package lambda

import (
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Kind is the --source name of the decoder.
const Kind = "lambda"

// Service is the envelope service of Lambda log events.
const Service = "lambda.amazonaws.com"

const functionType = "AWS::Lambda::Function"

// Decoder decodes Lambda logs: text lines, JSON log lines, and
// filter-log-events or get-log-events output.
var Decoder = source.Decoder{
	Kind:       Kind,
	Detect:     Detect,
	Decode:     Decode,
	DecodeText: DecodeText,
	DetectText: DetectText,
}

// Meta is what CloudWatch Logs tells about a log message.
type Meta struct {
	LogGroup  string
	LogStream string
	ID        string // the CloudWatch Logs event ID
	Timestamp int64  // the event time in milliseconds since the Unix epoch; 0 if unknown
	Owner     string // the AWS account that owns the log group
	Region    string // the AWS Region, if known
	Function  string // the function name; derived from LogGroup and LogStream when empty
}

// FunctionFromLog returns the function whose logs the log group and stream
// hold, and whether they hold a Lambda function's logs at all. Functions log
// to /aws/lambda/<name> by default (Lambda@Edge to
// /aws/lambda/us-east-1.<name>), in streams named
// "2024/05/14/[$LATEST]<id>". A function that logs to another group names
// its streams "2024/05/14/<name>[$LATEST]<id>".
func FunctionFromLog(group, stream string) (string, bool) {
	if name, ok := strings.CutPrefix(group, "/aws/lambda/"); ok && name != "" {
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:] // Lambda@Edge; function names have no dots
		}
		return name, true
	}
	if len(stream) > 11 && isDigits(stream[0:4]) && stream[4] == '/' && isDigits(stream[5:7]) && stream[7] == '/' &&
		isDigits(stream[8:10]) && stream[10] == '/' {
		rest := stream[11:]
		if i := strings.IndexByte(rest, '['); i >= 0 && strings.IndexByte(rest[i:], ']') > 0 {
			return rest[:i], true
		}
	}
	return "", false
}

// IsPlatformMessage reports whether msg is one of the Lambda platform's own
// log lines (START, END, REPORT, INIT_*, RESTORE_*, or a JSON platform.*
// event), which identify a message as Lambda's even without its log group.
func IsPlatformMessage(msg string) bool {
	for _, p := range [...]string{"START RequestId:", "END RequestId:", "REPORT RequestId:", "INIT_START ", "INIT_REPORT ", "RESTORE_START", "RESTORE_REPORT"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return strings.HasPrefix(msg, `{"time":"`) && strings.Contains(msg, `"type":"platform.`)
}

// Parser turns Lambda log messages into events. Its zero value is ready, and
// it reuses scratch space between calls. It is not safe for concurrent use.
type Parser struct {
	doc jsondoc.Doc
}

// Append parses one log message, fills every envelope field of ev but Raw,
// and appends ev's raw record (see the package documentation) to dst. The
// caller parses the record and sets ev.Raw. Strings in ev may share memory
// with msg and meta. where locates the message in its input; it goes into
// the digest ID of a message that has no CloudWatch ID.
func (p *Parser) Append(dst []byte, msg string, meta *Meta, where string, ev *event.Event) []byte {
	var l line
	parseMessage(msg, &p.doc, &l)
	ts := fill(ev, msg, meta, &l, where)
	return appendRaw(dst, msg, meta, ts, &l)
}

// fill sets ev's envelope from l and meta and returns the event's time in
// milliseconds, or 0 when unknown. where locates a message that has no ID,
// to tell apart identical lines in one input.
func fill(ev *event.Event, msg string, meta *Meta, l *line, where string) int64 {
	ev.Cloud, ev.Source, ev.Service = event.AWS, event.SourceLambda, Service
	ev.Action, ev.Outcome, ev.ErrorCode = l.action, l.outcome, l.errorType
	ev.Account, ev.Region = meta.Owner, meta.Region
	ev.Function = meta.Function
	if ev.Function == "" {
		ev.Function, _ = FunctionFromLog(meta.LogGroup, meta.LogStream)
	}
	if ev.Function == "" {
		ev.Function = l.functionName
	}
	if arn := l.functionARN; arn != "" {
		if ev.Function == "" {
			ev.Function = event.FunctionFromARN(arn)
			if i := strings.IndexByte(ev.Function, ':'); i >= 0 {
				ev.Function = ev.Function[:i]
			}
		}
		if ev.Account == "" {
			ev.Account = arnPart(arn, 4)
		}
		if ev.Region == "" {
			ev.Region = arnPart(arn, 3)
		}
		ev.Resources = []event.Resource{{Type: functionType, UID: arn}}
	}
	if ev.Region == "" && l.runtimeARN != "" {
		ev.Region = arnPart(l.runtimeARN, 3)
	}
	ts := meta.Timestamp
	switch {
	case ts > 0:
		ev.Time = time.UnixMilli(ts).UTC()
	case !l.time.IsZero():
		ev.Time = l.time
		ts = l.time.UnixMilli()
	}
	ev.ID = meta.ID
	if ev.ID == "" {
		var tsText [20]byte
		ev.ID = event.DigestID(event.SourceLambda, []byte(meta.LogGroup), []byte(meta.LogStream),
			strconv.AppendInt(tsText[:0], ts, 10), []byte(where), bytesOf(msg))
	}
	return ts
}

// arnPart returns field i of an ARN (arn:partition:service:region:account:…).
func arnPart(arn string, i int) string {
	if !strings.HasPrefix(arn, "arn:") {
		return ""
	}
	for ; i > 0; i-- {
		j := strings.IndexByte(arn, ':')
		if j < 0 {
			return ""
		}
		arn = arn[j+1:]
	}
	if j := strings.IndexByte(arn, ':'); j >= 0 {
		return arn[:j]
	}
	return ""
}

// appendRaw appends the raw record of one message.
func appendRaw(dst []byte, msg string, meta *Meta, ts int64, l *line) []byte {
	dst = append(dst, '{')
	if meta.LogGroup != "" {
		dst = appendStr(dst, "logGroup", meta.LogGroup)
	}
	if meta.LogStream != "" {
		dst = appendStr(dst, "logStream", meta.LogStream)
	}
	if meta.ID != "" {
		dst = appendStr(dst, "id", meta.ID)
	}
	if ts > 0 {
		dst = append(dst, `"timestamp":`...)
		dst = strconv.AppendInt(dst, ts, 10)
		dst = append(dst, ',')
	}
	dst = appendStr(dst, "message", msg)
	dst = append(dst, `"lambda":{`...)
	dst = appendStr(dst, "type", l.typ)
	dst = appendOpt(dst, "requestId", l.requestID)
	dst = appendOpt(dst, "version", l.version)
	for i, ok := range l.has {
		if ok {
			dst = appendNum(dst, metricKeys[i], l.metrics[i])
		}
	}
	dst = appendOpt(dst, "status", l.status)
	dst = appendOpt(dst, "errorType", l.errorType)
	dst = appendOpt(dst, "errorMessage", l.errorMessage)
	dst = appendOpt(dst, "level", l.level)
	dst = appendOpt(dst, "phase", l.phase)
	dst = appendOpt(dst, "runtimeVersion", l.runtimeVersion)
	dst = appendOpt(dst, "runtimeVersionArn", l.runtimeARN)
	if l.oomKnown {
		dst = append(dst, `"outOfMemory":`...)
		dst = strconv.AppendBool(dst, l.oom)
		dst = append(dst, ',')
	}
	if l.hasTimeout {
		dst = appendNum(dst, "timeoutSeconds", l.timeout)
	}
	dst = dst[:len(dst)-1] // the last comma
	return append(dst, '}', '}')
}

// appendStr appends "key":"value", with a trailing comma.
func appendStr(dst []byte, key, value string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	dst = jsondoc.AppendString(dst, value)
	return append(dst, ',')
}

func appendOpt(dst []byte, key, value string) []byte {
	if value == "" {
		return dst
	}
	return appendStr(dst, key, value)
}

func appendNum(dst []byte, key string, f float64) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	return append(dst, ',')
}

// single is one event with the document its raw record lives in, allocated
// together.
type single struct {
	ev  event.Event
	doc jsondoc.Doc
}

// DecodeMessage decodes one CloudWatch Logs message of a Lambda function and
// emits one event, or reports at where why it could not.
func DecodeMessage(msg []byte, meta Meta, where string, sink source.Sink) {
	decodeOne(string(msg), &meta, where, sink)
}

func decodeOne(msg string, meta *Meta, where string, sink source.Sink) {
	if strings.TrimSpace(msg) == "" {
		source.Failf(sink, where, "empty log message")
		return
	}
	x := new(single)
	var l line
	parseMessage(msg, &x.doc, &l)
	ts := fill(&x.ev, msg, meta, &l, where)
	buf := appendRaw(make([]byte, 0, len(msg)+192), msg, meta, ts, &l)
	if err := x.doc.Parse(buf); err != nil {
		source.Failf(sink, where, "building the raw record: %v", err)
		return
	}
	x.ev.Raw = x.doc.Root()
	sink.Event(&x.ev)
}

// DecodeText decodes one line of a plain-text Lambda log. It also accepts
// the lines `aws logs tail` prints, which start with the time and the log
// stream. Blank lines are skipped.
func DecodeText(text []byte, where string, sink source.Sink) error {
	s := strings.TrimRight(string(text), "\r\n")
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var meta Meta
	s = tailPrefix(s, &meta)
	decodeOne(s, &meta, where, sink)
	return nil
}

// DetectText reports whether a plain-text line is a Lambda log line that
// only Lambda writes: a platform line (START, END, REPORT, INIT_*,
// RESTORE_*, XRAY, EXTENSION), a runtime's timeout or exit line, or a
// Node.js or Python runtime log line, with or without the prefix of
// `aws logs tail`.
func DetectText(text []byte) bool {
	var meta Meta
	s := tailPrefix(strings.TrimRight(string(text), "\r\n"), &meta)
	if IsPlatformMessage(s) {
		return true
	}
	var l line
	switch {
	case strings.HasPrefix(s, "RequestId: ") && strings.Contains(s, " Error: "),
		strings.HasPrefix(s, "Task timed out after "),
		strings.HasPrefix(s, "XRAY TraceId: "),
		strings.HasPrefix(s, "EXTENSION\tName: "),
		strings.HasPrefix(s, "LAMBDA_WARNING: "):
		return true
	case strings.HasPrefix(s, "["):
		// Python: "[INFO]\t<time>\t<request id>\t…" or "[ERROR] Type: …".
		pythonLine(s, &l)
		return l.requestID != "" && !l.time.IsZero() || l.typ == typeUncaughtError
	case startsWithTimestamp(s):
		// Node.js: "<time>\t<request id>\t<LEVEL>\t…", and the timeout line.
		timestampedLine(s, &l)
		return l.typ == typeTimeout || strings.Count(s, "\t") >= 2 && l.requestID != "" && isLevel(l.level)
	}
	return false
}

func isLevel(s string) bool {
	switch s {
	case "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL":
		return true
	}
	return false
}

// tailPrefix removes the "<time> <log stream> " or "<log stream> <time> "
// prefix of `aws logs tail` output, keeping what it tells in meta.
func tailPrefix(s string, meta *Meta) string {
	for range 2 {
		tok, rest, ok := strings.Cut(s, " ")
		if !ok {
			return s
		}
		if _, isLambda := FunctionFromLog("", tok); isLambda && meta.LogStream == "" {
			meta.LogStream = tok
			s = strings.TrimLeft(rest, " ")
			continue
		}
		if meta.Timestamp == 0 && startsWithTimestamp(tok) && strings.IndexByte(tok, '\t') < 0 {
			// "<time> <request id> Task timed out" is the runtime's own line.
			if _, after, _ := strings.Cut(rest, " "); strings.HasPrefix(after, "Task timed out after ") {
				return s
			}
			if t, ok := source.ParseTime(tok); ok {
				meta.Timestamp = t.UnixMilli()
				s = strings.TrimLeft(rest, " ")
				continue
			}
		}
		return s
	}
	return s
}

// Detect reports whether root is a Lambda JSON log line, or filter-log-events
// or get-log-events output that holds Lambda logs.
func Detect(root jsondoc.Value) bool {
	if root.Kind() != jsondoc.Object {
		return false
	}
	if evs := root.Get("events"); evs.Exists() {
		if evs.Kind() != jsondoc.Array {
			return false
		}
		found := false
		evs.Elements(func(i int, e jsondoc.Value) bool {
			if e.Get("message").Kind() != jsondoc.String || e.Get("timestamp").Kind() != jsondoc.Number {
				return false
			}
			_, isLambda := FunctionFromLog("", str(e.Get("logStreamName")))
			found = isLambda || IsPlatformMessage(e.Get("message").Str())
			return !found && i < 9
		})
		return found
	}
	if strings.HasPrefix(str(root.Get("type")), "platform.") {
		return root.Get("record").Kind() == jsondoc.Object
	}
	if root.Get("requestId").Kind() == jsondoc.String {
		if root.Get("level").Kind() == jsondoc.String || root.Get("log_level").Kind() == jsondoc.String {
			return root.Get("timestamp").Exists()
		}
		return root.Get("errorType").Kind() == jsondoc.String && root.Get("errorMessage").Exists()
	}
	return root.Get("errorType").Kind() == jsondoc.String && root.Get("errorMessage").Exists() && root.Get("stackTrace").Exists()
}

// Decode decodes one JSON log line (a platform event, a runtime error
// document or a structured application log), or the output of `aws logs
// filter-log-events` or `aws logs get-log-events`.
func Decode(root jsondoc.Value, where string, sink source.Sink) error {
	if root.Kind() != jsondoc.Object {
		return source.NotFormat(Kind, "a JSON "+root.Kind().String()+", want a JSON log line or filter-log-events output")
	}
	if evs := root.Get("events"); evs.Exists() {
		if evs.Kind() != jsondoc.Array {
			return source.NotFormat(Kind, `"events" is a `+evs.Kind().String()+", not an array")
		}
		decodeEvents(evs, source.JoinWhere(where, "events"), sink)
		return nil
	}
	var meta Meta
	decodeOne(string(root.Raw()), &meta, where, sink)
	return nil
}

// decodeEvents decodes the events of filter-log-events or get-log-events
// output. Their raw records share one document.
func decodeEvents(list jsondoc.Value, where string, sink source.Sink) {
	n := list.Len()
	evs := make([]event.Event, n)
	idx := make([]int32, 0, n)
	buf := make([]byte, 0, len(list.Raw())+n*160)
	buf = append(buf, '[')
	var p Parser
	list.Elements(func(i int, e jsondoc.Value) bool {
		if e.Kind() != jsondoc.Object {
			source.Failf(sink, source.At(where, i), "log event is a JSON %s, not an object", e.Kind())
			return true
		}
		msg := e.Get("message")
		if msg.Kind() != jsondoc.String {
			source.Failf(sink, source.At(where, i), `"message" is %s, want a string`, kindName(msg))
			return true
		}
		if strings.TrimSpace(msg.Str()) == "" {
			source.Failf(sink, source.At(where, i), "empty log message")
			return true
		}
		meta := Meta{LogStream: str(e.Get("logStreamName")), ID: str(e.Get("eventId"))}
		if ts := e.Get("timestamp"); ts.Exists() {
			ms, ok := ts.Int()
			if !ok || ts.Kind() != jsondoc.Number || ms < 0 {
				source.Failf(sink, source.At(where, i), `"timestamp" is %s, want milliseconds since the Unix epoch`, kindName(ts))
				return true
			}
			meta.Timestamp = ms
		}
		if len(idx) > 0 {
			buf = append(buf, ',')
		}
		buf = p.Append(buf, msg.Str(), &meta, source.At(where, i), &evs[i])
		idx = append(idx, int32(i))
		return true
	})
	buf = append(buf, ']')
	emitBatch(buf, evs, idx, where, sink)
}

// emitBatch parses the raw records in buf, a JSON array, sets them as the
// Raw of evs[idx[k]] and emits those events.
func emitBatch(buf []byte, evs []event.Event, idx []int32, where string, sink source.Sink) {
	if len(idx) == 0 {
		return
	}
	d := new(jsondoc.Doc)
	if err := d.Parse(buf); err != nil {
		for _, i := range idx {
			source.Failf(sink, source.At(where, int(i)), "building the raw record: %v", err)
		}
		return
	}
	d.Root().Elements(func(k int, v jsondoc.Value) bool {
		ev := &evs[idx[k]]
		ev.Raw = v
		sink.Event(ev)
		return true
	})
}

func kindName(v jsondoc.Value) string {
	if !v.Exists() {
		return "missing"
	}
	return source.AKind(v.Kind())
}
