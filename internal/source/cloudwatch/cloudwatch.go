// Package cloudwatch decodes CloudWatch Logs subscription payloads, as they
// reach a destination directly, through the Lambda trigger wrapper
// {"awslogs":{"data":"<base64 gzip>"}}, or through Kinesis Data Firehose.
//
// The decoder of kind "cloudwatch" takes one subscription payload
// (messageType DATA_MESSAGE or CONTROL_MESSAGE; the caller gunzips it) or
// the Lambda trigger wrapper. The decoder of kind "firehose" takes the body
// of a Firehose HTTP endpoint delivery request, or the event of a Firehose
// data-transformation Lambda function, whose records each hold a gzipped
// subscription payload in base64.
//
// Each log event of a DATA_MESSAGE goes to the decoder of what it is:
//
//   - a message of a Lambda function's log group (/aws/lambda/<name>) or
//     stream (2024/05/14/[$LATEST]…) becomes an aws.lambda event
//     (package lambda);
//   - a CloudTrail record, in a CloudTrail log group or recognized by its
//     eventVersion and eventSource members, becomes an aws.cloudtrail event
//     whose raw record is the parsed message (package cloudtrail);
//   - any other message becomes an aws.cloudwatch event with action "log",
//     account the log group's owner, and the raw record
//     {"logGroup","logStream","id","timestamp","message"}.
//
// CONTROL_MESSAGE payloads, which CloudWatch Logs sends to check that a
// destination is reachable, give a note and no events.
package cloudwatch

import (
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/lambda"
)

// Kind is the --source name of the subscription payload decoder.
const Kind = "cloudwatch"

// Decoder decodes CloudWatch Logs subscription payloads and the Lambda
// trigger wrapper around them.
var Decoder = source.Decoder{
	Kind:   Kind,
	Detect: Detect,
	Decode: Decode,
}

const (
	dataMessage    = "DATA_MESSAGE"
	controlMessage = "CONTROL_MESSAGE"
)

// Detect reports whether root is a subscription payload or the Lambda
// trigger wrapper.
func Detect(root jsondoc.Value) bool {
	if root.Kind() != jsondoc.Object {
		return false
	}
	if root.Get("messageType").Kind() == jsondoc.String {
		return root.Get("logEvents").Exists()
	}
	return root.Path("awslogs", "data").Kind() == jsondoc.String
}

// Decode decodes one subscription payload or a Lambda trigger wrapper.
func Decode(root jsondoc.Value, where string, sink source.Sink) error {
	if root.Kind() != jsondoc.Object {
		return source.NotFormat(Kind, "a JSON "+root.Kind().String()+", want a subscription payload object")
	}
	if aw := root.Get("awslogs"); aw.Exists() && !root.Get("messageType").Exists() {
		data := aw.Get("data")
		if data.Kind() != jsondoc.String {
			return source.NotFormat(Kind, `"awslogs.data" is `+kindName(data)+", want base64 of a gzipped subscription payload")
		}
		decodeData(data.Str(), source.JoinWhere(where, "awslogs.data"), "", 0, sink)
		return nil
	}
	mt := root.Get("messageType")
	if !mt.Exists() {
		return source.NotFormat(Kind, `no "messageType" or "awslogs"`)
	}
	if reason := payloadProblem(root); reason != "" {
		return source.NotFormat(Kind, reason)
	}
	decodePayload(root, where, "", sink)
	return nil
}

// payloadProblem says what makes p not a subscription payload, or "".
func payloadProblem(p jsondoc.Value) string {
	mt := p.Get("messageType")
	if mt.Kind() != jsondoc.String {
		return `"messageType" is ` + kindName(mt) + ", want a string"
	}
	if s := mt.Str(); s != dataMessage && s != controlMessage {
		return `unknown "messageType" ` + quote(s) + ", want DATA_MESSAGE or CONTROL_MESSAGE"
	}
	if le := p.Get("logEvents"); le.Kind() != jsondoc.Array {
		return `"logEvents" is ` + kindName(le) + ", want an array"
	}
	return ""
}

// decodeData decodes base64 data holding one or more gzipped subscription
// payloads. where locates data; region, if known, is the payloads' Region;
// arrival, if known, is when Firehose received the data.
func decodeData(data, where, region string, arrival int64, sink source.Sink) {
	raw, err := source.Base64(data)
	if err != nil {
		source.Failf(sink, where, "%v", err)
		return
	}
	if raw, err = source.Gunzip(raw); err != nil {
		source.Failf(sink, where, "%v", err)
		return
	}
	if isJSONPayload(raw) {
		decodePayloads(raw, where, region, sink)
		return
	}
	decodeExtracted(raw, where, region, arrival, sink)
}

// isJSONPayload reports whether data looks like subscription payloads rather
// than messages a Firehose stream extracted from them.
func isJSONPayload(data []byte) bool {
	s := strings.TrimLeft(string(data[:min(len(data), 64)]), " \t\r\n")
	return strings.HasPrefix(s, "{") && strings.Contains(string(data[:min(len(data), 512)]), `"messageType"`)
}

// decodePayloads decodes one payload, or several written back to back as
// Firehose does when it concatenates records.
func decodePayloads(data []byte, where, region string, sink source.Sink) {
	parts := splitValues(data)
	for k, part := range parts {
		w := where
		if len(parts) > 1 {
			w = where + "[" + strconv.Itoa(k) + "]"
		}
		d, err := source.ParseJSON(part)
		if err != nil {
			source.Failf(sink, w, "subscription payload: %v", err)
			continue
		}
		if reason := payloadProblem(d.Root()); reason != "" {
			source.Failf(sink, w, "not a CloudWatch Logs subscription payload: %s", reason)
			continue
		}
		decodePayload(d.Root(), w, region, sink)
	}
}

