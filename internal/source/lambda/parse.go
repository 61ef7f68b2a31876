package lambda

import (
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Metrics a line can carry, in the order of metricKeys.
const (
	mDuration = iota
	mBilled
	mMemorySize
	mMaxMemory
	mInit
	mRestore
	mBilledRestore
	nMetrics
)

var metricKeys = [nMetrics]string{"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB",
	"initDurationMs", "restoreDurationMs", "billedRestoreDurationMs"}

// Line types that are not the platform's own keyword or telemetry type.
const (
	typeTimeout       = "TIMEOUT"        // "Task timed out after N seconds"
	typeRuntimeExit   = "RUNTIME_EXIT"   // "RequestId: … Error: Runtime exited with error: …"
	typeUncaughtError = "UNCAUGHT_ERROR" // the runtime's report of an error the handler did not catch
	typeLog           = "LOG"            // an application log line
)

// line is what one Lambda log message says.
type line struct {
	typ            string
	action         string
	outcome        event.Outcome
	requestID      string
	version        string
	status         string
	errorType      string
	errorMessage   string
	level          string
	phase          string
	runtimeVersion string
	runtimeARN     string
	functionName   string
	functionARN    string
	timeout        float64
	hasTimeout     bool
	oom            bool
	oomKnown       bool // outOfMemory applies: a report, or an out-of-memory verdict
	metrics        [nMetrics]float64
	has            [nMetrics]bool
	time           time.Time
}

func (l *line) setMetric(i int, f float64) { l.metrics[i], l.has[i] = f, true }

// parseMessage classifies one log message. doc is scratch space for JSON
// messages; strings in l may point into msg.
func parseMessage(msg string, doc *jsondoc.Doc, l *line) {
	s := strings.TrimRight(msg, " \t\r\n")
	switch {
	case strings.HasPrefix(s, "START RequestId:"):
		l.typ, l.action = "START", event.ActionFunctionStart
		fields(s[len("START "):], l)
	case strings.HasPrefix(s, "END RequestId:"):
		l.typ, l.action, l.outcome = "END", event.ActionFunctionEnd, event.Success
		fields(s[len("END "):], l)
	case strings.HasPrefix(s, "REPORT RequestId:"):
		l.typ = "REPORT"
		fields(s[len("REPORT "):], l)
		l.reportVerdict()
	case strings.HasPrefix(s, "INIT_START"):
		l.typ, l.action = "INIT_START", event.ActionFunctionStart
		fields(s[len("INIT_START"):], l)
	case strings.HasPrefix(s, "INIT_REPORT"):
		l.typ = "INIT_REPORT"
		fields(s[len("INIT_REPORT"):], l)
		l.initVerdict()
	case strings.HasPrefix(s, "RESTORE_START"):
		l.typ, l.action = "RESTORE_START", event.ActionFunctionStart
		fields(s[len("RESTORE_START"):], l)
	case strings.HasPrefix(s, "RESTORE_REPORT"):
		l.typ = "RESTORE_REPORT"
		fields(s[len("RESTORE_REPORT"):], l)
		l.initVerdict()
	case strings.HasPrefix(s, "RequestId: "):
		runtimeExit(s, l)
	case strings.HasPrefix(s, "Task timed out after "):
		timedOut(s, l)
	case len(s) > 0 && s[0] == '{':
		if !parseJSON(s, doc, l) {
			l.typ, l.action = typeLog, event.ActionFunctionLog
		}
	case len(s) > 0 && s[0] == '[':
		pythonLine(s, l)
	case startsWithTimestamp(s):
		timestampedLine(s, l)
	default:
		l.typ, l.action = typeLog, event.ActionFunctionLog
		for _, kw := range [...]string{"XRAY", "EXTENSION", "TELEMETRY", "LOGS"} {
			if strings.HasPrefix(s, kw) && len(s) > len(kw) && (s[len(kw)] == ' ' || s[len(kw)] == '\t') {
				l.typ = kw
				break
			}
		}
		if strings.HasPrefix(s, "LAMBDA_WARNING:") {
			l.level = "WARN"
		}
	}
}

// reportVerdict sets the action and outcome of an invocation report from its
// status, error type and memory use.
func (l *line) reportVerdict() {
	l.oomKnown = true
	if l.errorType == "Runtime.OutOfMemory" ||
		l.has[mMaxMemory] && l.has[mMemorySize] && l.metrics[mMemorySize] > 0 && l.metrics[mMaxMemory] >= l.metrics[mMemorySize] {
		l.oom = true
	}
	switch {
	case l.oom:
		l.action, l.outcome = event.ActionFunctionOOM, event.Failure
	case l.status == "timeout":
		l.action, l.outcome = event.ActionFunctionTimeout, event.Failure
	case l.status != "" && l.status != "success":
		l.action, l.outcome = event.ActionFunctionError, event.Failure
	default:
		l.action, l.outcome = event.ActionFunctionReport, event.Success
	}
}

// initVerdict sets the action and outcome of an init or restore report.
func (l *line) initVerdict() {
	if l.status != "" && l.status != "success" {
		l.action, l.outcome = event.ActionFunctionInitError, event.Failure
		return
	}
	l.action, l.outcome = event.ActionFunctionReport, event.Success
}

// doneVerdict sets the action and outcome of platform.runtimeDone and its
// init and restore counterparts.
func (l *line) doneVerdict(init bool) {
	switch {
	case l.status == "" || l.status == "success":
		l.action, l.outcome = event.ActionFunctionEnd, event.Success
	case init:
		l.action, l.outcome = event.ActionFunctionInitError, event.Failure
	case l.errorType == "Runtime.OutOfMemory":
		l.oom, l.oomKnown = true, true
		l.action, l.outcome = event.ActionFunctionOOM, event.Failure
	case l.status == "timeout":
		l.action, l.outcome = event.ActionFunctionTimeout, event.Failure
	default:
		l.action, l.outcome = event.ActionFunctionError, event.Failure
	}
}

// labels of the "Label: value" fields of platform lines. A longer label
// comes before any label it ends with.
var labels = [...]string{
	"RequestId:", "Version:", "Billed Restore Duration:", "Billed Duration:", "Init Duration:", "Restore Duration:",
	"Duration:", "Memory Size:", "Max Memory Used:", "Status:", "Error Type:", "Phase:",
	"Runtime Version ARN:", "Runtime Version:",
}

// labelAt returns the label that starts at s[i], if s[i] starts a word.
func labelAt(s string, i int) string {
	if i > 0 && s[i-1] != ' ' && s[i-1] != '\t' {
		return ""
	}
	switch s[i] {
	case 'R', 'V', 'B', 'I', 'D', 'M', 'S', 'E', 'P':
	default:
		return ""
	}
	rest := s[i:]
	for _, lb := range labels {
		if strings.HasPrefix(rest, lb) {
			return lb
		}
	}
	return ""
}

// fields reads the "Label: value" fields of a platform line. Fields are
// separated by tabs, or by spaces when a line was copied by hand.
func fields(s string, l *line) {
	cur, start := "", 0
	set := func(end int) {
		if cur == "" {
			return
		}
		l.field(cur, strings.TrimSpace(s[start:end]))
	}
	for i := 0; i < len(s); i++ {
		if lb := labelAt(s, i); lb != "" {
			set(i)
			cur, start = lb, i+len(lb)
			i += len(lb) - 1
		}
	}
	set(len(s))
}

func (l *line) field(label, v string) {
	switch label {
	case "RequestId:":
		l.requestID = v
	case "Version:":
		l.version = v
	case "Status:":
		l.status = v
	case "Error Type:":
		l.errorType = v
	case "Phase:":
		l.phase = v
	case "Runtime Version:":
		l.runtimeVersion = v
	case "Runtime Version ARN:":
		l.runtimeARN = v
	case "Duration:":
		l.metric(mDuration, v)
	case "Billed Duration:":
		l.metric(mBilled, v)
	case "Memory Size:":
		l.metric(mMemorySize, v)
	case "Max Memory Used:":
		l.metric(mMaxMemory, v)
	case "Init Duration:":
		l.metric(mInit, v)
	case "Restore Duration:":
		l.metric(mRestore, v)
	case "Billed Restore Duration:":
		l.metric(mBilledRestore, v)
	}
}

// metric reads a value such as "85.12 ms" or "256 MB".
func (l *line) metric(i int, v string) {
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f < 1e15 {
		l.setMetric(i, f)
	}
}

// runtimeExit reads "RequestId: <id> Error: <message>" with the error type
// on the next line or at the end, as the platform logs when the runtime
// process dies.
func runtimeExit(s string, l *line) {
	l.typ, l.action = typeRuntimeExit, event.ActionFunctionError
	rest := s[len("RequestId: "):]
	id, rest, _ := strings.Cut(rest, " ")
	l.requestID = id
	rest = strings.TrimPrefix(strings.TrimSpace(rest), "Error: ")
	msg, typ, found := strings.Cut(rest, "\n")
	if !found {
		if i := strings.LastIndexByte(msg, ' '); i >= 0 && strings.HasPrefix(msg[i+1:], "Runtime.") {
			msg, typ = msg[:i], msg[i+1:]
		}
	}
	l.errorMessage = strings.TrimSpace(msg)
	l.errorType = strings.TrimSpace(typ)
	l.status, l.outcome = "error", event.Failure
	switch {
	case strings.Contains(l.errorMessage, "signal: killed"):
		// Lambda kills the runtime with SIGKILL when it reaches the
		// function's memory size.
		l.oom, l.oomKnown = true, true
		l.action = event.ActionFunctionOOM
	case strings.Contains(l.errorMessage, "Task timed out after"):
		l.action, l.status = event.ActionFunctionTimeout, "timeout"
		timeoutSeconds(l.errorMessage, l)
	}
}

// timedOut reads "Task timed out after 30.03 seconds".
func timedOut(s string, l *line) {
	l.typ, l.action, l.outcome, l.status = typeTimeout, event.ActionFunctionTimeout, event.Failure, "timeout"
	timeoutSeconds(s, l)
}

func timeoutSeconds(s string, l *line) {
	const p = "Task timed out after "
	i := strings.Index(s, p)
	if i < 0 {
		return
	}
	v := s[i+len(p):]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f < 1e9 {
		l.timeout, l.hasTimeout = f, true
	}
}

// pythonLine reads the Python runtime's lines: "[LEVEL]\t<time>\t<request
// id>\t<message>" from the logging module, and "[ERROR] <Type>: <message>"
// for an exception the handler or module import did not catch.
func pythonLine(s string, l *line) {
	l.typ, l.action = typeLog, event.ActionFunctionLog
	end := strings.IndexByte(s, ']')
	if end < 2 || end > 12 {
		return
	}
	level := s[1:end]
	for i := 0; i < len(level); i++ {
		if level[i] < 'A' || level[i] > 'Z' {
			return
		}
	}
	l.level = level
	rest := s[end+1:]
	if strings.HasPrefix(rest, "\t") {
		ts, rest, ok1 := strings.Cut(rest[1:], "\t")
		id, _, ok2 := strings.Cut(rest, "\t")
		if ok1 && ok2 {
			if t, ok := source.ParseTime(ts); ok {
				l.time = t
			}
			l.requestID = id
		}
		return
	}
	if level != "ERROR" || !strings.HasPrefix(rest, " ") {
		return
	}
	first, _, _ := strings.Cut(rest[1:], "\n")
	typ, msg, ok := strings.Cut(first, ": ")
	if !ok || !isIdentifier(typ) {
		typ, msg = first, ""
		if !isIdentifier(typ) {
			return
		}
	}
	uncaught(typ, strings.TrimSpace(msg), "", l)
}

// timestampedLine reads the Node.js runtime's "<time>\t<request
// id>\t<LEVEL>\t<message>" and "<time> <request id> Task timed out after N
// seconds".
func timestampedLine(s string, l *line) {
	l.typ, l.action = typeLog, event.ActionFunctionLog
	if i := strings.IndexByte(s, '\t'); i > 0 {
		ts, rest, _ := strings.Cut(s, "\t")
		if t, ok := source.ParseTime(ts); ok {
			l.time = t
		}
		id, rest, ok := strings.Cut(rest, "\t")
		if !ok {
			return
		}
		level, msg, ok := strings.Cut(rest, "\t")
		l.requestID, l.level = id, level
		if !ok || level != "ERROR" {
			return
		}
		for _, p := range [...]string{"Invoke Error", "Uncaught Exception", "Unhandled Promise Rejection"} {
			if strings.HasPrefix(msg, p) {
				nodeError(strings.TrimSpace(msg[len(p):]), l)
				return
			}
		}
		return
	}
	ts, rest, _ := strings.Cut(s, " ")
	if t, ok := source.ParseTime(ts); ok {
		l.time = t
	}
	id, rest, _ := strings.Cut(rest, " ")
	if strings.HasPrefix(rest, "Task timed out after ") {
		l.requestID = id
		timedOut(rest, l)
		return
	}
	// Java's and others' "<time> <request id> <LEVEL> <message>".
	level, _, _ := strings.Cut(rest, " ")
	switch level {
	case "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL":
		l.requestID, l.level = id, level
	}
}

// nodeError reads the JSON error document that follows "Invoke Error" and
// its siblings.
func nodeError(js string, l *line) {
	var d jsondoc.Doc
	typ, msg := "Error", ""
	if d.Parse(bytesOf(js)) == nil {
		root := d.Root()
		if t := str(root.Get("errorType")); t != "" {
			typ = t
		}
		msg = str(root.Get("errorMessage"))
	}
	reqID := l.requestID
	if reqID == "undefined" {
		reqID = ""
	}
	uncaught(typ, msg, reqID, l)
	if l.requestID == "undefined" {
		// Node.js logs errors thrown while loading the handler with
		// request ID "undefined".
		l.requestID = ""
		l.action = event.ActionFunctionInitError
	}
}

// initErrorTypes are the runtime error types of a function that failed to
// load.
var initErrorTypes = [...]string{"Runtime.ImportModuleError", "Runtime.UserCodeSyntaxError", "Runtime.HandlerNotFound",
	"Runtime.MalformedHandlerName", "Runtime.InvalidEntrypoint", "Runtime.BadFunctionCode"}

// uncaught records an error the handler or the function's initialization
// did not catch.
func uncaught(typ, msg, reqID string, l *line) {
	l.typ, l.errorType, l.errorMessage, l.status, l.outcome = typeUncaughtError, typ, msg, "error", event.Failure
	if reqID != "" {
		l.requestID = reqID
	}
	l.action = event.ActionFunctionError
	for _, t := range initErrorTypes {
		if typ == t {
			l.action = event.ActionFunctionInitError
			return
		}
	}
}

func isIdentifier(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '$') {
			return false
		}
	}
	return true
}

