package azure

import (
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// activity holds the fields of an activity log event that the storage
// export, the REST API and Event Grid all carry, under different names.
type activity struct {
	resourceID     string
	subscriptionID string
	operation      string
	provider       string // the resource provider namespace, if named
	resourceType   string
	status         string // resultType, status.value or data.status
	errorCode      string // used when status is a failure
	callerIP       string
	caller         string // the REST "caller": a UPN or an object ID
	location       string
	claims         jsondoc.Value
	evidenceType   string // authorization.evidence.principalType
}

// fill sets the envelope of an azure.activity event from a. Time and ID are
// set by the caller.
func (d *decoder) fill(e *event.Event, a *activity, res []event.Resource) {
	rid := parseResourceID(a.resourceID)
	e.Source = event.SourceAzureActivity
	e.Account = d.c.sub.lower(firstString(rid.sub, a.subscriptionID))
	if a.location != "" {
		e.Region = d.c.region.region(a.location)
	}
	e.Service = canonicalNamespace(firstString(a.provider, namespaceOfOperation(a.operation), rid.ns))
	e.Action = a.operation
	e.Outcome = outcomeOf(a.status)
	if e.Outcome == event.Failure {
		e.ErrorCode = a.errorCode
	}
	c := readClaims(a.claims)
	e.Principal = c.principal(a.caller)
	e.PrincipalType = c.principalType()
	if e.PrincipalType == "" {
		switch {
		case a.evidenceType == PrincipalUser || a.evidenceType == PrincipalServicePrincipal:
			e.PrincipalType = a.evidenceType
		case strings.IndexByte(a.caller, '@') > 0:
			e.PrincipalType = PrincipalUser
		}
	}
	e.SourceIP = cleanIP(a.callerIP)
	if rid.site != "" {
		e.Function = d.c.site.lower(rid.site)
	}
	if a.resourceID != "" {
		res[0] = event.Resource{Type: firstString(a.resourceType, rid.typ), UID: a.resourceID}
		e.Resources = res
	}
}

// activityCategories are the categories of the activity log itself.
var activityCategories = [...]string{
	"Administrative", "Security", "ServiceHealth", "ResourceHealth", "Alert",
	"Autoscale", "Recommendation", "Policy",
}

func isActivityCategory(c string) bool {
	for _, a := range activityCategories {
		if strings.EqualFold(a, c) {
			return true
		}
	}
	return false
}

// resourceLog decodes a record in the common resource-log schema: the
// activity log as exported by a diagnostic setting, and resource logs of
// categories without a mapping of their own.
func (d *decoder) resourceLog(v jsondoc.Value, e *event.Event, res []event.Resource, category string) error {
	op := str(v.Get("operationName"))
	rid := str(v.Get("resourceId"))
	if op == "" || rid == "" {
		if category != "" && !isActivityCategory(category) {
			return fmt.Errorf("category %s has no mapping, and the record has no operationName and resourceId to decode it generically", source.Quote(category))
		}
		if op == "" {
			return errNoOperation
		}
		return fmt.Errorf(`missing "resourceId"`)
	}
	t, err := source.TimeField(v.Get("time"), "time")
	if err != nil {
		return err
	}
	e.Time = t
	props := v.Get("properties")
	identity := v.Get("identity")
	claims := identity.Get("claims")
	if !claims.Exists() {
		claims = identity.Get("claim") // Key Vault writes the singular
	}
	a := activity{
		resourceID:   rid,
		operation:    op,
		status:       str(v.Get("resultType")),
		callerIP:     str(v.Get("callerIpAddress")),
		location:     str(v.Get("location")),
		claims:       objectValue(claims),
		evidenceType: str(identity.Path("authorization", "evidence", "principalType")),
	}
	if outcomeOf(a.status) == event.Failure {
		a.errorCode = firstString(scalar(props.Get("statusCode")), signatureCode(str(v.Get("resultSignature"))))
	}
	d.fill(e, &a, res)
	if a.status == "" {
		// Resource logs of other services give an HTTP status instead.
		status := v.Get("httpStatusCode")
		if !status.Exists() {
			status = v.Get("statusCode")
		}
		if code, ok := status.Int(); ok && code > 0 {
			e.Outcome = httpOutcome(code)
			if e.Outcome == event.Failure {
				e.ErrorCode = status.Str()
			}
		}
	}
	if id := str(v.Get("eventDataId")); id != "" {
		e.ID = id
	} else {
		e.ID = event.DigestID(event.SourceAzureActivity, v.Raw())
	}
	return nil
}

// signatureCode returns the sub-status of a resultSignature such as
// "Failed.Forbidden", or the whole signature when it has no dot and is not
// just the status again ("Failed").
func signatureCode(s string) string {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	if outcomeOf(s) != event.Unknown {
		return ""
	}
	return s
}

// restActivity decodes an activity log event in the REST API shape
// (az monitor activity-log list).
func (d *decoder) restActivity(v jsondoc.Value, e *event.Event, res []event.Resource) error {
	op := valueStr(v.Get("operationName"))
	if op == "" {
		return errNoOperation
	}
	t, err := source.TimeField(v.Get("eventTimestamp"), "eventTimestamp")
	if err != nil {
		return err
	}
	e.Time = t
	a := activity{
		resourceID:     str(v.Get("resourceId")),
		subscriptionID: str(v.Get("subscriptionId")),
		operation:      op,
		provider:       valueStr(v.Get("resourceProviderName")),
		resourceType:   valueStr(v.Get("resourceType")),
		status:         valueStr(v.Get("status")),
		callerIP:       str(v.Path("httpRequest", "clientIpAddress")),
		caller:         str(v.Get("caller")),
		claims:         objectValue(v.Get("claims")),
		evidenceType:   str(v.Path("authorization", "evidence", "principalType")),
	}
	if outcomeOf(a.status) == event.Failure {
		a.errorCode = firstString(valueStr(v.Get("subStatus")), scalar(v.Path("properties", "statusCode")))
	}
	d.fill(e, &a, res)
	if id := str(v.Get("eventDataId")); id != "" {
		e.ID = id
	} else {
		e.ID = event.DigestID(event.SourceAzureActivity, v.Raw())
	}
	return nil
}