// decodePayload decodes a payload that payloadProblem accepted.
func decodePayload(p jsondoc.Value, where, region string, sink source.Sink) {
	events := p.Get("logEvents")
	if p.Get("messageType").Str() == controlMessage {
		msg := str(events.Index(0).Get("message"))
		if msg == "" {
			msg = "no message"
		}
		sink.Note(prefix(where) + "CloudWatch Logs control message (" + msg + "): no events")
		return
	}
	group, stream, owner := str(p.Get("logGroup")), str(p.Get("logStream")), str(p.Get("owner"))
	fn, isLambda := lambda.FunctionFromLog(group, stream)
	trailGroup := isCloudTrailGroup(group)
	if region == "" && trailGroup {
		region = trailRegion(stream)
	}
	b := newBatch(source.JoinWhere(where, "logEvents"), events.Len(), len(events.Raw()))
	events.Elements(func(i int, le jsondoc.Value) bool {
		if le.Kind() != jsondoc.Object {
			source.Failf(sink, b.at(i), "log event is a JSON %s, not an object", le.Kind())
			return true
		}
		m := le.Get("message")
		if m.Kind() != jsondoc.String {
			source.Failf(sink, b.at(i), `"message" is %s, want a string`, kindName(m))
			return true
		}
		msg := m.Str()
		if strings.TrimSpace(msg) == "" {
			source.Failf(sink, b.at(i), "empty log message")
			return true
		}
		meta := lambda.Meta{LogGroup: group, LogStream: stream, Owner: owner, Region: region, Function: fn}
		ts := le.Get("timestamp")
		ms, ok := ts.Int()
		if ts.Kind() != jsondoc.Number || !ok || ms < 0 {
			source.Failf(sink, b.at(i), `"timestamp" is %s, want milliseconds since the Unix epoch`, kindName(ts))
			return true
		}
		meta.Timestamp = ms
		meta.ID = str(le.Get("id"))
		switch {
		case trailGroup:
			if !strings.HasPrefix(strings.TrimLeft(msg, " \t\r\n"), "{") {
				source.Failf(sink, b.at(i), "message in CloudTrail log group %s is not a JSON CloudTrail record", quote(group))
				return true
			}
			b.add(i, msg, &meta, routeCloudTrail)
		case isLambda:
			b.add(i, msg, &meta, routeLambda)
		case looksLikeCloudTrail(msg):
			b.add(i, msg, &meta, routeCloudTrail)
		default:
			b.add(i, msg, &meta, routeGeneric)
		}
		return true
	})
	b.flush(sink)
}

// decodeExtracted decodes the messages a Firehose stream extracted from
// subscription payloads, one per line, with no log group, stream, ID or
// time. arrival, the time Firehose received the record in milliseconds, if
// known, stands in for the time.
func decodeExtracted(data []byte, where, region string, arrival int64, sink source.Sink) {
	text := string(data)
	if strings.TrimSpace(text) == "" {
		source.Failf(sink, where, "empty record data")
		return
	}
	lines := strings.Split(strings.TrimRight(text, "\r\n"), "\n")
	b := newBatch(source.JoinWhere(where, "messages"), len(lines), len(text))
	meta := lambda.Meta{Region: region, Timestamp: arrival}
	for i, msg := range lines {
		msg = strings.TrimRight(msg, "\r")
		if strings.TrimSpace(msg) == "" {
			continue // routeNone: nothing to emit
		}
		switch {
		case looksLikeCloudTrail(msg):
			b.add(i, msg, &meta, routeCloudTrail)
		case lambda.IsPlatformMessage(msg):
			b.add(i, msg, &meta, routeLambda)
		default:
			b.add(i, msg, &meta, routeGeneric)
		}
	}
	b.flush(sink)
}

// trailRegion returns the Region in a CloudTrail log stream name,
// <account>_CloudTrail_<region>.
func trailRegion(stream string) string {
	const mark = "_CloudTrail_"
	if i := strings.Index(stream, mark); i >= 0 {
		r := stream[i+len(mark):]
		if j := strings.IndexByte(r, '_'); j >= 0 {
			r = r[:j]
		}
		return r
	}
	return ""
}

// splitValues splits data into the JSON values written back to back in it.
// A malformed value ends the split; parsing it then reports the problem.
func splitValues(data []byte) [][]byte {
	var out [][]byte
	i := 0
	for {
		for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
			i++
		}
		if i >= len(data) {
			return out
		}
		start, depth, inStr := i, 0, false
	scan:
		for ; i < len(data); i++ {
			c := data[i]
			switch {
			case inStr:
				if c == '\\' {
					i++
				} else if c == '"' {
					inStr = false
				}
			case c == '"':
				inStr = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth <= 0 {
					i++
					break scan
				}
			}
		}
		if depth != 0 || i > len(data) {
			return append(out, data[start:])
		}
		out = append(out, data[start:i])
	}
}

func str(v jsondoc.Value) string {
	if v.Kind() != jsondoc.String {
		return ""
	}
	return v.Str()
}

func kindName(v jsondoc.Value) string {
	if !v.Exists() {
		return "missing"
	}
	return source.AKind(v.Kind())
}

func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return string(jsondoc.AppendString(nil, s))
}

func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}
