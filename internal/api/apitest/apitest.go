// Package apitest provides an in-memory api.Backend for tests of the API,
// its client and the CLI.
package apitest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/store"
)

var _ api.Backend = (*Backend)(nil)

// IngestCall is one recorded Backend.Ingest call.
type IngestCall struct {
	Kind string
	Body []byte
}

// Backend is a fake api.Backend holding everything in memory. It is safe
// for concurrent use. Seeded data: one token per role (see Token), alerts
// "alt_1" (open, high) and "alt_2" (acknowledged, critical), events "evt_1"
// and "evt_2", silence "sil_1", an extra token "tok_spare", notifications
// "ntf_1" (sent), "ntf_2" (failed) and "ntf_3" (pending), newest last, and
// the receivers "sec-webhook", which takes test messages, and "oncall",
// which refuses them (see ReceiverDown).
type Backend struct {
	// IngestFunc, if set, answers Ingest after the call is recorded.
	IngestFunc func(kind string, body []byte) (api.IngestResult, error)
	// ReadyErr is what Ready returns.
	ReadyErr error
	// Err, if set, is returned by every call but Authenticate and Ingest.
	Err error

	mu       sync.Mutex
	seq      int // numbers token IDs
	now      func() time.Time
	roleTok  map[string]string      // role -> plaintext
	tokens   map[string]store.Token // hash -> metadata
	alerts   []*alert.Alert
	events   []fakeEvent
	silences []*alert.Silence
	ingests  []IngestCall
	filters  []store.AlertFilter
	queries  []store.EventQuery
	reloads  int
	nextID   int
	outbox   []*notify.Entry
	tests    []string
}

// ReceiverDown is the error TestReceiver gives for the "oncall" receiver.
const ReceiverDown = `test notification to receiver "oncall" failed: status 503: service unavailable`

type fakeEvent struct {
	stored store.StoredEvent
	fields map[string]string
}

// New returns a seeded fake. now may be nil for time.Now.
func New(now func() time.Time) *Backend {
	if now == nil {
		now = time.Now
	}
	b := &Backend{now: now, roleTok: map[string]string{}, tokens: map[string]store.Token{}}
	t0 := now().Add(-time.Hour).UTC().Truncate(time.Second)
	for _, role := range authz.Roles() {
		plain, err := authz.NewToken()
		if err != nil {
			panic(err)
		}
		b.roleTok[role] = plain
		b.tokens[authz.HashToken(plain)] = store.Token{ID: "tok_" + role, Name: role + "-token", Role: role, CreatedBy: "seed", CreatedAt: t0}
	}
	b.tokens["spare"] = store.Token{ID: "tok_spare", Name: "spare", Role: authz.Viewer, CreatedBy: "seed", CreatedAt: t0}
	rule := alert.RuleRef{ID: "rule-1", Title: "Lambda function policy opened to everyone", Level: "high", Tags: []string{"attack.persistence"}}
	b.alerts = []*alert.Alert{
		{ID: "alt_1", Fingerprint: "f1", Rule: rule, Severity: "high", Status: alert.Open, Count: 3, FirstSeen: t0, LastSeen: t0.Add(30 * time.Minute),
			Cloud: "aws", Account: "111122223333", Principal: "arn:aws:iam::111122223333:user/mallory", Function: "orders-api", EventIDs: []string{"evt_1"}, UpdatedAt: t0},
		{ID: "alt_2", Fingerprint: "f2", Rule: alert.RuleRef{ID: "rule-2", Title: "Function code updated from a new IP", Level: "critical"}, Severity: "critical",
			Status: alert.Acknowledged, Count: 1, FirstSeen: t0, LastSeen: t0.Add(10 * time.Minute), Cloud: "gcp", Account: "proj-1", Principal: "eve@example.com",
			Function: "billing", EventIDs: []string{"evt_2"}, UpdatedAt: t0, UpdatedBy: "analyst-token"},
	}
	b.addEvent("evt_1", t0.Add(30*time.Minute), map[string]string{"cloud": "aws", "source": "aws.cloudtrail", "action": "lambda:AddPermission", "principal": "arn:aws:iam::111122223333:user/mallory", "source_ip": "203.0.113.7", "account": "111122223333", "function": "orders-api"})
	b.addEvent("evt_2", t0.Add(10*time.Minute), map[string]string{"cloud": "gcp", "source": "gcp.audit", "action": "google.cloud.functions.v1.CloudFunctionsService.UpdateFunction", "principal": "eve@example.com", "source_ip": "198.51.100.4", "account": "proj-1", "function": "billing"})
	m, _ := alert.ParseMatcher(`severity="low"`)
	b.silences = []*alert.Silence{{ID: "sil_1", Matchers: []*alert.Matcher{m}, StartsAt: t0, EndsAt: t0.Add(48 * time.Hour), CreatedBy: "seed", Comment: "noisy", CreatedAt: t0}}
	for i, st := range []notify.DeliveryStatus{notify.Sent, notify.Failed, notify.Pending} {
		at := t0.Add(time.Duration(i) * time.Minute)
		n := &notify.Notification{
			ID: fmt.Sprintf("ntf_%d", i+1), Receiver: "sec-webhook", GroupKey: "grp_1", GroupLabels: map[string]string{"rule": "rule-1"},
			Status: notify.Firing, Severity: "high", Alerts: []alert.Alert{*b.alerts[0]}, Time: at,
		}
		e := &notify.Entry{ID: n.ID, Receiver: n.Receiver, GroupKey: n.GroupKey, Status: st, Attempts: 1, CreatedAt: at, UpdatedAt: at, Since: at, Notification: n}
		switch st {
		case notify.Sent:
			e.SentAt = &at
		case notify.Failed:
			e.LastError = "status 400: invalid payload"
		case notify.Pending:
			next := at.Add(time.Minute)
			e.NextAttempt, e.LastError = &next, "status 503: service unavailable"
		}
		b.outbox = append(b.outbox, e)
	}
	return b
}

