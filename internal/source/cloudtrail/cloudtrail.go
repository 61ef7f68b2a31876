// Package cloudtrail decodes AWS CloudTrail records into normalized events.
//
// One decoder, of kind "cloudtrail", recognizes every way CloudTrail records
// reach a user:
//
//   - S3 delivery files, {"Records":[...]}, gzipped or not (the caller
//     gunzips);
//   - a JSON array of records, and one record per document (JSON Lines);
//   - the output of `aws cloudtrail lookup-events`, {"Events":[...]}, whose
//     CloudTrailEvent members hold each record as a JSON string;
//   - EventBridge events whose detail-type is "AWS API Call via CloudTrail",
//     "AWS Console Sign In via CloudTrail" or "AWS Service Event via
//     CloudTrail", where the record is "detail".
//
// Digest files, CloudTrail Insights records, CloudTrail Lake query results
// and empty delivery files are recognized and reported with a note, since
// they hold no API activity.
//
// Normalize fills an event from a single record for other packages that find
// CloudTrail records inside their own wrappers, such as CloudWatch Logs.
package cloudtrail

import (
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Kind is the --source name of the decoder.
const Kind = "cloudtrail"

// Decoder decodes CloudTrail records in any of the wrappers described in the
// package documentation.
var Decoder = source.Decoder{
	Kind:   Kind,
	Detect: Detect,
	Decode: Decode,
}

// EventBridge detail types that carry a CloudTrail record in "detail".
var eventBridgeTypes = [...]string{
	"AWS API Call via CloudTrail",
	"AWS Console Sign In via CloudTrail",
	"AWS Service Event via CloudTrail",
}

const insightType = "AwsCloudTrailInsight"

// Detect reports whether root is one of the CloudTrail documents the package
// decodes. It looks at a few members only.
func Detect(root jsondoc.Value) bool {
	switch root.Kind() {
	case jsondoc.Object:
		if r := root.Get("Records"); r.Exists() {
			if r.Kind() != jsondoc.Array {
				return true // a broken delivery file: Decode says what is wrong
			}
			first := r.Index(0)
			return !first.Exists() || isRecord(first) || isInsight(first)
		}
		if e := root.Get("Events"); e.Kind() == jsondoc.Array {
			return isLookupEvent(e.Index(0))
		}
		return isEventBridge(root) || isDigest(root) || isLakeResults(root) ||
			isRecord(root) || isLookupEvent(root) || isInsight(root)
	case jsondoc.Array:
		first := root.Index(0)
		return isRecord(first) || isEventBridge(first) || isLookupEvent(first)
	}
	return false
}

// isRecord reports whether v looks like a CloudTrail record. S3, SQS and SNS
// event notifications also have eventVersion and eventSource, but their
// eventSource is "aws:s3" and the like.
func isRecord(v jsondoc.Value) bool {
	src := v.Get("eventSource")
	return v.Get("eventVersion").Kind() == jsondoc.String &&
		src.Kind() == jsondoc.String && !strings.HasPrefix(src.Str(), "aws:") &&
		v.Get("eventTime").Exists()
}

func isInsight(v jsondoc.Value) bool {
	return v.Get("eventType").Str() == insightType && v.Get("eventVersion").Exists()
}

func isLookupEvent(v jsondoc.Value) bool {
	return v.Get("CloudTrailEvent").Kind() == jsondoc.String
}

func isEventBridge(v jsondoc.Value) bool {
	dt := v.Get("detail-type")
	if dt.Kind() != jsondoc.String {
		return false
	}
	s := dt.Str()
	for _, t := range eventBridgeTypes {
		if s == t {
			return true
		}
	}
	return false
}

func isDigest(v jsondoc.Value) bool {
	return v.Get("digestStartTime").Exists() && (v.Get("logFiles").Exists() || v.Get("digestS3Bucket").Exists())
}

// isLakeResults reports whether v is `aws cloudtrail get-query-results`
// output from CloudTrail Lake.
func isLakeResults(v jsondoc.Value) bool {
	return v.Get("QueryResultRows").Exists() && v.Get("QueryStatus").Exists()
}

// Decode decodes one CloudTrail document. See the package documentation for
// the shapes it accepts.
func Decode(root jsondoc.Value, where string, sink source.Sink) error {
	switch root.Kind() {
	case jsondoc.Object:
		return decodeObject(root, where, sink)
	case jsondoc.Array:
		first := root.Index(0)
		if root.Len() > 0 && !isRecord(first) && !isEventBridge(first) && !isLookupEvent(first) && !isInsight(first) {
			return source.NotFormat(Kind, "the first array element is not a CloudTrail record, lookup-events entry or EventBridge CloudTrail event")
		}
		decodeList(root, where, sink)
		return nil
	case jsondoc.Missing:
		return source.NotFormat(Kind, "empty document")
	}
	return source.NotFormat(Kind, "a JSON "+root.Kind().String()+", want an object or an array")
}

func decodeObject(root jsondoc.Value, where string, sink source.Sink) error {
	if r := root.Get("Records"); r.Exists() {
		if r.Kind() != jsondoc.Array {
			return source.NotFormat(Kind, `"Records" is `+source.AKind(r.Kind())+", not an array")
		}
		if src := r.Index(0).Get("eventSource"); strings.HasPrefix(src.Str(), "aws:") {
			return source.NotFormat(Kind, `"Records" holds `+src.Str()+" event notifications, not CloudTrail records")
		}
		where = source.JoinWhere(where, "Records")
		if r.Len() == 0 {
			sink.Note(prefix(where) + "empty CloudTrail delivery file: no records")
			return nil
		}
		decodeList(r, where, sink)
		return nil
	}
	if e := root.Get("Events"); e.Exists() && (e.Kind() != jsondoc.Array || isLookupEvent(e.Index(0)) || e.Len() == 0) {
		if e.Kind() != jsondoc.Array {
			return source.NotFormat(Kind, `"Events" is `+source.AKind(e.Kind())+", not an array")
		}
		where = source.JoinWhere(where, "Events")
		if e.Len() == 0 {
			sink.Note(prefix(where) + "lookup-events output with no events")
			return nil
		}
		decodeList(e, where, sink)
		return nil
	}
	switch {
	case isDigest(root):
		sink.Note(digestNote(root, where))
		return nil
	case isLakeResults(root):
		sink.Note(prefix(where) + "skipped CloudTrail Lake query results (get-query-results): rows hold the selected columns as strings, not CloudTrail records; " +
			"decode the event data store's events instead (for example `aws cloudtrail lookup-events` or the trail's S3 files)")
		return nil
	case isEventBridge(root), isRecord(root), isLookupEvent(root), isInsight(root):
		evs := make([]event.Event, 1)
		var skipped int
		decodeOne(root, &evs[0], where, -1, nil, sink, &skipped)
		noteInsights(skipped, where, sink)
		return nil
	}
	return source.NotFormat(Kind, `no "Records" array, "Events" array, CloudTrail record or EventBridge CloudTrail event`)
}

// decodeList decodes the elements of an array of records, lookup-events
// entries or EventBridge events. list is at path where.
func decodeList(list jsondoc.Value, where string, sink source.Sink) {
	n := list.Len()
	evs := make([]event.Event, n)
	slab := make([]event.Resource, 0, n)
	var skipped int
	list.Elements(func(i int, v jsondoc.Value) bool {
		decodeOne(v, &evs[i], where, i, &slab, sink, &skipped)
		return true
	})
	noteInsights(skipped, where, sink)
}

// decodeOne decodes one element of any accepted kind into ev and emits it,
// or reports why it could not. The element's location is where[i], or where
// itself when i < 0.
func decodeOne(v jsondoc.Value, ev *event.Event, where string, i int, slab *[]event.Resource, sink source.Sink, skipped *int) {
	if v.Kind() != jsondoc.Object {
		fail(sink, where, i, "record is a JSON "+v.Kind().String()+", not an object")
		return
	}
	var err error
	var f recordFields
	f.collect(v) // one pass over the keys tells the shape and finds the fields
	shape := f.shape
	switch {
	case shape.lookup:
		err = decodeLookup(v, ev, slab)
		if err != nil {
			where = source.JoinWhere(source.At(where, i), "CloudTrailEvent")
			i = -1
		}
	case shape.eventBridge:
		detail := v.Get("detail")
		if detail.Kind() != jsondoc.Object {
			fail(sink, where, i, `EventBridge event has no "detail" object`)
			return
		}
		fb := fallback{id: str(v.Get("id")), account: str(v.Get("account")), region: str(v.Get("region"))}
		if t := str(v.Get("time")); t != "" {
			if tt, perr := time.Parse(time.RFC3339, t); perr == nil {
				fb.time = tt.UTC()
			}
		}
		if isInsight(detail) {
			*skipped++
			return
		}
		err = normalize(detail, ev, &fb, slab)
		if err != nil {
			where = source.JoinWhere(source.At(where, i), "detail")
			i = -1
		}
	case shape.insight:
		*skipped++
		return
	default:
		err = normalizeFields(v, &f, ev, nil, slab)
	}
	if err != nil {
		fail(sink, where, i, err.Error())
		return
	}
	sink.Event(ev)
}

// recordShape says which kind of element a record list holds.
type recordShape struct{ lookup, eventBridge, insight, versioned bool }

// decodeLookup decodes one entry of lookup-events output. The record is the
// CloudTrailEvent string, parsed into its own document.
func decodeLookup(v jsondoc.Value, ev *event.Event, slab *[]event.Resource) error {
	doc, err := source.ParseJSON([]byte(v.Get("CloudTrailEvent").Str()))
	if err != nil {
		return err
	}
	fb := fallback{id: str(v.Get("EventId"))}
	switch t := v.Get("EventTime"); t.Kind() {
	case jsondoc.String:
		if tt, perr := time.Parse(time.RFC3339, t.Str()); perr == nil {
			fb.time = tt.UTC()
		}
	case jsondoc.Number:
		// The API itself, as opposed to the CLI, gives epoch seconds.
		if f, ok := t.Float(); ok && f > 0 && f < 1e11 {
			fb.time = time.Unix(0, int64(f*1e9)).UTC()
		}
	}
	return normalize(doc.Root(), ev, &fb, slab)
}

func noteInsights(n int, where string, sink source.Sink) {
	if n == 0 {
		return
	}
	sink.Note(prefix(where) + "skipped " + strconv.Itoa(n) + " CloudTrail Insights record(s) (eventType " + insightType +
		"): they report unusual API call rates, not API calls; the calls themselves are in the trail's management events")
}

func digestNote(root jsondoc.Value, where string) string {
	var b strings.Builder
	b.WriteString(prefix(where))
	b.WriteString("skipped a CloudTrail digest file")
	if acct := str(root.Get("awsAccountId")); acct != "" {
		b.WriteString(" of account ")
		b.WriteString(acct)
	}
	if s, e := str(root.Get("digestStartTime")), str(root.Get("digestEndTime")); s != "" && e != "" {
		b.WriteString(" for ")
		b.WriteString(s)
		b.WriteString(" to ")
		b.WriteString(e)
	}
	b.WriteString(" (")
	b.WriteString(strconv.Itoa(root.Get("logFiles").Len()))
	b.WriteString(" log files): digest files hold hashes that validate log file integrity, not events; decode the log files under CloudTrail/ instead of CloudTrail-Digest/")
	return b.String()
}

func fail(sink source.Sink, where string, i int, msg string) {
	source.Failf(sink, source.At(where, i), "%s", msg)
}

func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}
