package gcp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

const (
	kindPubSub   = "pubsub"
	kindEventarc = "eventarc"
)

// PubSubDecoder decodes Pub/Sub push request bodies (kind "pubsub"):
//
//	{"message": {"data": "<base64>", "attributes": {...},
//	             "messageId": "...", "publishTime": "..."},
//	 "subscription": "projects/<p>/subscriptions/<s>"}
//
// The message data is a LogEntry that a Cloud Logging sink published to the
// topic; it is decoded like the gcp kind decodes it. Data that is not a
// LogEntry is reported as a failed record. A push subscription with
// payload unwrapping posts the bare LogEntry instead, which the gcp kind
// decodes.
var PubSubDecoder = source.Decoder{
	Kind:   kindPubSub,
	Detect: DetectPubSub,
	Decode: DecodePubSub,
}

// DetectPubSub reports whether root looks like a Pub/Sub push body.
func DetectPubSub(root jsondoc.Value) bool {
	msg := root.Get("message")
	return msg.Kind() == jsondoc.Object &&
		(msg.Get("messageId").Exists() || msg.Get("message_id").Exists())
}

// MessageID returns the Pub/Sub message ID of a push body, or of an Eventarc
// Pub/Sub event, for deduplicating redelivered messages; "" if there is
// none. Pub/Sub writes the ID both as messageId and message_id.
func MessageID(root jsondoc.Value) string {
	if root.Get("specversion").Exists() {
		root = root.Get("data")
	}
	msg := root.Get("message")
	id := msg.Get("messageId")
	if !id.Exists() {
		id = msg.Get("message_id")
	}
	switch id.Kind() {
	case jsondoc.String, jsondoc.Number:
		return id.Str()
	}
	return ""
}

// DecodePubSub decodes one Pub/Sub push body into sink.
func DecodePubSub(root jsondoc.Value, where string, sink source.Sink) error {
	if root.Get("message").Kind() != jsondoc.Object {
		return source.NotFormat(kindPubSub, `no "message" object`)
	}
	var d decoder
	d.push(root, where, sink)
	return nil
}

// push decodes the LogEntry in the message of a push body.
func (d *decoder) push(body jsondoc.Value, where string, sink source.Sink) {
	where = source.JoinWhere(where, "message.data")
	data := body.Path("message", "data")
	if data.Kind() != jsondoc.String {
		if !data.Exists() {
			source.Failf(sink, where, "missing: the Pub/Sub message has no data")
		} else {
			source.Failf(sink, where, "is %s, want a base64 string", source.AKind(data.Kind()))
		}
		return
	}
	b, err := source.Base64(data.Str())
	if err == nil {
		b, err = source.Gunzip(b)
	}
	if err != nil {
		sink.Fail(&source.RecordError{Where: where, Err: err})
		return
	}
	doc, err := source.ParseJSON(b)
	if err != nil {
		source.Failf(sink, where, "the Pub/Sub message data is not JSON: %w", err)
		return
	}
	if err := d.entries(doc.Root(), where, sink); err != nil {
		source.Failf(sink, where, "the Pub/Sub message data is %w; only log sinks' messages can be decoded", err)
	}
}

// Eventarc event types that carry log entries.
const (
	typeAuditLogWritten = "google.cloud.audit.log.v1.written"
	typeMessagePublish  = "google.cloud.pubsub.topic.v1.messagePublished"
)

// EventarcDecoder decodes Eventarc events delivered as CloudEvents in
// structured JSON mode (kind "eventarc"): Cloud Audit Logs events
// (google.cloud.audit.log.v1.written), whose data is the LogEntry, and
// Pub/Sub events (google.cloud.pubsub.topic.v1.messagePublished), whose data
// is a push body with a LogEntry in the message. In binary mode the HTTP
// body is the data alone, which the gcp and pubsub kinds decode.
var EventarcDecoder = source.Decoder{
	Kind:   kindEventarc,
	Detect: DetectEventarc,
	Decode: DecodeEventarc,
}

// DetectEventarc reports whether root looks like a Google Cloud CloudEvent.
func DetectEventarc(root jsondoc.Value) bool {
	return root.Get("specversion").Kind() == jsondoc.String &&
		strings.HasPrefix(str(root.Get("type")), "google.cloud.")
}

var errNoData = errors.New(`missing "data"`)

// DecodeEventarc decodes one Eventarc event into sink.
func DecodeEventarc(root jsondoc.Value, where string, sink source.Sink) error {
	if root.Get("specversion").Kind() != jsondoc.String {
		return source.NotFormat(kindEventarc, `not a CloudEvent (no "specversion")`)
	}
	typ := str(root.Get("type"))
	if !strings.HasPrefix(typ, "google.") {
		return source.NotFormat(kindEventarc, fmt.Sprintf("CloudEvent type %s is not a Google Cloud event", source.Quote(typ)))
	}
	data := root.Get("data")
	var d decoder
	switch typ {
	case typeAuditLogWritten:
		if !data.Exists() {
			sink.Fail(&source.RecordError{Where: where, Err: errNoData})
			return nil
		}
		dw := source.JoinWhere(where, "data")
		if err := d.entries(data, dw, sink); err != nil {
			source.Failf(sink, dw, "%s event data is %w", typ, err)
		}
	case typeMessagePublish:
		if data.Kind() != jsondoc.Object {
			source.Failf(sink, source.JoinWhere(where, "data"), "is %s, want a Pub/Sub push body", source.AKind(data.Kind()))
			return nil
		}
		d.push(data, source.JoinWhere(where, "data"), sink)
	default:
		source.Failf(sink, where, "Eventarc event type %s carries no log entry: Vigil decodes %s and %s events",
			source.Quote(typ), typeAuditLogWritten, typeMessagePublish)
	}
	return nil
}