func (b *Backend) addEvent(id string, t time.Time, fields map[string]string) {
	doc := map[string]string{"id": id, "time": t.Format(time.RFC3339Nano)}
	for k, v := range fields {
		doc[k] = v
	}
	raw, _ := json.Marshal(doc)
	b.events = append(b.events, fakeEvent{stored: store.StoredEvent{ID: id, Time: t, JSON: raw}, fields: fields})
}

// Token returns the plaintext token seeded for a role.
func (b *Backend) Token(role string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.roleTok[role]
}

// Ingests returns the recorded Ingest calls.
func (b *Backend) Ingests() []IngestCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.ingests)
}

// AlertFilters returns the filters ListAlerts was called with.
func (b *Backend) AlertFilters() []store.AlertFilter {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.filters)
}

// EventQueries returns the queries SearchEvents was called with.
func (b *Backend) EventQueries() []store.EventQuery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.queries)
}

// Authenticate looks the token up by its hash, as a store does.
func (b *Backend) Authenticate(_ context.Context, plaintext string) (store.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tokens[authz.HashToken(plaintext)]
	if !ok || t.Revoked || (t.ExpiresAt != nil && !b.now().Before(*t.ExpiresAt)) {
		return store.Token{}, store.ErrNotFound
	}
	return t, nil
}

// Ingest records the call and answers with IngestFunc, or accepts one
// record.
func (b *Backend) Ingest(_ context.Context, kind string, body []byte) (api.IngestResult, error) {
	b.mu.Lock()
	b.ingests = append(b.ingests, IngestCall{Kind: kind, Body: slices.Clone(body)})
	f := b.IngestFunc
	b.mu.Unlock()
	if f != nil {
		return f(kind, body)
	}
	return api.IngestResult{Accepted: 1}, nil
}

// page cuts a list at an index cursor.
func page[T any](list []T, limit int, cursor string) ([]T, string, error) {
	start := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 || n > len(list) {
			return nil, "", store.ErrBadCursor
		}
		start = n
	}
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	end := min(start+limit, len(list))
	next := ""
	if end < len(list) {
		next = strconv.Itoa(end)
	}
	return list[start:end], next, nil
}

func match(want, got string) bool { return want == "" || want == got }

func inRange(t, since, until time.Time) bool {
	return (since.IsZero() || !t.Before(since)) && (until.IsZero() || t.Before(until))
}