// startsWithTimestamp reports whether s starts like 2024-05-14T10:00:00.
func startsWithTimestamp(s string) bool {
	return len(s) >= 19 && isDigits(s[0:4]) && s[4] == '-' && isDigits(s[5:7]) && s[7] == '-' && isDigits(s[8:10]) &&
		(s[10] == 'T' || s[10] == ' ') && isDigits(s[11:13]) && s[13] == ':'
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// parseJSON reads a JSON-format log line: a platform event, a runtime error
// document or a structured application log. It reports false when s is not
// a JSON object.
func parseJSON(s string, doc *jsondoc.Doc, l *line) bool {
	if doc.Parse(bytesOf(s)) != nil || doc.Root().Kind() != jsondoc.Object {
		return false
	}
	root := doc.Root()
	if typ := str(root.Get("type")); strings.HasPrefix(typ, "platform.") {
		platformEvent(typ, root, l)
		return true
	}
	l.typ, l.action = typeLog, event.ActionFunctionLog
	if t, ok := source.ParseTime(str(root.Get("timestamp"))); ok {
		l.time = t
	} else if t, ok := source.ParseTime(str(root.Get("time"))); ok {
		l.time = t
	}
	l.level = strings.ToUpper(str(root.Get("level")))
	if l.level == "" {
		l.level = strings.ToUpper(str(root.Get("log_level")))
	}
	l.requestID = str(root.Get("requestId"))
	errDoc := root
	if m := root.Get("message"); m.Kind() == jsondoc.Object {
		errDoc = m
	}
	if typ := str(errDoc.Get("errorType")); typ != "" && (errDoc.Get("errorMessage").Exists() || errDoc.Get("stackTrace").Exists()) {
		reqID := str(errDoc.Get("requestId"))
		uncaught(typ, str(errDoc.Get("errorMessage")), reqID, l)
		if l.requestID == "" && l.action == event.ActionFunctionError && reqID == "" && errDoc.Get("requestId").Exists() {
			// An empty requestId: the error happened outside an
			// invocation, while the function initialized.
			l.action = event.ActionFunctionInitError
		}
	}
	return true
}

// platformEvent reads a Telemetry API platform event as Lambda writes it to
// CloudWatch Logs in the JSON log format.
func platformEvent(typ string, root jsondoc.Value, l *line) {
	l.typ = typ
	if t, ok := source.ParseTime(str(root.Get("time"))); ok {
		l.time = t
	}
	rec := root.Get("record")
	l.requestID = str(rec.Get("requestId"))
	l.version = str(rec.Get("version"))
	l.status = str(rec.Get("status"))
	l.errorType = str(rec.Get("errorType"))
	l.phase = str(rec.Get("phase"))
	l.runtimeVersion = str(rec.Get("runtimeVersion"))
	l.runtimeARN = str(rec.Get("runtimeVersionArn"))
	l.functionName = str(rec.Get("functionName"))
	l.functionARN = str(rec.Get("functionArn"))
	if l.version == "" {
		l.version = str(rec.Get("functionVersion"))
	}
	metrics := rec.Get("metrics")
	num := func(key string, i int) {
		if f, ok := metrics.Get(key).Float(); ok && metrics.Get(key).Kind() == jsondoc.Number && f >= 0 && f < 1e15 {
			l.setMetric(i, f)
		}
	}
	switch typ {
	case "platform.initStart", "platform.start", "platform.restoreStart":
		l.action = event.ActionFunctionStart
	case "platform.report":
		num("durationMs", mDuration)
		num("billedDurationMs", mBilled)
		num("memorySizeMB", mMemorySize)
		num("maxMemoryUsedMB", mMaxMemory)
		num("initDurationMs", mInit)
		num("restoreDurationMs", mRestore)
		num("billedRestoreDurationMs", mBilledRestore)
		l.reportVerdict()
	case "platform.runtimeDone":
		num("durationMs", mDuration)
		l.doneVerdict(false)
	case "platform.initRuntimeDone", "platform.restoreRuntimeDone":
		l.doneVerdict(true)
	case "platform.initReport":
		num("durationMs", mInit)
		l.initVerdict()
	case "platform.restoreReport":
		num("durationMs", mRestore)
		l.initVerdict()
	default:
		l.action = event.ActionFunctionLog
	}
}

func str(v jsondoc.Value) string {
	if v.Kind() != jsondoc.String {
		return ""
	}
	return v.Str()
}

// bytesOf returns the bytes of s without copying. Parsing only reads them.
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
