// Package azure decodes Azure logs into Vigil events: Azure Monitor
// diagnostic-setting exports (the activity log, Azure Functions and App
// Service logs, Microsoft Entra sign-in and audit logs), the Activity Log
// REST API and CLI output, and Event Grid deliveries in both the Event Grid
// and the CloudEvents 1.0 schema.
//
// Every Azure envelope names the function by its function app, which is the
// App Service site name, in lower case: "orders-api" for
// /subscriptions/…/providers/Microsoft.Web/sites/orders-api and for a
// FunctionAppLogs record whose appName is "orders-api". The individual
// function ("Functions.checkout") stays in the raw record. Subscription IDs
// are written in lower case and regions as ARM location names ("eastus"),
// whatever case or display name the record uses, so that events from
// different Azure logs about the same resource agree.
//
// Records of a category this package has no mapping for are still decoded
// when they follow the common resource-log schema with an operationName and
// a resourceId: they become azure.activity events, like the activity log.
// A record that has neither is reported as a failed record that names its
// category, so that nothing is dropped without a word.
package azure

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Decoder decodes Azure Monitor logs (kind "azure"):
//
//   - a diagnostic-setting export as written to a storage account or an
//     event hub: {"records": [...]};
//   - a JSON array of records, or a single record (one line of JSON Lines);
//   - the Activity Log REST API shape, as printed by
//     `az monitor activity-log list` (an array) or returned by the API
//     ({"value": [...]}).
//
// The event source is chosen per record by its category: FunctionAppLogs
// gives azure.functions, AppServiceHTTPLogs azure.appservice_http, the four
// sign-in categories azure.signin, Entra AuditLogs azure.audit, and the
// activity log categories (Administrative, Security, Policy, ...) and every
// other resource log azure.activity.
var Decoder = source.Decoder{
	Kind:   kindAzure,
	Detect: Detect,
	Decode: Decode,
}

const kindAzure = "azure"

// Detect reports whether root looks like Azure Monitor logs.
func Detect(root jsondoc.Value) bool {
	switch root.Kind() {
	case jsondoc.Object:
		if recs := root.Get("records"); recs.Kind() == jsondoc.Array {
			first := recs.Index(0)
			if !first.Exists() {
				// {"records": []} alone; other formats with a
				// "records" array carry more members.
				return root.Len() == 1
			}
			return isRecord(first)
		}
		if val := root.Get("value"); val.Kind() == jsondoc.Array {
			return isRESTRecord(val.Index(0))
		}
		return isRecord(root)
	case jsondoc.Array:
		return isRecord(root.Index(0))
	}
	return false
}

// isRecord reports whether v looks like one Azure Monitor record.
func isRecord(v jsondoc.Value) bool {
	if v.Kind() != jsondoc.Object {
		return false
	}
	if isRESTRecord(v) {
		return true
	}
	return v.Get("resourceId").Kind() == jsondoc.String && v.Get("time").Exists() &&
		(v.Get("category").Exists() || v.Get("operationName").Exists())
}

// isRESTRecord reports whether v looks like an activity log event in the
// REST API shape.
func isRESTRecord(v jsondoc.Value) bool {
	return v.Kind() == jsondoc.Object && v.Get("eventDataId").Kind() == jsondoc.String &&
		v.Get("operationName").Kind() == jsondoc.Object
}

// Decode decodes one document of Azure Monitor logs into sink.
func Decode(root jsondoc.Value, where string, sink source.Sink) error {
	list, path := jsondoc.Value{}, ""
	switch root.Kind() {
	case jsondoc.Object:
		switch recs := root.Get("records"); {
		case recs.Kind() == jsondoc.Array:
			list, path = recs, "records"
		case recs.Exists():
			return source.NotFormat(kindAzure, fmt.Sprintf(`"records" is %s, not an array`, source.AKind(recs.Kind())))
		case root.Get("value").Kind() == jsondoc.Array && isRESTRecord(root.Get("value").Index(0)):
			list, path = root.Get("value"), "value"
		case isRecord(root):
			var d decoder
			source.DecodeRecord(root, where, sink, d.record)
			return nil
		default:
			return source.NotFormat(kindAzure, `no "records" array and not an Azure Monitor record (no "resourceId", "time" and "category")`)
		}
	case jsondoc.Array:
		list = root
		if n := root.Len(); n > 0 && !isRecord(root.Index(0)) {
			return source.NotFormat(kindAzure, "the array's first element is not an Azure Monitor record")
		}
	default:
		return source.NotFormat(kindAzure, fmt.Sprintf("the document is %s, not an object or array", source.AKind(root.Kind())))
	}
	var d decoder
	source.DecodeRecords(list, where, path, sink, d.record)
	return nil
}

// decoder holds what the records of one document share: the caches and,
// for Event Grid deliveries, the events and resources allocated together.
type decoder struct {
	c   cache
	evs []event.Event
	res []event.Resource
}

// Sign-in log categories.
var signInCategories = [...]struct{ category, principalType string }{
	{"SignInLogs", PrincipalUser},
	{"NonInteractiveUserSignInLogs", PrincipalUser},
	{"ServicePrincipalSignInLogs", PrincipalServicePrincipal},
	{"ManagedIdentitySignInLogs", PrincipalManagedIdentity},
}

// record decodes one record of any Azure Monitor shape into e.
// res is the one-element slice the event may use for its resource.
func (d *decoder) record(v jsondoc.Value, e *event.Event, res []event.Resource) error {
	if err := kindError(v); err != nil {
		return err
	}
	e.Cloud = event.Azure
	e.Raw = v
	cat := v.Get("category")
	if cat.Kind() == jsondoc.Object || isRESTRecord(v) {
		return d.restActivity(v, e, res)
	}
	c := str(cat)
	switch {
	case strings.EqualFold(c, "FunctionAppLogs"):
		return d.functionLog(v, e, res)
	case strings.EqualFold(c, "AppServiceHTTPLogs"):
		return d.httpLog(v, e, res)
	case strings.EqualFold(c, "AuditLogs") && v.Path("properties", "activityDisplayName").Exists():
		return d.entraAudit(v, e)
	}
	for _, s := range signInCategories {
		if strings.EqualFold(c, s.category) {
			return d.signIn(v, e, res, s.principalType)
		}
	}
	return d.resourceLog(v, e, res, c)
}

var errNoOperation = errors.New(`missing "operationName"`)
