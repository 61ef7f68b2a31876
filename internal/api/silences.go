package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
)

// SilenceRequest is the body of POST /api/v1/silences. Give EndsAt or
// Duration (a Go duration such as "2h"); StartsAt defaults to now.
type SilenceRequest struct {
	Matchers []MatcherSpec `json:"matchers"`
	StartsAt *time.Time    `json:"starts_at,omitempty"`
	EndsAt   *time.Time    `json:"ends_at,omitempty"`
	Duration string        `json:"duration,omitempty"`
	Comment  string        `json:"comment"`
}

// MatcherSpec is a silence matcher in a request: either a string such as
// `severity=~"high|critical"` or an object {"name", "op", "value"}. It
// encodes as the string.
type MatcherSpec struct {
	Name  string        `json:"name"`
	Op    alert.MatchOp `json:"op"`
	Value string        `json:"value"`
}

// UnmarshalJSON accepts both forms.
func (m *MatcherSpec) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		pm, err := alert.ParseMatcher(s)
		if err != nil {
			return err
		}
		*m = MatcherSpec{Name: pm.Name, Op: pm.Op, Value: pm.Value}
		return nil
	}
	type plain MatcherSpec
	var p plain
	if err := strictObject(b, &p); err != nil {
		return fmt.Errorf("a matcher is a string such as severity=\"high\" or an object with name, op and value: %w", err)
	}
	*m = MatcherSpec(p)
	return nil
}

// MarshalJSON encodes the string form.
func (m MatcherSpec) MarshalJSON() ([]byte, error) {
	return json.Marshal((&alert.Matcher{Name: m.Name, Op: m.Op, Value: m.Value}).String())
}

// SilenceList is the response of GET /api/v1/silences.
type SilenceList struct {
	Silences []*alert.Silence `json:"silences"`
}

// maxSilence bounds how long a silence may last.
const maxSilence = 366 * 24 * time.Hour

func (s *server) listSilences(c *call) error {
	p, err := parseParams(c.r, "expired")
	if err != nil {
		return err
	}
	expired, err := p.bool("expired")
	if err != nil {
		return err
	}
	list, err := s.b.ListSilences(c.ctx(), expired)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*alert.Silence{}
	}
	writeJSON(c.w, http.StatusOK, SilenceList{Silences: list})
	return nil
}

func (s *server) createSilence(c *call) error {
	var req SilenceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	sil, err := req.silence(s.now())
	if err != nil {
		return err
	}
	sil.CreatedBy = c.who.name
	created, err := s.b.CreateSilence(c.ctx(), sil)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, created)
	return nil
}

// silence turns a request into a validated silence.
func (req *SilenceRequest) silence(now time.Time) (*alert.Silence, error) {
	sil := &alert.Silence{Comment: req.Comment, CreatedAt: now, StartsAt: now}
	for _, m := range req.Matchers {
		sil.Matchers = append(sil.Matchers, &alert.Matcher{Name: m.Name, Op: m.Op, Value: m.Value})
	}
	if req.StartsAt != nil {
		sil.StartsAt = *req.StartsAt
	}
	switch {
	case req.EndsAt != nil && req.Duration != "":
		return nil, invalidf("give ends_at or duration, not both")
	case req.EndsAt != nil:
		sil.EndsAt = *req.EndsAt
	case req.Duration != "":
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			return nil, invalidf("duration %q: want a positive duration such as 30m or 2h", truncate(req.Duration, 32))
		}
		sil.EndsAt = sil.StartsAt.Add(d)
	default:
		return nil, invalidf("a silence needs ends_at or duration")
	}
	if sil.EndsAt.Sub(sil.StartsAt) > maxSilence {
		return nil, invalidf("a silence may last at most 366 days")
	}
	if !sil.EndsAt.After(now) {
		return nil, invalidf("ends_at is in the past: the silence would never apply")
	}
	if err := sil.Validate(); err != nil {
		return nil, invalidf("%v", err)
	}
	return sil, nil
}

func (s *server) getSilence(c *call) error {
	id := c.r.PathValue("id")
	sil, err := s.b.GetSilence(c.ctx(), id)
	if err != nil {
		return about(err, "silence %q", truncate(id, 64))
	}
	writeJSON(c.w, http.StatusOK, sil)
	return nil
}

func (s *server) expireSilence(c *call) error {
	id := c.r.PathValue("id")
	sil, err := s.b.ExpireSilence(c.ctx(), id, c.who.name)
	if err != nil {
		return about(err, "silence %q", truncate(id, 64))
	}
	writeJSON(c.w, http.StatusOK, sil)
	return nil
}
