package gcp

import (
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// Services of the serverless platforms.
const (
	serviceFunctions = "cloudfunctions.googleapis.com"
	serviceRun       = "run.googleapis.com"
)

// functionEntry maps a log entry of a Cloud Functions function or a Cloud
// Run service (which is also what a 2nd gen function runs as) to the
// function vocabulary.
func functionEntry(v jsondoc.Value, e *event.Event, rtype string, labels jsondoc.Value) {
	e.Source = event.SourceGCPFunctions
	if rtype == resCloudFunction {
		e.Service = serviceFunctions
		e.Function = str(labels.Get("function_name"))
		e.Region = str(labels.Get("region"))
	} else {
		e.Service = serviceRun
		e.Function = str(labels.Get("service_name"))
		e.Region = str(labels.Get("location"))
	}
	httpReq := v.Get("httpRequest")
	httpFields(httpReq, e, false)

	msg := str(v.Get("textPayload"))
	if msg == "" {
		msg = str(v.Path("jsonPayload", "message"))
	}
	if classifyMessage(msg, e) {
		if e.Outcome == event.Failure && e.ErrorCode == "" {
			e.ErrorCode = httpReq.Get("status").Str()
		}
		return
	}
	switch status, hasStatus := httpReq.Get("status").Int(); {
	case isErrorSeverity(v.Get("severity")):
		e.Action = event.ActionFunctionError
		e.Outcome = event.Failure
		if hasStatus && status >= 400 {
			e.ErrorCode = httpReq.Get("status").Str()
		}
	case hasStatus && status > 0:
		// A request log entry: one invocation over HTTP, finished.
		e.Action = event.ActionFunctionEnd
		httpFields(httpReq, e, true)
	default:
		e.Action = event.ActionFunctionLog
	}
}

// classifyMessage recognises the platform's own messages about an
// invocation and sets the action, outcome and error code. It reports
// whether msg was one of them.
func classifyMessage(msg string, e *event.Event) bool {
	switch {
	case msg == "":
		return false
	case strings.HasPrefix(msg, "Function execution started"):
		e.Action = event.ActionFunctionStart
	case strings.HasPrefix(msg, "Function execution took "):
		// "Function execution took 60002 ms, finished with status: 'timeout'"
		// or "..., finished with status code: 200".
		return executionFinished(msg, e)
	case strings.Contains(msg, "emory limit") && strings.Contains(msg, "exceeded"):
		// "Memory limit of 256 MiB exceeded with 258 MiB used." (Cloud Run,
		// 2nd gen) or "Error: memory limit exceeded." (1st gen).
		e.Action = event.ActionFunctionOOM
		e.Outcome = event.Failure
	case strings.Contains(msg, "reached the maximum request timeout"):
		e.Action = event.ActionFunctionTimeout
		e.Outcome = event.Failure
	default:
		return false
	}
	return true
}

// executionFinished maps the 1st gen "Function execution took N ms,
// finished with status..." line.
func executionFinished(msg string, e *event.Event) bool {
	const codeMark, wordMark = "finished with status code: ", "finished with status: '"
	if i := strings.Index(msg, codeMark); i >= 0 {
		code := msg[i+len(codeMark):]
		n := 0
		for n < len(code) && code[n] >= '0' && code[n] <= '9' {
			n++
		}
		code = code[:n]
		e.Action = event.ActionFunctionEnd
		if n, err := strconv.ParseInt(code, 10, 32); err == nil {
			e.Outcome = httpOutcome(n)
			if e.Outcome == event.Failure {
				e.ErrorCode = code
			}
		}
		return true
	}
	i := strings.Index(msg, wordMark)
	if i < 0 {
		e.Action = event.ActionFunctionEnd
		return true
	}
	word := msg[i+len(wordMark):]
	if j := strings.IndexByte(word, '\''); j >= 0 {
		word = word[:j]
	}
	switch word {
	case "ok":
		e.Action = event.ActionFunctionEnd
		e.Outcome = event.Success
	case "timeout":
		e.Action = event.ActionFunctionTimeout
		e.Outcome = event.Failure
		e.ErrorCode = word
	case "crash", "error", "connection error":
		e.Action = event.ActionFunctionError
		e.Outcome = event.Failure
		e.ErrorCode = word
	default:
		e.Action = event.ActionFunctionEnd
	}
	return true
}
