package api

import (
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/store"
)

// TokenRequest is the body of POST /api/v1/tokens. TTL is a Go duration
// such as "720h"; empty means the token does not expire.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	TTL  string `json:"ttl,omitempty"`
}

// CreatedToken is the response of POST /api/v1/tokens: the token itself,
// shown this once, and its metadata.
type CreatedToken struct {
	Plaintext string `json:"token"`
	store.Token
}

// TokenList is the response of GET /api/v1/tokens.
type TokenList struct {
	Tokens []store.Token `json:"tokens"`
}

// maxTokenName bounds a token's name.
const maxTokenName = 100

func (s *server) createToken(c *call) error {
	var req TokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name)
	switch {
	case name == "":
		return invalidf("a token needs a name saying who or what uses it")
	case len(name) > maxTokenName:
		return invalidf("token name longer than %d bytes", maxTokenName)
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
		return invalidf("token name holds control characters")
	case !authz.ValidRole(req.Role):
		return invalidf("role %q: use one of %s", truncate(req.Role, 32), strings.Join(authz.Roles(), ", "))
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d < 0 {
			return invalidf("ttl %q: want a duration such as 720h, or none for a token that does not expire", truncate(req.TTL, 32))
		}
		ttl = d
	}
	plain, t, err := s.b.CreateToken(c.ctx(), name, req.Role, c.who.name, ttl)
	if err != nil {
		return err
	}
	s.log.Info("token created", "request_id", c.id, "token_id", t.ID, "token_name", t.Name, "role", t.Role, "by", c.who.name)
	writeJSON(c.w, http.StatusCreated, CreatedToken{Plaintext: plain, Token: t})
	return nil
}

func (s *server) listTokens(c *call) error {
	toks, err := s.b.ListTokens(c.ctx())
	if err != nil {
		return err
	}
	if toks == nil {
		toks = []store.Token{}
	}
	writeJSON(c.w, http.StatusOK, TokenList{Tokens: toks})
	return nil
}

func (s *server) revokeToken(c *call) error {
	id := c.r.PathValue("id")
	if strings.HasPrefix(id, authz.TokenPrefix) {
		// Someone passed the token itself; do not look it up, and say so.
		return invalidf("that is a token, not a token ID: revoke by the tok_ ID that vigil tokens list shows")
	}
	if err := s.b.RevokeToken(c.ctx(), id, c.who.name); err != nil {
		return about(err, "token %q", truncate(id, 64))
	}
	s.log.Info("token revoked", "request_id", c.id, "token_id", truncate(id, 64), "by", c.who.name)
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) rules(c *call) error {
	writeJSON(c.w, http.StatusOK, normalizeRules(s.b.Rules(c.ctx())))
	return nil
}

func (s *server) reloadRules(c *call) error {
	st, err := s.b.ReloadRules(c.ctx())
	if err != nil {
		return err
	}
	s.log.Info("rules reloaded", "request_id", c.id, "by", c.who.name, "loaded", len(st.Loaded), "failed", len(st.Failed))
	writeJSON(c.w, http.StatusOK, normalizeRules(st))
	return nil
}

// normalizeRules makes empty lists [] rather than null.
func normalizeRules(st RulesStatus) RulesStatus {
	if st.Loaded == nil {
		st.Loaded = []RuleInfo{}
	}
	if st.Inactive == nil {
		st.Inactive = []RuleInfo{}
	}
	if st.Failed == nil {
		st.Failed = []RuleFailure{}
	}
	return st
}

func (s *server) stats(c *call) error {
	st, err := s.b.Stats(c.ctx())
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, st)
	return nil
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`
}

func (s *server) healthz(c *call) error {
	writeJSON(c.w, http.StatusOK, Health{Status: "ok"})
	return nil
}

func (s *server) readyz(c *call) error {
	if err := s.b.Ready(c.ctx()); err != nil {
		s.log.Warn("not ready", "request_id", c.id, "error", redactTokens(err.Error()))
		return errorf(http.StatusServiceUnavailable, codeNotReady, "not ready: see the server log")
	}
	writeJSON(c.w, http.StatusOK, Health{Status: "ready"})
	return nil
}

func (s *server) serveMetrics(c *call) error {
	if s.metrics == nil {
		return errorf(http.StatusNotFound, codeNotFound, "metrics are not enabled on this server")
	}
	s.metrics.ServeHTTP(c.w, c.r)
	return nil
}
