// Package gcp decodes Google Cloud logs into Vigil events: Cloud Logging
// LogEntry objects as exported by log sinks, read with `gcloud logging read`
// or listed with the entries.list API; the same entries pushed by Pub/Sub;
// and Eventarc CloudEvents that carry them.
//
// A LogEntry becomes one of three sources. Cloud Audit Logs entries (Admin
// Activity, Data Access, System Event and Policy Denied) become gcp.audit
// events. Entries of Cloud Functions and Cloud Run resources become
// gcp.functions events in the cross-cloud function vocabulary
// (function.start, function.end, function.timeout, ...). Every other entry
// becomes a gcp.logging event whose action is its log ID.
//
// The event ID is the entry's insertId. Cloud Logging generates it unique
// within a log (random for audit logs, time-prefixed for Cloud Functions and
// Cloud Run), and a replayed or re-exported entry keeps it, which is what
// deduplication needs. It is not prefixed with the log name: that would cost
// an allocation and a longer ID for every event to guard against a
// collision between two logs that Cloud Logging's generated IDs do not
// produce. An entry without an insertId gets a digest of its bytes.
package gcp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

const kindGCP = "gcp"

// Decoder decodes Cloud Logging LogEntry objects (kind "gcp"): a single
// entry (one line of a sink's JSON Lines), a JSON array of entries (gcloud
// logging read --format=json), or an entries.list response
// ({"entries": [...]}).
var Decoder = source.Decoder{
	Kind:   kindGCP,
	Detect: Detect,
	Decode: Decode,
}

// isLogEntry reports whether v looks like a LogEntry.
func isLogEntry(v jsondoc.Value) bool {
	return v.Kind() == jsondoc.Object && v.Get("logName").Kind() == jsondoc.String &&
		(v.Get("timestamp").Exists() || v.Get("receiveTimestamp").Exists() ||
			v.Get("insertId").Exists() || v.Get("resource").Exists())
}

// Detect reports whether root looks like Cloud Logging entries.
func Detect(root jsondoc.Value) bool {
	switch root.Kind() {
	case jsondoc.Object:
		if entries := root.Get("entries"); entries.Kind() == jsondoc.Array {
			return isLogEntry(entries.Index(0))
		}
		return isLogEntry(root)
	case jsondoc.Array:
		return isLogEntry(root.Index(0))
	}
	return false
}

// Decode decodes one document of Cloud Logging entries into sink.
func Decode(root jsondoc.Value, where string, sink source.Sink) error {
	var d decoder
	if err := d.entries(root, where, sink); err != nil {
		return source.NotFormat(kindGCP, err.Error())
	}
	return nil
}

// decoder holds what the entries of one payload share.
type decoder struct {
	// The last log name seen and what it gives: documents mostly hold
	// entries of a few logs.
	logName, logID, logProject string
}

// errNotEntries says a document holds no LogEntry; its text is the reason
// callers give to the user.
var errNotEntries = errors.New(`not a Cloud Logging LogEntry (no "logName"), an array of them, or an entries.list response`)

// entries decodes a LogEntry, an array of them or an entries.list response
// into sink. It returns errNotEntries, having emitted nothing, when root is
// none of these.
func (d *decoder) entries(root jsondoc.Value, where string, sink source.Sink) error {
	list, path := jsondoc.Value{}, ""
	switch root.Kind() {
	case jsondoc.Object:
		if entries := root.Get("entries"); entries.Kind() == jsondoc.Array {
			if entries.Len() > 0 && !isLogEntry(entries.Index(0)) {
				return errNotEntries
			}
			list, path = entries, "entries"
			break
		}
		if !isLogEntry(root) {
			return errNotEntries
		}
		source.DecodeRecord(root, where, sink, d.entry)
		return nil
	case jsondoc.Array:
		if root.Len() > 0 && !isLogEntry(root.Index(0)) {
			return errNotEntries
		}
		list = root
	default:
		return errNotEntries
	}
	source.DecodeRecords(list, where, path, sink, d.entry)
	return nil
}

