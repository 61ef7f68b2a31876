package cloudtrail

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

const lambdaService = "lambda.amazonaws.com"

// lambdaFunctionType is the CloudTrail resource type of a Lambda function.
const lambdaFunctionType = "AWS::Lambda::Function"

// fallback holds values a wrapper around a record knows, used when the
// record itself lacks them: an EventBridge event's time and id, a
// lookup-events entry's EventTime and EventId.
type fallback struct {
	time    time.Time
	id      string
	account string
	region  string
}

// Normalize fills ev from one CloudTrail record. ev.Raw is set to rec. It
// returns an error, and leaves ev partly filled, when rec is not an object,
// lacks eventTime or eventName, or has an eventTime that is not RFC 3339.
func Normalize(rec jsondoc.Value, ev *event.Event) error {
	return normalize(rec, ev, nil, nil)
}

// recordFields are the members of a record that normalization reads, found in
// one pass over the record.
type recordFields struct {
	eventTime, eventName, eventSource, eventID jsondoc.Value
	recipient, region, errorCode, sourceIP     jsondoc.Value
	userAgent, userIdentity, resources         jsondoc.Value
	requestParams, responseElems               jsondoc.Value
	// What kind of element the record is, learnt in the same pass.
	shape recordShape
}

func (f *recordFields) collect(rec jsondoc.Value) {
	rec.Members(func(key string, v jsondoc.Value) bool {
		switch key {
		case "eventTime":
			f.eventTime = v
		case "eventName":
			f.eventName = v
		case "eventSource":
			f.eventSource = v
		case "eventID":
			f.eventID = v
		case "recipientAccountId":
			f.recipient = v
		case "awsRegion":
			f.region = v
		case "errorCode":
			f.errorCode = v
		case "sourceIPAddress":
			f.sourceIP = v
		case "userAgent":
			f.userAgent = v
		case "userIdentity":
			f.userIdentity = v
		case "resources":
			f.resources = v
		case "requestParameters":
			f.requestParams = v
		case "responseElements":
			f.responseElems = v
		case "CloudTrailEvent":
			f.shape.lookup = v.Kind() == jsondoc.String
		case "detail-type":
			f.shape.eventBridge = v.Kind() == jsondoc.String && slices.Contains(eventBridgeTypes[:], v.Str())
		case "eventType":
			f.shape.insight = v.Str() == insightType
		case "eventVersion":
			f.shape.versioned = true
		}
		return true
	})
	f.shape.insight = f.shape.insight && f.shape.versioned
}

var (
	errNotObject    = errors.New("record is not a JSON object")
	errNoEventTime  = errors.New(`record has no "eventTime"`)
	errNoEventName  = errors.New(`record has no "eventName"`)
	errBadEventName = errors.New(`"eventName" is not a non-empty string`)
)

// normalize fills ev from rec. fb, if not nil, supplies values the record
// lacks. res, if not nil, is a slab that resources are appended to, so that
// the records of one document share one allocation.
func normalize(rec jsondoc.Value, ev *event.Event, fb *fallback, res *[]event.Resource) error {
	if rec.Kind() != jsondoc.Object {
		return errNotObject
	}
	var f recordFields
	f.collect(rec)
	return normalizeFields(rec, &f, ev, fb, res)
}

