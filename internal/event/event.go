// Package event defines the normalized envelope that every log source fills,
// and field access into it and into the native record it came from.
//
// Envelope names follow OCSF where OCSF has one. Rules read native fields by
// dotted path ("userIdentity.arn", "protoPayload.methodName") and envelope
// fields under the "vigil." prefix ("vigil.action").
package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// Clouds.
const (
	AWS   = "aws"
	Azure = "azure"
	GCP   = "gcp"
)

// Outcome says whether the action succeeded.
type Outcome uint8

// Outcomes. Unknown is the zero value.
const (
	Unknown Outcome = iota
	Success
	Failure
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// Source names the kind of log an event came from, whatever wrapper carried
// it: a CloudTrail record is "aws.cloudtrail" whether it arrived in an S3
// file, through EventBridge or inside CloudWatch Logs.
const (
	SourceCloudTrail     = "aws.cloudtrail"
	SourceLambda         = "aws.lambda"
	SourceCloudWatch     = "aws.cloudwatch"
	SourceAzureActivity  = "azure.activity"
	SourceAzureFunctions = "azure.functions"
	SourceAzureHTTP      = "azure.appservice_http"
	SourceAzureSignIn    = "azure.signin"
	SourceAzureAudit     = "azure.audit"
	SourceGCPAudit       = "gcp.audit"
	SourceGCPFunctions   = "gcp.functions"
	SourceGCPLogging     = "gcp.logging"
)

// Actions of serverless platform logs, the same across clouds, so that one
// rule on vigil.action covers Lambda, Azure Functions and Cloud Functions.
const (
	ActionFunctionStart     = "function.start"
	ActionFunctionEnd       = "function.end"
	ActionFunctionReport    = "function.report"
	ActionFunctionTimeout   = "function.timeout"
	ActionFunctionInitError = "function.init_error"
	ActionFunctionError     = "function.error"
	ActionFunctionOOM       = "function.out_of_memory"
	ActionFunctionLog       = "function.log"
)

// Resource is a cloud resource an event concerns.
type Resource struct {
	Type string // provider type, e.g. "AWS::Lambda::Function"
	UID  string // ARN, Azure resource ID or GCP resource name
}

// Event is one normalized log record. Strings may share memory with the
// record's source bytes, which must therefore stay unchanged.
type Event struct {
	Time          time.Time
	Cloud         string // aws, azure or gcp
	Source        string // the kind of log, see the Source constants
	ID            string // the provider's record ID, or a digest of the record
	Account       string // AWS account, Azure subscription or GCP project
	Region        string
	Service       string // e.g. lambda.amazonaws.com, Microsoft.Web, cloudfunctions.googleapis.com
	Action        string // e.g. eventName, operationName, methodName
	Outcome       Outcome
	ErrorCode     string
	Principal     string // ARN, UPN, e-mail or object ID of the caller
	PrincipalType string
	SourceIP      string
	UserAgent     string
	Function      string // the serverless function concerned, if any
	Resources     []Resource
	Raw           jsondoc.Value // the native record
}

// Clone returns a deep copy of e that shares no memory with the input it
// was decoded from.
func (e *Event) Clone() *Event {
	c := *e
	for _, s := range c.StringFields() {
		*s = strings.Clone(*s)
	}
	if e.Resources != nil {
		c.Resources = make([]Resource, len(e.Resources))
		for i, r := range e.Resources {
			c.Resources[i] = Resource{Type: strings.Clone(r.Type), UID: strings.Clone(r.UID)}
		}
	}
	if e.Raw.Exists() {
		d := new(jsondoc.Doc)
		// The record parsed once already, so it parses again.
		if err := d.Parse(bytes.Clone(e.Raw.Raw())); err == nil {
			c.Raw = d.Root()
		}
	}
	return &c
}

// StringFields returns pointers to the event's string fields, for code
// that copies the memory an event shares with its decoder (see Clone).
// Resources and Raw hold more.
func (e *Event) StringFields() [13]*string {
	return [...]*string{&e.Cloud, &e.Source, &e.ID, &e.Account, &e.Region, &e.Service, &e.Action,
		&e.ErrorCode, &e.Principal, &e.PrincipalType, &e.SourceIP, &e.UserAgent, &e.Function}
}

// DigestID returns a stable ID for a record that has none of its own, made
// from the source name and the record's bytes, so that a replayed record
// gets the same ID.
func DigestID(source string, parts ...[]byte) string {
	h := sha256.New()
	h.Write([]byte(source))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write(p)
	}
	var sum [sha256.Size]byte
	return "sha256:" + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// EnvelopePrefix is the prefix under which rules read envelope fields.
const EnvelopePrefix = "vigil."

// Envelope field names, as they appear in JSON and after EnvelopePrefix.
var envelopeFields = map[string]func(*Event) string{
	"time":           func(e *Event) string { return formatTime(e.Time) },
	"cloud":          func(e *Event) string { return e.Cloud },
	"source":         func(e *Event) string { return e.Source },
	"id":             func(e *Event) string { return e.ID },
	"account":        func(e *Event) string { return e.Account },
	"region":         func(e *Event) string { return e.Region },
	"service":        func(e *Event) string { return e.Service },
	"action":         func(e *Event) string { return e.Action },
	"outcome":        func(e *Event) string { return e.Outcome.String() },
	"error_code":     func(e *Event) string { return e.ErrorCode },
	"principal":      func(e *Event) string { return e.Principal },
	"principal_type": func(e *Event) string { return e.PrincipalType },
	"source_ip":      func(e *Event) string { return e.SourceIP },
	"user_agent":     func(e *Event) string { return e.UserAgent },
	"function":       func(e *Event) string { return e.Function },
}

// EnvelopeGetter returns the function that reads the envelope field name
// (without the "vigil." prefix), or nil if there is no such field.
// "resources" is read with Resources directly.
func EnvelopeGetter(name string) func(*Event) string { return envelopeFields[name] }

// EnvelopeFieldNames lists the names EnvelopeGetter knows.
func EnvelopeFieldNames() []string {
	return []string{"time", "cloud", "source", "id", "account", "region", "service", "action",
		"outcome", "error_code", "principal", "principal_type", "source_ip", "user_agent", "function"}
}

// Envelope returns the value of the envelope field name (without prefix).
func (e *Event) Envelope(name string) (string, bool) {
	if g := envelopeFields[name]; g != nil {
		return g(e), true
	}
	return "", false
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// FunctionFromARN returns the function name in a Lambda function ARN
// (arn:aws:lambda:region:account:function:name[:qualifier]), or s itself when
// it is not such an ARN.
func FunctionFromARN(s string) string {
	const marker = ":function:"
	i := strings.Index(s, marker)
	if !strings.HasPrefix(s, "arn:") || i < 0 {
		return s
	}
	name := s[i+len(marker):]
	if j := strings.IndexByte(name, ':'); j >= 0 {
		name = name[:j]
	}
	return name
}
