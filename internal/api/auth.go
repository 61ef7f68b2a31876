package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/store"
)

// maxCredential bounds a presented token (Firehose allows access keys of
// up to 4096 bytes).
const maxCredential = 4096

var (
	errNoToken = errorf(http.StatusUnauthorized, codeUnauthorized,
		"missing API token: send it as Authorization: Bearer <token>")
	errBadToken = errorf(http.StatusUnauthorized, codeUnauthorized,
		"invalid API token: it is unknown, revoked or expired")
)

// authorize authenticates the caller of c's route and checks that their
// role allows the route's (resource, verb).
func (s *server) authorize(c *call) error {
	rt := c.route
	if rt.Auth == AuthNone {
		return nil
	}
	if rt.Auth == AuthPubSub && s.pubsub != nil {
		email, err := s.pubsub.verify(c.ctx(), bearer(c.r))
		if err != nil {
			return err
		}
		c.who = principal{name: email, role: authz.Ingest}
		return nil
	}
	tok := credential(c.r, rt.Auth)
	if tok == "" {
		return errNoToken
	}
	if len(tok) > maxCredential {
		return errBadToken
	}
	if rt.Auth == AuthPubSub && s.pubsubShared != "" &&
		subtle.ConstantTimeCompare([]byte(tok), []byte(s.pubsubShared)) == 1 {
		c.who = principal{name: "pubsub-shared-token", role: authz.Ingest}
		return nil
	}
	t, err := s.b.Authenticate(c.ctx(), tok)
	if errors.Is(err, store.ErrNotFound) {
		return errBadToken
	}
	if err != nil {
		return err
	}
	if !authz.Allowed(t.Role, rt.Resource, rt.Verb) {
		return errorf(http.StatusForbidden, codeForbidden, "token %q has role %q, which may not %s %s", t.Name, t.Role, rt.Verb, rt.Resource)
	}
	c.who = principal{name: t.Name, role: t.Role, tokenID: t.ID}
	return nil
}

// credential returns the token a request presents the way its route
// accepts, or "".
func credential(r *http.Request, mode Auth) string {
	if mode == AuthFirehose {
		if k := r.Header.Get("X-Amz-Firehose-Access-Key"); k != "" {
			return k
		}
	}
	if mode == AuthPubSub {
		// A push subscription with authentication turned on sends Google's
		// OIDC token as Bearer even when Vigil does not verify it, so the
		// token in the push URL comes first here.
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && q.Get("token") != "" {
			return q.Get("token")
		}
	}
	if t := bearer(r); t != "" {
		return t
	}
	if mode == AuthIngest || mode == AuthFirehose || mode == AuthPubSub {
		// Only ingest routes take the token from the query, for delivery
		// services that cannot set headers (Event Grid). Query strings are
		// never logged.
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil {
			return q.Get("token")
		}
	}
	return ""
}

// bearer returns the token of an Authorization: Bearer header, or "".
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