// normalizeFields is normalize with the record's fields already collected.
func normalizeFields(rec jsondoc.Value, f *recordFields, ev *event.Event, fb *fallback, res *[]event.Resource) error {
	switch f.eventTime.Kind() {
	case jsondoc.String:
		t, err := time.Parse(time.RFC3339, f.eventTime.Str())
		if err != nil {
			return errors.New(`invalid "eventTime" ` + quote(f.eventTime.Str()) + `: want RFC 3339 such as 2024-05-14T09:21:30Z`)
		}
		ev.Time = t.UTC()
	case jsondoc.Missing, jsondoc.Null:
		if fb == nil || fb.time.IsZero() {
			return errNoEventTime
		}
		ev.Time = fb.time
	default:
		return errors.New(`"eventTime" is a ` + f.eventTime.Kind().String() + `, not a string`)
	}
	if !f.eventName.Exists() || f.eventName.Kind() == jsondoc.Null {
		return errNoEventName
	}
	if f.eventName.Kind() != jsondoc.String || f.eventName.Str() == "" {
		return errBadEventName
	}

	ev.Cloud = event.AWS
	ev.Source = event.SourceCloudTrail
	ev.Raw = rec
	ev.Action = f.eventName.Str()
	ev.Service = str(f.eventSource)
	ev.Region = str(f.region)
	ev.UserAgent = str(f.userAgent)

	ev.ID = str(f.eventID)
	if ev.ID == "" {
		if fb != nil && fb.id != "" {
			ev.ID = fb.id
		} else {
			ev.ID = event.DigestID(event.SourceCloudTrail, rec.Raw())
		}
	}

	ui := f.userIdentity
	ev.PrincipalType = str(ui.Get("type"))
	ev.Principal = firstString(ui, "arn", "principalId", "invokedBy", "userName")
	ev.Account = str(f.recipient)
	if ev.Account == "" {
		ev.Account = str(ui.Get("accountId"))
	}
	if fb != nil {
		if ev.Account == "" {
			ev.Account = fb.account
		}
		if ev.Region == "" {
			ev.Region = fb.region
		}
	}

	ev.ErrorCode = str(f.errorCode)
	switch {
	case ev.ErrorCode != "":
		ev.Outcome = event.Failure
	case ev.Service == "signin.amazonaws.com" && f.responseElems.Get(ev.Action).Str() == "Failure":
		// Console sign-in failures carry no errorCode, only
		// responseElements.ConsoleLogin (or SwitchRole, CheckMfa) = "Failure".
		ev.Outcome = event.Failure
	default:
		ev.Outcome = event.Success
	}

	if ip := str(f.sourceIP); ip != "" && isIP(ip) {
		ev.SourceIP = ip
	}

	var fnARN string
	if ev.Service == lambdaService {
		name := str(f.requestParams.Get("functionName"))
		if strings.HasPrefix(name, "arn:") {
			fnARN = name
		}
		if name == "" {
			name = str(f.responseElems.Get("functionName"))
		}
		ev.Function = functionName(name)
		if arn := str(f.responseElems.Get("functionArn")); arn != "" {
			fnARN = arn
		}
	}
	ev.Resources = resources(f.resources, fnARN, res)
	return nil
}

// resources collects the record's resources[] and the function ARN, if any
// and not already listed.
func resources(list jsondoc.Value, fnARN string, slab *[]event.Resource) []event.Resource {
	n := list.Len()
	if n == 0 && fnARN == "" {
		return nil
	}
	var local []event.Resource
	if slab == nil {
		local = make([]event.Resource, 0, n+1)
		slab = &local
	}
	start := len(*slab)
	list.Elements(func(_ int, r jsondoc.Value) bool {
		uid := str(r.Get("ARN"))
		if uid == "" {
			uid = str(r.Get("ARNPrefix"))
		}
		if uid == "" {
			return true
		}
		*slab = append(*slab, event.Resource{Type: str(r.Get("type")), UID: uid})
		return true
	})
	if fnARN != "" {
		found := false
		for _, r := range (*slab)[start:] {
			if r.UID == fnARN {
				found = true
				break
			}
		}
		if !found {
			*slab = append(*slab, event.Resource{Type: lambdaFunctionType, UID: fnARN})
		}
	}
	if len(*slab) == start {
		return nil
	}
	return (*slab)[start:len(*slab):len(*slab)]
}

// functionName returns the function name in a Lambda functionName parameter,
// which may be a name, a full ARN or a partial ARN
// (111122223333:function:name), each optionally with a version or alias.
func functionName(s string) string {
	s = event.FunctionFromARN(s)
	if i := strings.Index(s, ":function:"); i >= 0 {
		s = s[i+len(":function:"):]
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return s
}

// str returns a string value's text, or "" for any other kind.
func str(v jsondoc.Value) string {
	if v.Kind() != jsondoc.String {
		return ""
	}
	return v.Str()
}

func firstString(obj jsondoc.Value, keys ...string) string {
	for _, k := range keys {
		if s := str(obj.Get(k)); s != "" {
			return s
		}
	}
	return ""
}

// isIP reports whether s is an IPv4 or IPv6 address. sourceIPAddress also
// holds service names such as "lambda.amazonaws.com" and "AWS Internal".
func isIP(s string) bool {
	c := s[0]
	if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':') {
		return false
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// quote quotes s for an error message, cut to a readable length.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return string(jsondoc.AppendString(nil, s))
}
