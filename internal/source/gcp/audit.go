package gcp

import (
	"errors"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

const auditLogType = "type.googleapis.com/google.cloud.audit.AuditLog"

// Principal types Vigil writes for Google Cloud callers.
const (
	PrincipalServiceAccount = "serviceAccount"
	PrincipalUser           = "user"
	// PrincipalFederated is a workload or workforce identity federation
	// principal ("principal://iam.googleapis.com/...").
	PrincipalFederated = "federated"
	// PrincipalSystem is Google itself (system@google.com), as in System
	// Event audit logs.
	PrincipalSystem = "system"
)

// isAudit reports whether an entry is a Cloud Audit Logs entry: its payload
// is an AuditLog, or its log is one of the cloudaudit.googleapis.com logs
// (Eventarc's LogEntryData may leave out the payload's "@type").
func isAudit(pp jsondoc.Value, logID string) bool {
	if pp.Kind() != jsondoc.Object {
		return false
	}
	return str(pp.Get("@type")) == auditLogType || strings.HasPrefix(logID, "cloudaudit.googleapis.com/")
}

// grpcCodes are the names of the canonical gRPC status codes, which audit
// logs give as numbers in protoPayload.status.code.
var grpcCodes = [...]string{
	0:  "OK",
	1:  "CANCELLED",
	2:  "UNKNOWN",
	3:  "INVALID_ARGUMENT",
	4:  "DEADLINE_EXCEEDED",
	5:  "NOT_FOUND",
	6:  "ALREADY_EXISTS",
	7:  "PERMISSION_DENIED",
	8:  "RESOURCE_EXHAUSTED",
	9:  "FAILED_PRECONDITION",
	10: "ABORTED",
	11: "OUT_OF_RANGE",
	12: "UNIMPLEMENTED",
	13: "INTERNAL",
	14: "UNAVAILABLE",
	15: "DATA_LOSS",
	16: "UNAUTHENTICATED",
}

// codeName returns the name of a gRPC status code, or its number when it
// has none.
func codeName(code int64) string {
	if code >= 0 && code < int64(len(grpcCodes)) {
		return grpcCodes[code]
	}
	return strconv.FormatInt(code, 10)
}

var errNoMethod = errors.New(`audit entry without "protoPayload.methodName"`)

// audit maps a Cloud Audit Logs entry.
func (d *decoder) audit(v, pp jsondoc.Value, e *event.Event, res []event.Resource, rtype string, labels jsondoc.Value) error {
	e.Action = str(pp.Get("methodName"))
	if e.Action == "" {
		return errNoMethod
	}
	e.Source = event.SourceGCPAudit
	service := str(pp.Get("serviceName"))
	e.Service = service
	resourceName := str(pp.Get("resourceName"))

	e.Region = labelRegion(labels)
	if e.Region == "" {
		if locs := pp.Path("resourceLocation", "currentLocations"); locs.Len() == 1 {
			e.Region = str(locs.Index(0))
		}
	}
	if e.Region == "" {
		e.Region = segmentAfter(resourceName, "locations")
	}

	e.Outcome = event.Success
	status := pp.Get("status")
	if code, ok := status.Get("code").Int(); ok && code != 0 {
		e.Outcome = event.Failure
		e.ErrorCode = codeName(code)
	}
	if d.logID == "cloudaudit.googleapis.com/policy" {
		// Policy Denied entries record requests that VPC Service
		// Controls or an organization policy refused.
		e.Outcome = event.Failure
		if e.ErrorCode == "" {
			e.ErrorCode = str(pp.Path("metadata", "violationReason"))
		}
	}

	auth := pp.Get("authenticationInfo")
	email, subject := str(auth.Get("principalEmail")), str(auth.Get("principalSubject"))
	e.Principal = firstString(email, subject)
	e.PrincipalType = principalType(email, subject)

	meta := pp.Get("requestMetadata")
	e.SourceIP = cleanIP(str(meta.Get("callerIp")))
	e.UserAgent = str(meta.Get("callerSuppliedUserAgent"))

	switch rtype {
	case resCloudFunction:
		e.Function = str(labels.Get("function_name"))
	case resRunRevision, resRunService:
		e.Function = str(labels.Get("service_name"))
	}
	if e.Function == "" {
		e.Function = segmentAfter(resourceName, "functions")
	}
	if e.Function == "" && service == "run.googleapis.com" {
		e.Function = segmentAfter(resourceName, "services")
	}

	if resourceName != "" {
		res[0] = event.Resource{Type: rtype, UID: resourceName}
		e.Resources = res
	}
	return nil
}

// principalType says what kind of principal made an audited call.
func principalType(email, subject string) string {
	switch {
	case email == "system@google.com":
		return PrincipalSystem
	case strings.HasSuffix(email, ".gserviceaccount.com"),
		strings.HasPrefix(subject, "serviceAccount:"):
		return PrincipalServiceAccount
	case strings.HasPrefix(subject, "principal://"), strings.HasPrefix(subject, "principalSet://"):
		return PrincipalFederated
	case strings.IndexByte(email, '@') > 0, strings.HasPrefix(subject, "user:"):
		return PrincipalUser
	}
	return ""
}
