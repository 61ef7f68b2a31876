package azure

import (
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// SourceEventGrid is the source of Event Grid system events that are not
// Azure Resource Manager operations (Microsoft.Storage.BlobCreated,
// Microsoft.KeyVault.SecretNearExpiry, Microsoft.Web.AppUpdated, ...).
const SourceEventGrid = "azure.eventgrid"

const kindEventGrid = "eventgrid"

// validationType is the event type of the handshake Event Grid sends to a
// webhook when an event subscription is created, in the Event Grid schema.
// In the CloudEvents schema the handshake is an HTTP OPTIONS request with
// the WebHook-Request-Origin header instead, which never reaches a decoder.
const validationType = "Microsoft.EventGrid.SubscriptionValidationEvent"

// EventGridDecoder decodes Event Grid deliveries (kind "eventgrid"): a JSON
// array of events in the Event Grid schema (id, topic, subject, eventType,
// eventTime, data, dataVersion, metadataVersion), or one CloudEvents 1.0
// event or an array of them (specversion, type, source, subject, id, time,
// data).
//
// Azure Resource Manager events (Microsoft.Resources.ResourceWriteSuccess
// and the other Resource{Write,Delete,Action}{Success,Failure,Cancel}
// types) carry an activity log record in data and become azure.activity
// events, with the outcome taken from the event type. Other event types
// become azure.eventgrid events whose action is the event type. The
// subscription validation event becomes a note, not an event: see
// ValidationCode.
var EventGridDecoder = source.Decoder{
	Kind:   kindEventGrid,
	Detect: DetectEventGrid,
	Decode: DecodeEventGrid,
}

// gridEvent is one Event Grid event with the schema differences resolved.
type gridEvent struct {
	id, typ, topic, subject string
	time                    jsondoc.Value
	timeName                string
	data                    jsondoc.Value
}

// readGridEvent reads v in either schema. ok is false when v is neither.
// Unless anyType is set, a CloudEvent must have a Microsoft.* type: CloudEvents
// from other clouds belong to other decoders.
func readGridEvent(v jsondoc.Value, anyType bool) (g gridEvent, ok bool) {
	if v.Kind() != jsondoc.Object {
		return g, false
	}
	if t := v.Get("eventType"); t.Kind() == jsondoc.String && v.Get("eventTime").Exists() && v.Get("id").Exists() &&
		(v.Get("subject").Exists() || v.Get("topic").Exists() || v.Get("dataVersion").Exists()) {
		return gridEvent{
			id: str(v.Get("id")), typ: t.Str(), topic: str(v.Get("topic")), subject: str(v.Get("subject")),
			time: v.Get("eventTime"), timeName: "eventTime", data: v.Get("data"),
		}, true
	}
	if v.Get("specversion").Kind() == jsondoc.String {
		t := v.Get("type")
		if t.Kind() != jsondoc.String || !v.Get("source").Exists() || !v.Get("id").Exists() {
			return g, false
		}
		if !anyType && !strings.HasPrefix(t.Str(), "Microsoft.") {
			return g, false
		}
		return gridEvent{
			id: scalar(v.Get("id")), typ: t.Str(), topic: str(v.Get("source")), subject: str(v.Get("subject")),
			time: v.Get("time"), timeName: "time", data: v.Get("data"),
		}, true
	}
	return g, false
}

// DetectEventGrid reports whether root looks like an Event Grid delivery.
func DetectEventGrid(root jsondoc.Value) bool {
	if root.Kind() == jsondoc.Array {
		root = root.Index(0)
	}
	_, ok := readGridEvent(root, false)
	return ok
}

// ValidationCode returns the validation code of an Event Grid subscription
// validation event, which the webhook must echo back as
// {"validationResponse": code} to confirm the subscription. ok is false
// when root is not a validation event.
func ValidationCode(root jsondoc.Value) (code string, ok bool) {
	if root.Kind() == jsondoc.Array {
		root = root.Index(0)
	}
	g, isGrid := readGridEvent(root, true)
	if !isGrid || g.typ != validationType {
		return "", false
	}
	code = str(g.data.Get("validationCode"))
	return code, code != ""
}

// DecodeEventGrid decodes one Event Grid delivery into sink.
func DecodeEventGrid(root jsondoc.Value, where string, sink source.Sink) error {
	switch root.Kind() {
	case jsondoc.Object:
		if _, ok := readGridEvent(root, true); !ok {
			return source.NotFormat(kindEventGrid, "not an Event Grid event (no id, eventType, eventTime and subject) nor a CloudEvent (no specversion, type, source and id)")
		}
		d := decoder{evs: make([]event.Event, 1), res: make([]event.Resource, 1)}
		d.emitGrid(root, 0, source.Location{Where: where, Index: -1}, sink)
		return nil
	case jsondoc.Array:
		n := root.Len()
		if n == 0 {
			return nil
		}
		if _, ok := readGridEvent(root.Index(0), true); !ok {
			return source.NotFormat(kindEventGrid, "the array's first element is not an Event Grid event nor a CloudEvent")
		}
		d := decoder{evs: make([]event.Event, n), res: make([]event.Resource, n)}
		root.Elements(func(i int, v jsondoc.Value) bool {
			d.emitGrid(v, i, source.Location{Where: where, Index: i}, sink)
			return true
		})
		return nil
	}
	return source.NotFormat(kindEventGrid, fmt.Sprintf("the document is %s, not an object or array", source.AKind(root.Kind())))
}

func (d *decoder) emitGrid(v jsondoc.Value, i int, loc source.Location, sink source.Sink) {
	e := &d.evs[i]
	note, err := d.gridEvent(v, e, d.res[i:i+1:i+1])
	switch {
	case err != nil:
		sink.Fail(&source.RecordError{Where: loc.String(), Err: err})
	case note != "":
		sink.Note(note)
	default:
		sink.Event(e)
	}
}

// gridEvent decodes one event into e, or returns a note for an event that
// carries no log record.
func (d *decoder) gridEvent(v jsondoc.Value, e *event.Event, res []event.Resource) (note string, err error) {
	if err := kindError(v); err != nil {
		return "", err
	}
	g, ok := readGridEvent(v, true)
	if !ok {
		return "", fmt.Errorf("not an Event Grid event (no id, eventType, eventTime and subject) nor a CloudEvent (no specversion, type, source and id)")
	}
	if g.typ == validationType {
		return "Event Grid subscription validation event for " + source.Quote(g.topic) +
			": no log record; the webhook confirms the subscription by answering with data.validationCode", nil
	}
	t, err := source.TimeField(g.time, g.timeName)
	if err != nil {
		return "", err
	}
	e.Time = t
	e.Cloud = event.Azure
	e.Raw = v
	if strings.HasPrefix(g.typ, "Microsoft.Resources.Resource") {
		err = d.armEvent(&g, e, res)
	} else {
		d.otherGridEvent(&g, e, res)
	}
	if err != nil {
		return "", err
	}
	if g.id != "" {
		e.ID = g.id
	} else {
		e.ID = event.DigestID(e.Source, v.Raw())
	}
	return "", nil
}

// armEvent maps an Azure Resource Manager event, whose data is an activity
// log record.
func (d *decoder) armEvent(g *gridEvent, e *event.Event, res []event.Resource) error {
	data := g.data
	if data.Kind() != jsondoc.Object {
		return fmt.Errorf(`%s event: "data" is %s, want an object`, g.typ, source.AKind(data.Kind()))
	}
	auth := objectValue(data.Get("authorization"))
	a := activity{
		resourceID:     firstString(str(data.Get("resourceUri")), g.subject),
		subscriptionID: str(data.Get("subscriptionId")),
		operation:      firstString(str(data.Get("operationName")), str(auth.Get("action"))),
		provider:       str(data.Get("resourceProvider")),
		callerIP:       str(objectValue(data.Get("httpRequest")).Get("clientIpAddress")),
		claims:         objectValue(data.Get("claims")),
		evidenceType:   str(auth.Path("evidence", "principalType")),
	}
	if a.operation == "" {
		return fmt.Errorf(`%s event: missing "data.operationName"`, g.typ)
	}
	switch {
	case strings.HasSuffix(g.typ, "Success"):
		a.status = "Succeeded"
	case strings.HasSuffix(g.typ, "Failure"):
		a.status = "Failed"
	case strings.HasSuffix(g.typ, "Cancel"):
		a.status = "Canceled"
	default:
		a.status = str(data.Get("status"))
	}
	d.fill(e, &a, res)
	return nil
}

// otherGridEvent maps any other event type: the action is the event type
// and the resource is the topic, or the subject when it is a resource ID.
func (d *decoder) otherGridEvent(g *gridEvent, e *event.Event, res []event.Resource) {
	e.Source = SourceEventGrid
	e.Action = g.typ
	resource := g.topic
	if strings.HasPrefix(g.subject, "/subscriptions/") {
		resource = g.subject
	}
	rid := parseResourceID(resource)
	if rid.sub == "" {
		rid.sub = parseResourceID(g.topic).sub
	}
	e.Account = d.c.sub.lower(rid.sub)
	e.Service = canonicalNamespace(firstString(rid.ns, namespaceOfType(g.typ)))
	if rid.site != "" {
		e.Function = d.c.site.lower(rid.site)
	}
	if resource != "" {
		res[0] = event.Resource{Type: rid.typ, UID: resource}
		e.Resources = res
	}
}

// namespaceOfType returns the provider namespace of an event type such as
// "Microsoft.Storage.BlobCreated", or "".
func namespaceOfType(t string) string {
	i := strings.IndexByte(t, '.')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(t[i+1:], '.')
	if j < 0 {
		return ""
	}
	return t[:i+1+j]
}
