package detect

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
	"github.com/vigil-sec/vigil/internal/event"
)

// A logsource route says which event sources a Sigma logsource reads. A
// rule applies to an event when the event's Source is in the rule's set.
// Products and services that Vigil knows but has no decoder for yet are
// accepted and yield an empty set: the rule is loaded and reported as
// inactive.

type route struct {
	product, service, category string
	sources                    []string
}

// routes is the logsource table, documented in docs/rules.md.
var routes = []route{
	{product: "aws", service: "cloudtrail", sources: []string{event.SourceCloudTrail}},
	{product: "aws", service: "lambda", sources: []string{event.SourceLambda}},
	{product: "aws", service: "cloudwatch", sources: []string{event.SourceCloudWatch}},
	{product: "azure", service: "activitylogs", sources: []string{event.SourceAzureActivity}},
	{product: "azure", service: "signinlogs", sources: []string{event.SourceAzureSignIn}},
	{product: "azure", service: "auditlogs", sources: []string{event.SourceAzureAudit}},
	{product: "azure", service: "functions", sources: []string{event.SourceAzureFunctions}},
	{product: "azure", service: "appservice_http", sources: []string{event.SourceAzureHTTP}},
	{product: "azure", service: "riskdetection"},
	{product: "azure", service: "pim"},
	{product: "gcp", service: "gcp.audit", sources: []string{event.SourceGCPAudit}},
	{product: "gcp", service: "functions", sources: []string{event.SourceGCPFunctions}},
	{product: "gcp", service: "logging", sources: []string{event.SourceGCPLogging}},
	{category: "function_platform", sources: []string{event.SourceLambda, event.SourceAzureFunctions, event.SourceGCPFunctions}},
	{product: "google_workspace"},
	{product: "m365"},
	{product: "okta"},
}

// AllSources lists every event source Vigil decodes.
func AllSources() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range routes {
		for _, s := range r.sources {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// resolveLogsource returns the event sources a logsource reads. A product
// alone reads every source of that product; a product with a service reads
// that service; a category may stand alone or narrow a product. An unknown
// product or service is an error.
func resolveLogsource(ls sigma.LogSource) ([]string, error) {
	product := strings.ToLower(ls.Product)
	service := strings.ToLower(ls.Service)
	category := strings.ToLower(ls.Category)
	if product == "" && service == "" && category == "" {
		return nil, fmt.Errorf("logsource names no product, service or category")
	}
	seen := map[string]bool{}
	var out []string
	known := false
	for _, r := range routes {
		if category != "" {
			if r.category != category {
				continue
			}
		} else if r.category != "" || r.product != product || (service != "" && r.service != "" && r.service != service) {
			continue
		}
		known = true
		for _, s := range r.sources {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	if !known {
		return nil, fmt.Errorf("unknown logsource %s; Vigil reads %s", describeLogsource(ls), knownLogsources())
	}
	if category != "" && product != "" {
		// A category narrowed by a product keeps that product's sources.
		kept := out[:0]
		for _, s := range out {
			if strings.HasPrefix(s, product+".") {
				kept = append(kept, s)
			}
		}
		out = kept
	}
	sort.Strings(out)
	return out, nil
}

func describeLogsource(ls sigma.LogSource) string {
	var parts []string
	for _, kv := range [][2]string{{"product", ls.Product}, {"service", ls.Service}, {"category", ls.Category}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+kv[1])
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func knownLogsources() string {
	var parts []string
	for _, r := range routes {
		switch {
		case r.category != "":
			parts = append(parts, "category "+r.category)
		case r.service != "":
			parts = append(parts, r.product+"/"+r.service)
		default:
			parts = append(parts, r.product)
		}
	}
	return strings.Join(parts, ", ")
}

// FieldMapping maps field names as rules write them to dotted paths into
// native records, per event source. A field may map to several paths (the
// same information in two record shapes); the values at all of them are
// used. Unmapped names are used as paths unchanged.
type FieldMapping map[string]map[string][]string

// DefaultFieldMapping resolves the field names community rules use for
// Google Cloud audit logs and the Log Analytics column names of Azure
// activity logs.
func DefaultFieldMapping() FieldMapping {
	return FieldMapping{
		event.SourceGCPAudit: {
			"gcp.audit.method_name":         {"protoPayload.methodName"},
			"gcp.audit.service_name":        {"protoPayload.serviceName"},
			"gcp.audit.resource_name":       {"protoPayload.resourceName"},
			"gcp.audit.principal_email":     {"protoPayload.authenticationInfo.principalEmail"},
			"gcp.audit.caller_ip":           {"protoPayload.requestMetadata.callerIp"},
			"gcp.audit.status_code":         {"protoPayload.status.code"},
			"data.protoPayload.methodName":  {"protoPayload.methodName"},
			"data.protoPayload.serviceName": {"protoPayload.serviceName"},
		},
		event.SourceAzureActivity: {
			"OperationName":         {"operationName", "operationName.value"},
			"operationName":         {"operationName", "operationName.value"},
			"OperationNameValue":    {"operationName", "operationName.value"},
			"CategoryValue":         {"category", "category.value"},
			"ResourceProviderValue": {"resourceProviderName.value", "properties.resourceProviderValue"},
			"ActivityStatusValue":   {"resultType", "status.value"},
			"ResourceId":            {"resourceId"},
			"Caller":                {"caller", "identity.claims.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"},
			"CallerIpAddress":       {"callerIpAddress", "httpRequest.clientIpAddress"},
		},
		event.SourceAzureSignIn: {
			"ResultType":        {"properties.status.errorCode", "resultType"},
			"UserPrincipalName": {"properties.userPrincipalName"},
			"AppDisplayName":    {"properties.appDisplayName"},
			"IPAddress":         {"properties.ipAddress", "callerIpAddress"},
		},
		event.SourceAzureAudit: {
			"OperationName":       {"operationName", "properties.activityDisplayName"},
			"ActivityDisplayName": {"properties.activityDisplayName"},
			"Result":              {"properties.result", "resultType"},
		},
	}
}

// paths returns the native paths a field name reads for a source.
func (m FieldMapping) paths(source, field string) []string {
	if p, ok := m[source][field]; ok {
		return p
	}
	return []string{field}
}
