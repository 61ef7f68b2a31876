package cloudwatch

import (
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// FirehoseKind is the --source name of the Firehose decoder.
const FirehoseKind = "firehose"

// FirehoseDecoder decodes the body of a Kinesis Data Firehose HTTP endpoint
// delivery request, {"requestId","timestamp","records":[{"data"}]}, and the
// event of a Firehose data-transformation Lambda function,
// {"invocationId","deliveryStreamArn","region","records":[{"recordId",
// "approximateArrivalTimestamp","data"}]}, for a stream whose source is a
// CloudWatch Logs subscription. Each record's data is base64 of one or more
// gzipped subscription payloads, or, when the stream decompresses and
// extracts CloudWatch Logs messages, of the messages one per line.
var FirehoseDecoder = source.Decoder{
	Kind:   FirehoseKind,
	Detect: DetectFirehose,
	Decode: DecodeFirehose,
}

// DetectFirehose reports whether root is a Firehose HTTP endpoint delivery
// request or data-transformation event.
func DetectFirehose(root jsondoc.Value) bool {
	recs := root.Get("records")
	if recs.Kind() != jsondoc.Array {
		return false
	}
	switch {
	case root.Get("requestId").Kind() == jsondoc.String && root.Get("timestamp").Kind() == jsondoc.Number:
	case root.Get("invocationId").Kind() == jsondoc.String && root.Get("deliveryStreamArn").Kind() == jsondoc.String:
	default:
		return false
	}
	first := recs.Index(0)
	return !first.Exists() || first.Get("data").Kind() == jsondoc.String
}

// FirehoseRequestID returns the requestId of a delivery request body, which
// the endpoint's response must repeat, or "" if there is none.
func FirehoseRequestID(root jsondoc.Value) string {
	return str(root.Get("requestId"))
}

// DecodeFirehose decodes every record of a delivery request body or
// data-transformation event. A record that cannot be decoded is reported
// at records[i] and the others are still decoded.
func DecodeFirehose(root jsondoc.Value, where string, sink source.Sink) error {
	if root.Kind() != jsondoc.Object {
		return source.NotFormat(FirehoseKind, "a JSON "+root.Kind().String()+", want a delivery request object")
	}
	recs := root.Get("records")
	if recs.Kind() != jsondoc.Array {
		return source.NotFormat(FirehoseKind, `"records" is `+kindName(recs)+", want an array")
	}
	if root.Get("requestId").Kind() != jsondoc.String && root.Get("invocationId").Kind() != jsondoc.String {
		return source.NotFormat(FirehoseKind, `no "requestId" (HTTP endpoint request) or "invocationId" (transformation event)`)
	}
	region := str(root.Get("region"))
	var requestTime int64
	if ms, ok := root.Get("timestamp").Int(); ok && root.Get("timestamp").Kind() == jsondoc.Number && ms > 0 {
		requestTime = ms
	}
	base := source.JoinWhere(where, "records")
	recs.Elements(func(i int, rec jsondoc.Value) bool {
		w := source.At(base, i)
		if rec.Kind() != jsondoc.Object {
			source.Failf(sink, w, "record is a JSON %s, not an object", rec.Kind())
			return true
		}
		data := rec.Get("data")
		if data.Kind() != jsondoc.String {
			source.Failf(sink, w, `"data" is %s, want base64`, kindName(data))
			return true
		}
		arrival := requestTime
		if ms, ok := rec.Get("approximateArrivalTimestamp").Int(); ok && ms > 0 {
			arrival = ms
		}
		decodeData(data.Str(), w, region, arrival, sink)
		return true
	})
	return nil
}