func (b *Backend) ListAlerts(_ context.Context, f store.AlertFilter) ([]*alert.Alert, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.filters = append(b.filters, f)
	if b.Err != nil {
		return nil, "", b.Err
	}
	var out []*alert.Alert
	for _, a := range b.alerts {
		if (len(f.Status) == 0 || slices.Contains(f.Status, a.Status)) &&
			(len(f.Severity) == 0 || slices.Contains(f.Severity, a.Severity)) &&
			match(f.RuleID, a.Rule.ID) && match(f.Principal, a.Principal) && match(f.Account, a.Account) &&
			match(f.Function, a.Function) && inRange(a.LastSeen, f.Since, f.Until) {
			c := *a
			out = append(out, &c)
		}
	}
	return page(out, f.Limit, f.Cursor)
}

func (b *Backend) findAlert(id string) (*alert.Alert, error) {
	for _, a := range b.alerts {
		if a.ID == id {
			return a, nil
		}
	}
	return nil, fmt.Errorf("alert %s: %w", id, store.ErrNotFound)
}

func (b *Backend) GetAlert(_ context.Context, id string) (*alert.Alert, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	a, err := b.findAlert(id)
	if err != nil {
		return nil, err
	}
	c := *a
	return &c, nil
}

func (b *Backend) SetAlertStatus(_ context.Context, id string, st alert.Status, by string) (*alert.Alert, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	a, err := b.findAlert(id)
	if err != nil {
		return nil, err
	}
	a.Status, a.UpdatedBy, a.UpdatedAt = st, by, b.now()
	c := *a
	return &c, nil
}

func (b *Backend) SearchEvents(_ context.Context, q store.EventQuery) ([]store.StoredEvent, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queries = append(b.queries, q)
	if b.Err != nil {
		return nil, "", b.Err
	}
	var out []store.StoredEvent
	for _, e := range b.events {
		f := e.fields
		if match(q.Principal, f["principal"]) && match(q.SourceIP, f["source_ip"]) && match(q.Action, f["action"]) &&
			match(q.Function, f["function"]) && match(q.Account, f["account"]) && match(q.Source, f["source"]) &&
			inRange(e.stored.Time, q.Since, q.Until) {
			out = append(out, e.stored)
		}
	}
	return page(out, q.Limit, q.Cursor)
}

func (b *Backend) ListSilences(_ context.Context, includeExpired bool) ([]*alert.Silence, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	var out []*alert.Silence
	for _, s := range b.silences {
		if includeExpired || s.EndsAt.After(b.now()) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (b *Backend) CreateSilence(_ context.Context, s *alert.Silence) (*alert.Silence, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	if s.ID != "" {
		return nil, fmt.Errorf("%w: the API must not choose a silence ID", api.ErrInvalid)
	}
	b.nextID++
	c := *s
	c.ID = fmt.Sprintf("sil_new%d", b.nextID)
	b.silences = append(b.silences, &c)
	return &c, nil
}

func (b *Backend) findSilence(id string) (*alert.Silence, error) {
	for _, s := range b.silences {
		if s.ID == id {
			return s, nil
		}
	}
	return nil, fmt.Errorf("silence %s: %w", id, store.ErrNotFound)
}

func (b *Backend) GetSilence(_ context.Context, id string) (*alert.Silence, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	return b.findSilence(id)
}

func (b *Backend) ExpireSilence(_ context.Context, id, by string) (*alert.Silence, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	s, err := b.findSilence(id)
	if err != nil {
		return nil, err
	}
	if now := b.now(); s.EndsAt.After(now) {
		s.EndsAt = now
	}
	return s, nil
}

func (b *Backend) Rules(context.Context) api.RulesStatus {
	return api.RulesStatus{
		Loaded:       []api.RuleInfo{{ID: "rule-1", Title: "Lambda function policy opened to everyone", Level: "high", File: "builtin/aws/lambda_public.yml", Tags: []string{"attack.persistence"}}},
		Inactive:     []api.RuleInfo{{ID: "rule-3", Title: "Entra sign-in from Tor", Level: "medium", File: "builtin/azure/tor.yml", Reason: "no azure.signin source configured"}},
		Failed:       []api.RuleFailure{{File: "local/broken.yml", Error: "line 3: unknown modifier |foo"}},
		Correlations: 1,
	}
}

func (b *Backend) ReloadRules(ctx context.Context) (api.RulesStatus, error) {
	b.mu.Lock()
	b.reloads++
	err := b.Err
	b.mu.Unlock()
	if err != nil {
		return api.RulesStatus{}, err
	}
	return b.Rules(ctx), nil
}

func (b *Backend) CreateToken(_ context.Context, name, role, by string, ttl time.Duration) (string, store.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return "", store.Token{}, b.Err
	}
	for _, t := range b.tokens {
		if t.Name == name && !t.Revoked {
			return "", store.Token{}, fmt.Errorf("a token named %q exists: %w", name, store.ErrConflict)
		}
	}
	plain, err := authz.NewToken()
	if err != nil {
		return "", store.Token{}, err
	}
	b.seq++
	t := store.Token{ID: fmt.Sprintf("tok_%012x", b.seq), Name: name, Role: role, CreatedBy: by, CreatedAt: b.now()}
	if ttl > 0 {
		exp := b.now().Add(ttl)
		t.ExpiresAt = &exp
	}
	b.tokens[authz.HashToken(plain)] = t
	return plain, t, nil
}

func (b *Backend) ListTokens(context.Context) ([]store.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	var out []store.Token
	for _, t := range b.tokens {
		out = append(out, t)
	}
	slices.SortFunc(out, func(x, y store.Token) int { return cmp.Compare(x.ID, y.ID) })
	return out, nil
}

func (b *Backend) RevokeToken(_ context.Context, id, by string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return b.Err
	}
	for h, t := range b.tokens {
		if t.ID == id {
			t.Revoked = true
			b.tokens[h] = t
			return nil
		}
	}
	return fmt.Errorf("token %s: %w", id, store.ErrNotFound)
}

