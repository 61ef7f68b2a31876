// Package authz decides what an API token may do. A token has one role; a
// role is a list of deny rules, checked first, and a list of allow rules,
// each over a (resource, verb) pair. The package also makes and hashes the
// tokens themselves.
package authz

import "slices"

// Roles.
const (
	Viewer    = "viewer"
	Analyst   = "analyst"
	Responder = "responder"
	Admin     = "admin"
	Ingest    = "ingest"
)

// Resources.
const (
	Alerts        = "alerts"
	Events        = "events"
	Silences      = "silences"
	Rules         = "rules"
	Tokens        = "tokens"
	Stats         = "stats"
	IngestData    = "ingest"
	Notifications = "notifications"
)

// Verbs.
const (
	Read  = "read"
	Write = "write"
)

// Any matches every resource or every verb in a Rule.
const Any = "*"

// Rule matches a (resource, verb) pair; either may be Any.
type Rule struct {
	Resource string
	Verb     string
}

func (r Rule) matches(resource, verb string) bool {
	return (r.Resource == Any || r.Resource == resource) && (r.Verb == Any || r.Verb == verb)
}

// Role is a named set of deny and allow rules. Deny wins.
type Role struct {
	Name  string
	Deny  []Rule
	Allow []Rule
}

var (
	viewerAllow = []Rule{
		{Alerts, Read}, {Events, Read}, {Silences, Read}, {Rules, Read}, {Stats, Read}, {Notifications, Read},
	}
	analystAllow   = append(slices.Clip(viewerAllow), Rule{Alerts, Write}, Rule{Silences, Write})
	responderAllow = append(slices.Clip(analystAllow), Rule{Rules, Write}, Rule{Notifications, Write})
	// Only admins manage tokens, and only ingest tokens (and admins) push
	// data.
	humanDeny = []Rule{{Tokens, Any}, {IngestData, Any}}
)

// roles is the permission table. Keep it the only place a permission is
// granted.
var roles = []Role{
	{Name: Viewer, Deny: humanDeny, Allow: viewerAllow},
	{Name: Analyst, Deny: humanDeny, Allow: analystAllow},
	{Name: Responder, Deny: humanDeny, Allow: responderAllow},
	{Name: Admin, Allow: []Rule{{Any, Any}}},
	{
		// An ingest token is typed into cloud consoles and stored in
		// delivery configurations; if it leaks it must not read anything.
		Name: Ingest,
		Deny: []Rule{
			{Alerts, Any}, {Events, Any}, {Silences, Any}, {Rules, Any}, {Tokens, Any},
			{Stats, Any}, {Notifications, Any}, {IngestData, Read},
		},
		Allow: []Rule{{IngestData, Write}},
	},
}

var (
	resources = []string{Alerts, Events, Silences, Rules, Tokens, Stats, IngestData, Notifications}
	verbs     = []string{Read, Write}
)

// Roles lists the role names, least privileged human role first.
func Roles() []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = r.Name
	}
	return out
}

// Resources lists the resources permissions are granted on.
func Resources() []string { return slices.Clone(resources) }

// Verbs lists the verbs.
func Verbs() []string { return slices.Clone(verbs) }

// ValidRole reports whether name is a role.
func ValidRole(name string) bool { return lookup(name) != nil }

func lookup(name string) *Role {
	for i := range roles {
		if roles[i].Name == name {
			return &roles[i]
		}
	}
	return nil
}

// Allowed reports whether role may apply verb to resource. Unknown roles,
// resources and verbs are never allowed. Deny rules are checked first.
func Allowed(role, resource, verb string) bool {
	r := lookup(role)
	if r == nil || !slices.Contains(resources, resource) || !slices.Contains(verbs, verb) {
		return false
	}
	for _, d := range r.Deny {
		if d.matches(resource, verb) {
			return false
		}
	}
	for _, a := range r.Allow {
		if a.matches(resource, verb) {
			return true
		}
	}
	return false
}
