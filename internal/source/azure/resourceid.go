package azure

import "strings"

// resourceID holds the parts of an Azure resource ID that the envelope
// uses. Every part is a substring of the ID; Azure compares IDs without
// regard to case, and diagnostic exports write them in upper case.
//
//	/subscriptions/<sub>/resourceGroups/<rg>/providers/<ns>/<type>/<name>[/<childType>/<childName>...]
//	/tenants/<tenant>/providers/<ns>
type resourceID struct {
	sub, tenant string
	ns          string // provider namespace, e.g. Microsoft.Web
	typ         string // "<ns>/<type>" for a top-level resource, else ""
	site        string // the <name> of a Microsoft.Web/sites resource
}

// parseResourceID splits id without allocating. Parts it cannot find stay
// empty.
func parseResourceID(id string) resourceID {
	var r resourceID
	if id == "" || id[0] != '/' {
		return r
	}
	rest := id[1:]
	next := func() string {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			s := rest
			rest = ""
			return s
		}
		s := rest[:i]
		rest = rest[i+1:]
		return s
	}
	for rest != "" {
		seg := next()
		switch {
		case strings.EqualFold(seg, "subscriptions") && r.sub == "":
			r.sub = next()
		case strings.EqualFold(seg, "tenants") && r.tenant == "":
			r.tenant = next()
		case strings.EqualFold(seg, "resourceGroups"):
			next()
		case strings.EqualFold(seg, "providers"):
			start := len(id) - len(rest)
			r.ns = next()
			typ := next()
			name := next()
			if typ == "" || name == "" {
				return r
			}
			if rest == "" {
				r.typ = id[start : start+len(r.ns)+1+len(typ)]
			}
			if strings.EqualFold(r.ns, "Microsoft.Web") && strings.EqualFold(typ, "sites") {
				r.site = name
			}
			return r
		default:
			return r
		}
	}
	return r
}

// namespaces are the resource provider namespaces Vigil writes in their
// documented case when a log has them in upper or lower case.
var namespaces = [...]string{
	"Microsoft.aadiam",
	"Microsoft.ApiManagement",
	"Microsoft.App",
	"Microsoft.Authorization",
	"Microsoft.Compute",
	"Microsoft.ContainerInstance",
	"Microsoft.ContainerRegistry",
	"Microsoft.ContainerService",
	"Microsoft.DocumentDB",
	"Microsoft.EventGrid",
	"Microsoft.EventHub",
	"Microsoft.Insights",
	"Microsoft.KeyVault",
	"Microsoft.Logic",
	"Microsoft.ManagedIdentity",
	"Microsoft.Network",
	"Microsoft.OperationalInsights",
	"Microsoft.PolicyInsights",
	"Microsoft.Resources",
	"Microsoft.Security",
	"Microsoft.ServiceBus",
	"Microsoft.Sql",
	"Microsoft.Storage",
	"Microsoft.Web",
}

// canonicalNamespace returns ns in its documented case when it is one of the
// common namespaces written all in upper or all in lower case, and ns
// otherwise.
func canonicalNamespace(ns string) string {
	hasUpper, hasLower := false, false
	for i := 0; i < len(ns); i++ {
		switch b := ns[i]; {
		case 'A' <= b && b <= 'Z':
			hasUpper = true
		case 'a' <= b && b <= 'z':
			hasLower = true
		}
	}
	if hasUpper && hasLower {
		return ns
	}
	for _, n := range namespaces {
		if len(n) == len(ns) && strings.EqualFold(n, ns) {
			return n
		}
	}
	return ns
}

// namespaceOfOperation returns the namespace that starts an operation name
// such as "Microsoft.Web/sites/write", or "".
func namespaceOfOperation(op string) string {
	i := strings.IndexByte(op, '/')
	if i <= 0 {
		return ""
	}
	ns := op[:i]
	if strings.IndexByte(ns, '.') < 0 {
		return ""
	}
	return ns
}
