package cloudwatch

import (
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/source/cloudtrail"
	"github.com/vigil-sec/vigil/internal/source/lambda"
)

// ActionLog is the action of a log message that no more specific decoder
// claims.
const ActionLog = "log"

// route says which decoder a log message goes to.
type route uint8

const (
	routeNone       route = iota // the message failed
	routeGeneric                 // a plain log message
	routeLambda                  // a Lambda function's log message
	routeCloudTrail              // a CloudTrail record
)

// batch turns the messages of one payload into events. The events share one
// slice, the raw records the batch builds share one document, and the
// CloudTrail records share another, so that a payload costs a few
// allocations however many messages it holds.
type batch struct {
	where  string // location of the message list, e.g. "records[2].logEvents"
	evs    []event.Event
	routes []route
	built  []byte   // a JSON array of the raw records of generic and Lambda events
	nBuilt int      // records in built
	trail  []byte   // a JSON array of the CloudTrail records
	ctMsgs []string // the CloudTrail records, to find a bad one
	ctIdx  []int32  // the event index of each CloudTrail record
	lp     lambda.Parser
}

func newBatch(where string, n, size int) *batch {
	return &batch{
		where:  where,
		evs:    make([]event.Event, n),
		routes: make([]route, n),
		built:  append(make([]byte, 0, size+n*96), '['),
		trail:  []byte{'['},
	}
}

func (b *batch) at(i int) string { return source.At(b.where, i) }

// add routes message i.
func (b *batch) add(i int, msg string, meta *lambda.Meta, r route) {
	ev := &b.evs[i]
	pos := ""
	if meta.ID == "" {
		pos = b.at(i) // tells identical messages without an ID apart
	}
	switch r {
	case routeCloudTrail:
		if len(b.ctIdx) > 0 {
			b.trail = append(b.trail, ',')
		}
		b.trail = append(b.trail, msg...)
		b.ctMsgs = append(b.ctMsgs, msg)
		b.ctIdx = append(b.ctIdx, int32(i))
	case routeLambda:
		b.comma()
		b.built = b.lp.Append(b.built, msg, meta, pos, ev)
	default:
		r = routeGeneric
		b.comma()
		b.built = appendGeneric(b.built, ev, msg, meta, pos)
	}
	b.routes[i] = r
}

func (b *batch) comma() {
	if b.nBuilt > 0 {
		b.built = append(b.built, ',')
	}
	b.nBuilt++
}

// flush completes the events and emits them in message order.
func (b *batch) flush(sink source.Sink) {
	if b.nBuilt > 0 {
		b.built = append(b.built, ']')
		d := new(jsondoc.Doc)
		if err := d.Parse(b.built); err != nil {
			for i, r := range b.routes {
				if r == routeGeneric || r == routeLambda {
					source.Failf(sink, b.at(i), "building the raw record: %v", err)
					b.routes[i] = routeNone
				}
			}
		} else {
			i := 0
			d.Root().Elements(func(_ int, v jsondoc.Value) bool {
				for i < len(b.routes) && b.routes[i] != routeGeneric && b.routes[i] != routeLambda {
					i++
				}
				if i == len(b.routes) {
					return false
				}
				b.evs[i].Raw = v
				i++
				return true
			})
		}
	}
	if len(b.ctIdx) > 0 {
		b.trail = append(b.trail, ']')
		b.normalizeTrail(sink)
	}
	for i := range b.evs {
		if b.routes[i] != routeNone {
			sink.Event(&b.evs[i])
		}
	}
}

// normalizeTrail parses the CloudTrail records, all in one document when
// they are all valid JSON, and normalizes them.
func (b *batch) normalizeTrail(sink source.Sink) {
	normalize := func(k int, rec jsondoc.Value) {
		i := int(b.ctIdx[k])
		if err := cloudtrail.Normalize(rec, &b.evs[i]); err != nil {
			source.Failf(sink, b.at(i), "CloudTrail record: %v", err)
			b.routes[i] = routeNone
		}
	}
	if d, err := source.ParseJSON(b.trail); err == nil && b.aligned(d.Root()) {
		d.Root().Elements(func(k int, rec jsondoc.Value) bool {
			normalize(k, rec)
			return true
		})
		return
	}
	for k, msg := range b.ctMsgs {
		d, err := source.ParseJSON([]byte(msg))
		if err != nil {
			i := int(b.ctIdx[k])
			source.Failf(sink, b.at(i), "CloudTrail record: %v", err)
			b.routes[i] = routeNone
			continue
		}
		normalize(k, d.Root())
	}
}

// aligned reports whether the elements of the parsed CloudTrail array are
// exactly the messages, one each. A message such as `{},{}` would otherwise
// shift the others.
func (b *batch) aligned(arr jsondoc.Value) bool {
	if arr.Len() != len(b.ctMsgs) {
		return false
	}
	ok := true
	arr.Elements(func(k int, rec jsondoc.Value) bool {
		ok = string(rec.Raw()) == strings.TrimSpace(b.ctMsgs[k])
		return ok
	})
	return ok
}

// appendGeneric fills ev for a plain log message and appends its raw
// record, {"logGroup","logStream","id","timestamp","message"}.
func appendGeneric(dst []byte, ev *event.Event, msg string, meta *lambda.Meta, pos string) []byte {
	ev.Cloud, ev.Source, ev.Action = event.AWS, event.SourceCloudWatch, ActionLog
	ev.Account, ev.Region = meta.Owner, meta.Region
	if meta.Timestamp > 0 {
		ev.Time = time.UnixMilli(meta.Timestamp).UTC()
	}
	var tsText [20]byte
	ts := strconv.AppendInt(tsText[:0], meta.Timestamp, 10)
	ev.ID = meta.ID
	if ev.ID == "" {
		ev.ID = event.DigestID(event.SourceCloudWatch, []byte(meta.LogGroup), []byte(meta.LogStream), ts, []byte(pos), []byte(msg))
	}
	dst = append(dst, '{')
	if meta.LogGroup != "" {
		dst = append(dst, `"logGroup":`...)
		dst = jsondoc.AppendString(dst, meta.LogGroup)
		dst = append(dst, ',')
	}
	if meta.LogStream != "" {
		dst = append(dst, `"logStream":`...)
		dst = jsondoc.AppendString(dst, meta.LogStream)
		dst = append(dst, ',')
	}
	if meta.ID != "" {
		dst = append(dst, `"id":`...)
		dst = jsondoc.AppendString(dst, meta.ID)
		dst = append(dst, ',')
	}
	if meta.Timestamp > 0 {
		dst = append(dst, `"timestamp":`...)
		dst = append(dst, ts...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"message":`...)
	dst = jsondoc.AppendString(dst, msg)
	return append(dst, '}')
}

// looksLikeCloudTrail reports whether a log message is a CloudTrail record.
func looksLikeCloudTrail(msg string) bool {
	s := strings.TrimLeft(msg, " \t\r\n")
	return strings.HasPrefix(s, "{") && strings.Contains(s, `"eventVersion"`) && strings.Contains(s, `"eventSource"`)
}

// isCloudTrailGroup reports whether a log group is one CloudTrail delivers
// to: the console names them aws-cloudtrail-logs-<account>-<suffix>, and
// CloudTrail/DefaultLogGroup is the older default.
func isCloudTrailGroup(group string) bool {
	if strings.HasPrefix(group, "/aws/lambda/") {
		return false // a function's own logs, whatever its name
	}
	const want = "cloudtrail"
	for i := 0; i+len(want) <= len(group); i++ {
		if strings.EqualFold(group[i:i+len(want)], want) {
			return true
		}
	}
	return false
}
