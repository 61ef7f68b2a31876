package azure

import (
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Principal types Vigil writes for Azure callers.
const (
	PrincipalUser             = "User"
	PrincipalServicePrincipal = "ServicePrincipal"
	PrincipalManagedIdentity  = "ManagedIdentity"
)

// Claim names as Azure Resource Manager writes them into activity records:
// the long WS-Federation URIs for v1 tokens, the short JWT names otherwise.
const (
	claimUPNURI        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	claimNameURI       = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimObjectIDURI   = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	claimUPN           = "upn"
	claimUniqueName    = "unique_name"
	claimAppID         = "appid"
	claimAzp           = "azp"
	claimOID           = "oid"
	claimIDType        = "idtyp"
	claimManagedIDPath = "xms_mirid"
)

// caller is who made a call, as far as the claims of its token tell.
type caller struct {
	upn, uniqueName, appID, oid, idType, mirid string
}

// readClaims reads the claims object in one pass over its members.
func readClaims(claims jsondoc.Value) caller {
	var c caller
	claims.Members(func(k string, v jsondoc.Value) bool {
		switch k {
		case claimUPNURI, claimUPN:
			c.upn = firstString(c.upn, str(v))
		case claimNameURI, claimUniqueName:
			c.uniqueName = firstString(c.uniqueName, str(v))
		case claimAppID, claimAzp:
			c.appID = firstString(c.appID, str(v))
		case claimObjectIDURI, claimOID:
			c.oid = firstString(c.oid, str(v))
		case claimIDType:
			c.idType = str(v)
		case claimManagedIDPath:
			c.mirid = str(v)
		}
		return true
	})
	return c
}

// objectValue returns v, parsing it first when a producer wrote an object
// as a JSON string (some Event Grid deliveries do so for claims,
// authorization and httpRequest). It returns Missing for anything else.
func objectValue(v jsondoc.Value) jsondoc.Value {
	if v.Kind() != jsondoc.String {
		return v
	}
	s := v.Str()
	if len(s) < 2 || s[0] != '{' {
		return jsondoc.Value{}
	}
	d, err := source.ParseJSON([]byte(s))
	if err != nil {
		return jsondoc.Value{}
	}
	return d.Root()
}

// principal returns the caller's name, preferring the most readable claim:
// upn, then unique_name, then the application ID, then the object ID. It
// falls back to fallback (the record's "caller").
func (c caller) principal(fallback string) string {
	return firstString(c.upn, c.uniqueName, c.appID, c.oid, fallback)
}

// principalType says whether the caller is a user, a managed identity or
// another service principal.
func (c caller) principalType() string {
	switch {
	case c.idType == "user":
		return PrincipalUser
	case c.mirid != "":
		return PrincipalManagedIdentity
	case c.idType == "app":
		return PrincipalServicePrincipal
	case c.upn != "" || c.uniqueName != "":
		return PrincipalUser
	case c.appID != "":
		return PrincipalServicePrincipal
	}
	return ""
}
