package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/store"
)

// backend implements the API over the server's parts.
type backend struct {
	s *Server

	touchMu sync.Mutex
	touched map[string]time.Time // when each token's last use was recorded
}

var _ api.Backend = (*backend)(nil)

func (b *backend) Authenticate(ctx context.Context, plaintext string) (store.Token, error) {
	now := b.s.now()
	t, err := b.s.db.TokenByHash(ctx, authz.HashToken(plaintext), now)
	if err != nil {
		return t, err
	}
	// Record use at most once a minute per token, to keep reads from
	// becoming writes.
	b.touchMu.Lock()
	if b.touched == nil {
		b.touched = map[string]time.Time{}
	}
	last := b.touched[t.ID]
	due := now.Sub(last) > time.Minute
	if due {
		b.touched[t.ID] = now
	}
	b.touchMu.Unlock()
	if due {
		if err := b.s.db.TouchToken(ctx, t.ID, now); err != nil {
			b.s.log.Warn("recording token use", "token", t.ID, "err", err)
		}
	}
	return t, nil
}

func (b *backend) Ingest(ctx context.Context, kind string, body []byte) (api.IngestResult, error) {
	res, err := b.s.ingester.Ingest(ctx, kind, body)
	if errors.Is(err, pipeline.ErrBusy) {
		return api.IngestResult{}, fmt.Errorf("%w: %v", api.ErrBusy, err)
	}
	if errors.Is(err, pipeline.ErrTooLarge) {
		return api.IngestResult{}, fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	if err != nil {
		return api.IngestResult{}, err
	}
	out := api.IngestResult{Accepted: res.Accepted, Duplicates: res.Duplicates, Rejected: []api.Rejection{}}
	for _, r := range res.Rejected {
		out.Rejected = append(out.Rejected, api.Rejection{Index: r.Index, Error: r.Error})
	}
	return out, nil
}

func (b *backend) ListAlerts(ctx context.Context, f store.AlertFilter) ([]*alert.Alert, string, error) {
	list, next, err := b.s.db.ListAlerts(ctx, f)
	if err != nil {
		return nil, "", err
	}
	return list, next, b.markSilenced(ctx, list...)
}

func (b *backend) GetAlert(ctx context.Context, id string) (*alert.Alert, error) {
	a, err := b.s.db.GetAlert(ctx, id)
	if err != nil {
		return nil, err
	}
	return a, b.markSilenced(ctx, a)
}

func (b *backend) SetAlertStatus(ctx context.Context, id string, st alert.Status, by string) (*alert.Alert, error) {
	b.s.alertsMu.Lock()
	a, err := b.s.db.SetAlertStatus(ctx, id, st, by, b.s.now())
	if err == nil {
		b.s.notify.Handle(*a)
	}
	b.s.alertsMu.Unlock()
	if err != nil {
		return nil, err
	}
	return a, b.markSilenced(ctx, a)
}

// markSilenced sets each alert's silenced state from the silences active
// now, as Alertmanager does: a silence covers the alerts that exist when
// it is created, and stops covering them when it expires.
func (b *backend) markSilenced(ctx context.Context, alerts ...*alert.Alert) error {
	now := b.s.now()
	silences, err := b.s.db.ListSilences(ctx, false, now)
	if err != nil {
		return err
	}
	for _, a := range alerts {
		a.Silenced, a.SilenceID = false, ""
		labels := a.Labels()
		for _, s := range silences {
			if s.Active(now) && s.Matches(labels) {
				a.Silenced, a.SilenceID = true, s.ID
				break
			}
		}
	}
	return nil
}

func (b *backend) SearchEvents(ctx context.Context, q store.EventQuery) ([]store.StoredEvent, string, error) {
	return b.s.db.SearchEvents(ctx, q)
}

func (b *backend) ListSilences(ctx context.Context, includeExpired bool) ([]*alert.Silence, error) {
	return b.s.db.ListSilences(ctx, includeExpired, b.s.now())
}

func (b *backend) CreateSilence(ctx context.Context, s *alert.Silence) (*alert.Silence, error) {
	s.ID = pipeline.NewID("sil")
	if s.CreatedAt.IsZero() {
		s.CreatedAt = b.s.now()
	}
	if s.StartsAt.IsZero() {
		s.StartsAt = s.CreatedAt
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	if err := b.s.db.CreateSilence(ctx, s); err != nil {
		return nil, err
	}
	b.silencesChanged(ctx)
	return s, nil
}

// silencesChanged passes a change of the silences on to notifications.
func (b *backend) silencesChanged(ctx context.Context) {
	if err := b.s.refreshSilences(context.WithoutCancel(ctx)); err != nil {
		b.s.log.Warn("silences not refreshed for notifications; they are read again within a minute", "err", err)
	}
}

func (b *backend) GetSilence(ctx context.Context, id string) (*alert.Silence, error) {
	return b.s.db.GetSilence(ctx, id)
}

func (b *backend) ExpireSilence(ctx context.Context, id, by string) (*alert.Silence, error) {
	s, err := b.s.db.ExpireSilence(ctx, id, b.s.now())
	if err != nil {
		return nil, err
	}
	b.silencesChanged(ctx)
	return s, nil
}

func (b *backend) Rules(ctx context.Context) api.RulesStatus { return rulesStatus(b.s.currentRules()) }

func (b *backend) ReloadRules(ctx context.Context) (api.RulesStatus, error) {
	set, err := b.s.ReloadRules()
	if err != nil {
		return rulesStatus(set), fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	return rulesStatus(set), nil
}

func rulesStatus(set *detect.Set) api.RulesStatus {
	st := api.RulesStatus{Loaded: []api.RuleInfo{}, Inactive: []api.RuleInfo{}, Failed: []api.RuleFailure{}, Correlations: len(set.Correlations)}
	for _, r := range set.Engine.Rules() {
		st.Loaded = append(st.Loaded, api.RuleInfo{ID: r.ID, Title: r.Title, Level: r.Level, File: r.File, Tags: r.Tags})
	}
	for _, in := range set.Inactive {
		st.Inactive = append(st.Inactive, api.RuleInfo{ID: in.Rule.ID, Title: in.Rule.Title, Level: in.Rule.Level, File: in.Rule.File, Tags: in.Rule.Tags, Reason: in.Reason})
	}
	for _, f := range set.Failed {
		st.Failed = append(st.Failed, api.RuleFailure{File: f.File, Error: f.Error()})
	}
	return st
}

func (b *backend) CreateToken(ctx context.Context, name, role, by string, ttl time.Duration) (string, store.Token, error) {
	plain, err := authz.NewToken()
	if err != nil {
		return "", store.Token{}, err
	}
	now := b.s.now()
	t := store.Token{ID: pipeline.NewID("tok"), Name: name, Role: role, CreatedBy: by, CreatedAt: now}
	if ttl > 0 {
		exp := now.Add(ttl)
		t.ExpiresAt = &exp
	}
	if err := b.s.db.CreateToken(ctx, t, authz.HashToken(plain)); err != nil {
		return "", store.Token{}, err
	}
	return plain, t, nil
}

func (b *backend) ListTokens(ctx context.Context) ([]store.Token, error) {
	return b.s.db.ListTokens(ctx)
}

func (b *backend) RevokeToken(ctx context.Context, id, by string) error {
	return b.s.db.RevokeToken(ctx, id)
}

func (b *backend) Stats(ctx context.Context) (store.Stats, error) {
	return b.s.db.Stats(ctx, b.s.now())
}

func (b *backend) Ready(ctx context.Context) error {
	if !b.s.bus.Ready() {
		return errors.New("the bus is not ready")
	}
	if err := b.s.db.Ping(ctx); err != nil {
		return fmt.Errorf("the store does not answer: %w", err)
	}
	if !b.s.detector.Running() {
		return errors.New("detection is not running")
	}
	return nil
}

func (b *backend) ListNotifications(ctx context.Context, f notify.ListFilter) ([]*notify.Entry, string, error) {
	return b.s.notify.List(ctx, f)
}

func (b *backend) GetNotification(ctx context.Context, id string) (*notify.Entry, error) {
	return b.s.notify.Get(ctx, id)
}

func (b *backend) RetryNotification(ctx context.Context, id string) (*notify.Entry, error) {
	return b.s.notify.Retry(ctx, id)
}

func (b *backend) TestReceiver(ctx context.Context, name string) error {
	return b.s.testReceiver(ctx, name)
}

func decodeJSON(r io.Reader, v any) error {
	return json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(v)
}