// Monitored resource types of serverless functions.
const (
	resCloudFunction = "cloud_function"
	resRunRevision   = "cloud_run_revision"
	resRunService    = "cloud_run_service"
)

// entry decodes one LogEntry into e. res is a one-element slice the event
// may use for its resource.
func (d *decoder) entry(v jsondoc.Value, e *event.Event, res []event.Resource) error {
	if v.Kind() != jsondoc.Object {
		return fmt.Errorf("entry is not a JSON object (it is %s)", source.AKind(v.Kind()))
	}
	tv, name := v.Get("timestamp"), "timestamp"
	if rt := v.Get("receiveTimestamp"); !tv.Exists() && rt.Exists() {
		tv, name = rt, "receiveTimestamp"
	}
	t, err := source.TimeField(tv, name)
	if err != nil {
		return err
	}
	e.Time = t
	e.Cloud = event.GCP
	e.Raw = v
	if ln := v.Get("logName"); ln.Exists() && ln.Kind() != jsondoc.String {
		return fmt.Errorf(`"logName" is %s, want a string`, source.AKind(ln.Kind()))
	}
	d.setLog(str(v.Get("logName")))
	resource := v.Get("resource")
	rtype := str(resource.Get("type"))
	labels := resource.Get("labels")
	e.Account = firstString(str(labels.Get("project_id")), d.logProject)
	pp := v.Get("protoPayload")
	switch {
	case isAudit(pp, d.logID):
		if err := d.audit(v, pp, e, res, rtype, labels); err != nil {
			return err
		}
	case rtype == resCloudFunction || rtype == resRunRevision || rtype == resRunService:
		functionEntry(v, e, rtype, labels)
	default:
		if d.logID == "" {
			return errors.New(`missing "logName"`)
		}
		d.logging(v, e, labels)
	}
	if id := str(v.Get("insertId")); id != "" {
		e.ID = id
	} else {
		e.ID = event.DigestID(e.Source, v.Raw())
	}
	return nil
}

// setLog remembers the project and the decoded log ID of logName
// ("projects/<p>/logs/<url-encoded log ID>").
func (d *decoder) setLog(logName string) {
	if logName == d.logName {
		return
	}
	d.logName, d.logProject, d.logID = logName, "", ""
	i := strings.Index(logName, "/logs/")
	if i < 0 {
		return
	}
	if p, ok := strings.CutPrefix(logName[:i], "projects/"); ok {
		d.logProject = p
	}
	id := logName[i+len("/logs/"):]
	if strings.IndexByte(id, '%') >= 0 {
		if u, err := url.PathUnescape(id); err == nil {
			id = u
		}
	}
	d.logID = id
}

// logging maps any other entry: the action is the log ID.
func (d *decoder) logging(v jsondoc.Value, e *event.Event, labels jsondoc.Value) {
	e.Source = event.SourceGCPLogging
	e.Action = d.logID
	if i := strings.IndexByte(d.logID, '/'); i > 0 && strings.HasSuffix(d.logID[:i], ".googleapis.com") {
		e.Service = d.logID[:i]
	}
	e.Region = labelRegion(labels)
	httpFields(v.Get("httpRequest"), e, true)
}

// labelRegion returns the region of a monitored resource from its labels.
func labelRegion(labels jsondoc.Value) string {
	if r := firstString(str(labels.Get("region")), str(labels.Get("location"))); r != "" {
		return r
	}
	if z := str(labels.Get("zone")); z != "" {
		return zoneRegion(z)
	}
	return ""
}

// httpFields fills the source IP and user agent from a LogEntry's
// httpRequest and, if outcome is set, the outcome from its status.
func httpFields(h jsondoc.Value, e *event.Event, outcome bool) {
	if h.Kind() != jsondoc.Object {
		return
	}
	e.SourceIP = cleanIP(str(h.Get("remoteIp")))
	e.UserAgent = str(h.Get("userAgent"))
	if !outcome {
		return
	}
	status := h.Get("status")
	if code, ok := status.Int(); ok && code > 0 {
		e.Outcome = httpOutcome(code)
		if e.Outcome == event.Failure {
			e.ErrorCode = status.Str()
		}
	}
}
