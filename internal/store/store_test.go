package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/event"
)

func open(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func ev(i int, principal string) *event.Event {
	return &event.Event{ID: fmt.Sprintf("e%03d", i), Time: t0.Add(time.Duration(i) * time.Second), Cloud: "aws",
		Source: event.SourceCloudTrail, Account: "111122223333", Action: "GetSecretValue", Principal: principal, SourceIP: "203.0.113.50"}
}

func TestEventsDedupSearchAndPaging(t *testing.T) {
	ctx := context.Background()
	db, path := open(t)
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ {
		p := "alice"
		if i%5 == 0 {
			p = "bob"
		}
		e := ev(i, p)
		if isNew, err := tx.AddEvent(ctx, e, e.AppendJSON(nil, false)); err != nil || !isNew {
			t.Fatalf("event %d: new=%v err=%v", i, isNew, err)
		}
	}
	if isNew, _ := tx.AddEvent(ctx, ev(3, "alice"), []byte(`{}`)); isNew {
		t.Error("a duplicate event ID was stored twice")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Reopen: the events are on disk.
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, next, err := db.SearchEvents(ctx, EventQuery{Principal: "bob"})
	if err != nil || len(got) != 5 || next != "" || got[0].ID != "e020" {
		t.Fatalf("bob: %d events, next %q, err %v, first %v", len(got), next, err, got)
	}
	var all []string
	q := EventQuery{Limit: 10, Since: t0.Add(2 * time.Second)}
	for {
		page, next, err := db.SearchEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			all = append(all, e.ID)
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	if len(all) != 23 || all[0] != "e024" || all[22] != "e002" {
		t.Errorf("paged search: %d events %v", len(all), all)
	}
	if _, _, err := db.SearchEvents(ctx, EventQuery{Cursor: "garbage"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	// Retention goes by storage time: these events were all stored just
	// now, whatever their own time.
	if n, err := db.DeleteEventsBefore(ctx, time.Now().Add(-time.Hour), 1000); err != nil || n != 0 {
		t.Errorf("retention of an hour deleted %d fresh events (%v)", n, err)
	}
	if n, err := db.DeleteEventsBefore(ctx, time.Now().Add(time.Hour), 1000); err != nil || n != 25 {
		t.Errorf("retention deleted %d (%v), want all 25", n, err)
	}
}

func TestAlertDedupSilenceAndStatus(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	rule := alert.RuleRef{ID: "r1", Title: "Secret read", Level: "high", Tags: []string{"attack.t1555"}}
	m, _ := alert.ParseMatcher(`principal="bob"`)
	if err := db.CreateSilence(ctx, &alert.Silence{ID: "sil1", Matchers: []*alert.Matcher{m}, StartsAt: t0, EndsAt: t0.Add(24 * time.Hour),
		Comment: "bob's pentest", CreatedBy: "admin", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	raise := func(i int, p string) (*alert.Alert, bool) {
		t.Helper()
		tx, _ := db.Begin(ctx)
		defer tx.Rollback()
		a, created, err := tx.RaiseAlert(ctx, alert.FromMatch(fmt.Sprintf("a%d", i), rule, ev(i, p), t0), time.Hour, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return a, created
	}
	a1, created := raise(1, "alice")
	if !created || a1.Silenced {
		t.Fatalf("first alert: created %v silenced %v", created, a1.Silenced)
	}
	a2, created := raise(2, "alice")
	if created || a2.ID != a1.ID || a2.Count != 2 || len(a2.EventIDs) != 2 {
		t.Errorf("same fingerprint within the window: created %v, %+v", created, a2)
	}
	// The same match again, as stateful detection raises it when it
	// replays the events stored since its checkpoint after a crash: it
	// is not counted twice.
	if again, created := raise(2, "alice"); created || again.ID != a1.ID || again.Count != 2 || len(again.EventIDs) != 2 {
		t.Errorf("the same match raised again: created %v, %+v", created, again)
	}
	if got, err := db.GetAlert(ctx, a1.ID); err != nil || got.Count != 2 {
		t.Errorf("after the same match again, the stored alert counts %d (%v), want 2", got.Count, err)
	}
	// Outside the window: a new alert.
	a3, created := raise(7300, "alice")
	if !created || a3.ID == a1.ID {
		t.Errorf("outside the window: created %v id %s", created, a3.ID)
	}
	b, _ := raise(3, "bob")
	if !b.Silenced || b.SilenceID != "sil1" {
		t.Errorf("bob's alert not silenced: %+v", b)
	}
	if _, err := db.SetAlertStatus(ctx, a1.ID, alert.Acknowledged, "oncall", t0); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetAlert(ctx, a1.ID)
	if err != nil || got.Status != alert.Acknowledged || got.UpdatedBy != "oncall" {
		t.Fatalf("after ack: %+v %v", got, err)
	}
	if _, err := db.SetAlertStatus(ctx, a1.ID, alert.Resolved, "oncall", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetAlertStatus(ctx, a1.ID, alert.Open, "x", t0); !errors.Is(err, ErrConflict) {
		t.Errorf("reopening a resolved alert: %v", err)
	}
	// A resolved alert is not updated: the next match opens a new one.
	if a4, created := raise(4, "alice"); !created || a4.ID == a1.ID {
		t.Errorf("match after resolve: created %v", created)
	}
	if _, err := db.GetAlert(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing alert: %v", err)
	}
	list, _, err := db.ListAlerts(ctx, AlertFilter{Status: []alert.Status{alert.Open}, Severity: []string{"high"}})
	if err != nil || len(list) != 3 {
		t.Errorf("open high alerts: %d (%v)", len(list), err)
	}
	page1, next, err := db.ListAlerts(ctx, AlertFilter{Limit: 2})
	page2, next2, _ := db.ListAlerts(ctx, AlertFilter{Limit: 2, Cursor: next})
	if err != nil || len(page1) != 2 || len(page2) != 2 || next2 != "" || page1[1].ID == page2[0].ID {
		t.Errorf("alert paging: %d, %d, next2 %q", len(page1), len(page2), next2)
	}
	if _, err := db.ExpireSilence(ctx, "sil1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExpireSilence(ctx, "sil1", t0.Add(2*time.Hour)); !errors.Is(err, ErrConflict) {
		t.Errorf("expiring twice: %v", err)
	}
	st, err := db.Stats(ctx, t0.Add(2*time.Hour))
	if err != nil || st.Alerts["open"] != 3 || st.Alerts["resolved"] != 1 || st.ActiveSilences != 0 {
		t.Errorf("stats %+v %v", st, err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	exp := t0.Add(time.Hour)
	if err := db.CreateToken(ctx, Token{ID: "tok1", Name: "ci", Role: "ingest", CreatedBy: "admin", CreatedAt: t0, ExpiresAt: &exp}, "hash1"); err != nil {
		t.Fatal(err)
	}
	if tok, err := db.TokenByHash(ctx, "hash1", t0); err != nil || tok.Role != "ingest" {
		t.Fatalf("lookup: %+v %v", tok, err)
	}
	if _, err := db.TokenByHash(ctx, "hash1", exp); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired token accepted: %v", err)
	}
	if _, err := db.TokenByHash(ctx, "other", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown hash: %v", err)
	}
	if err := db.RevokeToken(ctx, "tok1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TokenByHash(ctx, "hash1", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked token accepted: %v", err)
	}
	if err := db.RevokeToken(ctx, "tok1"); !errors.Is(err, ErrConflict) {
		t.Errorf("revoking twice: %v", err)
	}
	if err := db.RevokeToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking unknown: %v", err)
	}
	if n, _ := db.CountLiveAdmins(ctx, t0); n != 0 {
		t.Errorf("live admins %d, want 0", n)
	}
	db.CreateToken(ctx, Token{ID: "tok2", Name: "root", Role: "admin", CreatedAt: t0}, "hash2")
	if n, _ := db.CountLiveAdmins(ctx, t0); n != 1 {
		t.Errorf("live admins %d, want 1", n)
	}
}
