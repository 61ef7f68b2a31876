package azure

import (
	"fmt"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

const serviceEntra = "Microsoft.aadiam"

// entraCommon fills what sign-in and audit records share. Entra ID logs
// belong to a tenant, not a subscription: the account is the tenant ID.
func (d *decoder) entraCommon(v jsondoc.Value, e *event.Event, src string) (jsondoc.Value, error) {
	t, err := source.TimeField(v.Get("time"), "time")
	if err != nil {
		return jsondoc.Value{}, err
	}
	p := v.Get("properties")
	if p.Kind() != jsondoc.Object {
		return p, fmt.Errorf(`"properties" is %s, want an object`, source.AKind(p.Kind()))
	}
	e.Time = t
	e.Source = src
	if id := str(p.Get("id")); id != "" {
		e.ID = id
	} else {
		e.ID = event.DigestID(src, v.Raw())
	}
	rid := parseResourceID(str(v.Get("resourceId")))
	e.Account = d.c.sub.lower(firstString(str(v.Get("tenantId")), rid.tenant))
	e.Service = canonicalNamespace(firstString(rid.ns, serviceEntra))
	return p, nil
}

// signIn decodes a record of one of the four sign-in log categories.
func (d *decoder) signIn(v jsondoc.Value, e *event.Event, res []event.Resource, principalType string) error {
	p, err := d.entraCommon(v, e, event.SourceAzureSignIn)
	if err != nil {
		return err
	}
	e.Action = firstString(str(v.Get("operationName")), "Sign-in activity")
	code := p.Path("status", "errorCode")
	if !code.Exists() {
		code = v.Get("resultType")
	}
	if n, ok := code.Int(); ok {
		if n == 0 {
			e.Outcome = event.Success
		} else {
			e.Outcome = event.Failure
			e.ErrorCode = code.Str()
		}
	}
	e.Principal = firstString(str(p.Get("userPrincipalName")), str(p.Get("servicePrincipalName")),
		str(p.Get("servicePrincipalId")), str(p.Get("userId")))
	e.PrincipalType = principalType
	e.SourceIP = firstString(cleanIP(str(p.Get("ipAddress"))), cleanIP(str(v.Get("callerIpAddress"))))
	e.UserAgent = str(p.Get("userAgent"))
	if rid := str(v.Get("resourceId")); rid != "" {
		res[0] = event.Resource{UID: rid}
		e.Resources = res
	}
	return nil
}

// entraAudit decodes an Entra ID AuditLogs record: a change to the
// directory.
func (d *decoder) entraAudit(v jsondoc.Value, e *event.Event) error {
	p, err := d.entraCommon(v, e, event.SourceAzureAudit)
	if err != nil {
		return err
	}
	e.Action = firstString(str(p.Get("activityDisplayName")), str(v.Get("operationName")))
	result := str(p.Get("result"))
	e.Outcome = outcomeOf(result)
	if e.Outcome == event.Failure {
		e.ErrorCode = firstString(str(p.Get("resultReason")), result)
	}
	by := p.Get("initiatedBy")
	user, app := by.Get("user"), by.Get("app")
	switch {
	case str(user.Get("userPrincipalName")) != "":
		e.Principal = str(user.Get("userPrincipalName"))
		e.PrincipalType = PrincipalUser
	case str(app.Get("displayName")) != "" || str(app.Get("servicePrincipalId")) != "":
		e.Principal = firstString(str(app.Get("displayName")), str(app.Get("servicePrincipalId")))
		e.PrincipalType = PrincipalServicePrincipal
	case str(user.Get("id")) != "":
		e.Principal = str(user.Get("id"))
		e.PrincipalType = PrincipalUser
	}
	e.SourceIP = firstString(cleanIP(str(user.Get("ipAddress"))), cleanIP(str(v.Get("callerIpAddress"))))
	p.Get("additionalDetails").Elements(func(_ int, kv jsondoc.Value) bool {
		if str(kv.Get("key")) == "User-Agent" {
			e.UserAgent = str(kv.Get("value"))
			return false
		}
		return true
	})
	targets := p.Get("targetResources")
	if n := targets.Len(); n > 0 && targets.Kind() == jsondoc.Array {
		rs := make([]event.Resource, 0, n)
		targets.Elements(func(_ int, t jsondoc.Value) bool {
			if id := str(t.Get("id")); id != "" {
				rs = append(rs, event.Resource{Type: str(t.Get("type")), UID: id})
			}
			return true
		})
		if len(rs) > 0 {
			e.Resources = rs
		}
	}
	return nil
}