func (b *Backend) Stats(context.Context) (store.Stats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return store.Stats{}, b.Err
	}
	st := store.Stats{Events: int64(len(b.events)), Alerts: map[string]int64{}, AlertsBySev: map[string]int64{}, ActiveSilences: int64(len(b.silences))}
	for _, a := range b.alerts {
		st.Alerts[string(a.Status)]++
		st.AlertsBySev[a.Severity]++
	}
	return st, nil
}

func (b *Backend) Ready(context.Context) error { return b.ReadyErr }

// ListNotifications filters the seeded outbox, newest first.
func (b *Backend) ListNotifications(_ context.Context, f notify.ListFilter) ([]*notify.Entry, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, "", b.Err
	}
	var out []*notify.Entry
	for i := len(b.outbox) - 1; i >= 0; i-- {
		e := b.outbox[i]
		if match(string(f.Status), string(e.Status)) && match(f.Receiver, e.Receiver) {
			c := *e
			out = append(out, &c)
		}
	}
	return page(out, f.Limit, f.Cursor)
}

func (b *Backend) findNotification(id string) (*notify.Entry, error) {
	for _, e := range b.outbox {
		if e.ID == id {
			return e, nil
		}
	}
	return nil, fmt.Errorf("notification %s: %w", id, store.ErrNotFound)
}

func (b *Backend) GetNotification(_ context.Context, id string) (*notify.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	e, err := b.findNotification(id)
	if err != nil {
		return nil, err
	}
	c := *e
	return &c, nil
}

// RetryNotification makes a failed notification pending, due now, as the
// outbox does; any other status is a conflict.
func (b *Backend) RetryNotification(_ context.Context, id string) (*notify.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	e, err := b.findNotification(id)
	if err != nil {
		return nil, err
	}
	if e.Status != notify.Failed {
		return nil, fmt.Errorf("notification %s is %s; only failed notifications can be retried: %w", id, e.Status, store.ErrConflict)
	}
	now := b.now()
	e.Status, e.Since, e.UpdatedAt, e.NextAttempt = notify.Pending, now, now, &now
	c := *e
	return &c, nil
}

// TestReceiver records the call: "sec-webhook" accepts, "oncall" refuses
// with ReceiverDown, any other name is unknown.
func (b *Backend) TestReceiver(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tests = append(b.tests, name)
	switch {
	case b.Err != nil:
		return b.Err
	case name == "sec-webhook":
		return nil
	case name == "oncall":
		return fmt.Errorf("%w: %s", api.ErrReceiverFailed, ReceiverDown)
	}
	return fmt.Errorf("%w %q: the configured receivers are oncall, sec-webhook", api.ErrUnknownReceiver, name)
}

// FailNotification dead-letters a seeded notification, so that it can be
// retried.
func (b *Backend) FailNotification(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, err := b.findNotification(id); err == nil {
		e.Status, e.NextAttempt, e.LastError = notify.Failed, nil, "status 400: invalid payload"
	}
}

// Tests returns the receiver names TestReceiver was called with.
func (b *Backend) Tests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.tests)
}
