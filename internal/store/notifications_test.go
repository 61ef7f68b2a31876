package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/notify"
)

func note(id, group string) *notify.Notification {
	return &notify.Notification{
		ID: id, Receiver: "hook", GroupKey: group, GroupLabels: map[string]string{"rule": "r1"},
		Status: notify.Firing, Severity: "high", Time: t0,
		Alerts: []alert.Alert{{ID: "alt_" + id, Rule: alert.RuleRef{ID: "r1", Tags: []string{"attack.t1098"}}, Severity: "high",
			Status: alert.Open, Count: 1, FirstSeen: t0, LastSeen: t0, UpdatedAt: t0, EventIDs: []string{"e1"}}},
	}
}

func ids(es []*notify.Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestOutboxClaimOrderAndLease(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	o := db.Outbox()
	if err := o.Enqueue(ctx, t0, note("n1", "g1"), note("n2", "g1"), note("n3", "g2")); err != nil {
		t.Fatal(err)
	}
	// Only the oldest pending entry of each group is claimable.
	got, next, err := o.Claim(ctx, "hook", t0, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"n1", "n3"}, ids(got)); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	if got[0].Attempts != 1 || got[0].Claim != 1 {
		t.Errorf("attempts %d claim %d, want 1 and 1", got[0].Attempts, got[0].Claim)
	}
	if !next.Equal(t0.Add(time.Minute)) {
		t.Errorf("next = %v, want the lease's end %v", next, t0.Add(time.Minute))
	}
	if diff := cmp.Diff(note("n1", "g1"), got[0].Notification); diff != "" {
		t.Errorf("stored notification differs (-want +got):\n%s", diff)
	}
	// Leased entries are not claimed again before the lease ends...
	again, _, err := o.Claim(ctx, "hook", t0.Add(59*time.Second), time.Minute, 10)
	if err != nil || len(again) != 0 {
		t.Fatalf("claimed %v during the lease (err %v)", ids(again), err)
	}
	// ...and are after it: the worker died.
	again, _, err = o.Claim(ctx, "hook", t0.Add(time.Minute), time.Minute, 1)
	if err != nil || len(again) != 1 || again[0].ID != "n1" || again[0].Attempts != 2 {
		t.Fatalf("after the lease: %v (err %v)", again, err)
	}
	// The first worker's late outcome is refused.
	if err := o.MarkSent(ctx, got[0], "late", t0.Add(time.Minute)); !errors.Is(err, ErrConflict) {
		t.Errorf("MarkSent with a stale claim = %v, want ErrConflict", err)
	}
	if err := o.MarkSent(ctx, again[0], "ts-1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ref, err := o.Ref(ctx, "g1", "hook"); err != nil || ref != "ts-1" {
		t.Errorf("Ref = %q, %v; want ts-1", ref, err)
	}
	// n2 is now the head of g1; n3's lease has ended too.
	got2, _, err := o.Claim(ctx, "hook", t0.Add(time.Minute), time.Minute, 10)
	if err != nil || cmp.Diff([]string{"n2", "n3"}, ids(got2)) != "" {
		t.Fatalf("after n1 was sent: %v (err %v)", ids(got2), err)
	}
	// Other receivers see nothing.
	if other, next, err := o.Claim(ctx, "other", t0.Add(time.Hour), time.Minute, 10); err != nil || len(other) != 0 || !next.IsZero() {
		t.Errorf("other receiver: %v next %v err %v", ids(other), next, err)
	}
}

func TestOutboxRetryDeadAndRedrive(t *testing.T) {
	ctx := context.Background()
	db, path := open(t)
	o := db.Outbox()
	if err := o.Enqueue(ctx, t0, note("n1", "g1")); err != nil {
		t.Fatal(err)
	}
	got, _, err := o.Claim(ctx, "hook", t0, time.Minute, 1)
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	retryAt := t0.Add(30 * time.Second)
	if err := o.MarkRetry(ctx, got[0], retryAt, "status 500: boom", t0); err != nil {
		t.Fatal(err)
	}
	if early, next, _ := o.Claim(ctx, "hook", retryAt.Add(-time.Millisecond), time.Minute, 1); len(early) != 0 || !next.Equal(retryAt) {
		t.Fatalf("claimed %v before the retry time; next %v, want %v", ids(early), next, retryAt)
	}
	// The retry state survives a restart.
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o = db.Outbox()
	e, err := o.Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != notify.Pending || e.Attempts != 1 || e.LastError != "status 500: boom" || e.NextAttempt == nil || !e.NextAttempt.Equal(retryAt) {
		t.Errorf("after reopening: %+v", e)
	}
	got, _, err = o.Claim(ctx, "hook", retryAt, time.Minute, 1)
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if err := o.MarkDead(ctx, got[0], "status 401: bad token", retryAt); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkRetry(ctx, got[0], retryAt, "x", retryAt); !errors.Is(err, ErrConflict) {
		t.Errorf("MarkRetry on a failed entry = %v, want ErrConflict", err)
	}
	e, _ = o.Get(ctx, "n1")
	if e.Status != notify.Failed || e.NextAttempt != nil || e.LastError != "status 401: bad token" {
		t.Errorf("dead entry: %+v", e)
	}
	// Re-drive it.
	later := retryAt.Add(time.Hour)
	e, err = o.Retry(ctx, "n1", later)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != notify.Pending || e.Attempts != 0 || !e.Since.Equal(later) || !e.NextAttempt.Equal(later) {
		t.Errorf("re-driven entry: %+v", e)
	}
	if _, err := o.Retry(ctx, "n1", later); !errors.Is(err, ErrConflict) {
		t.Errorf("Retry of a pending entry = %v, want ErrConflict", err)
	}
	if _, err := o.Retry(ctx, "nope", later); !errors.Is(err, ErrNotFound) {
		t.Errorf("Retry of an unknown entry = %v, want ErrNotFound", err)
	}
	if _, err := o.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an unknown entry = %v, want ErrNotFound", err)
	}
	got, _, _ = o.Claim(ctx, "hook", later, time.Minute, 1)
	if len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("re-driven entry not claimable: %v", got)
	}
	if err := o.MarkSent(ctx, got[0], "", later); err != nil {
		t.Fatal(err)
	}
	e, _ = o.Get(ctx, "n1")
	if e.Status != notify.Sent || e.SentAt == nil || !e.SentAt.Equal(later) {
		t.Errorf("sent entry: %+v", e)
	}
}

// TestOutboxRetryRefusesStale checks that a failed notification older
// than a delivered one of its group is not re-driven.
func TestOutboxRetryRefusesStale(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	o := db.Outbox()
	if err := o.Enqueue(ctx, t0, note("n1", "g1"), note("n2", "g1")); err != nil {
		t.Fatal(err)
	}
	for _, dead := range []bool{true, false} {
		got, _, err := o.Claim(ctx, "hook", t0, time.Minute, 1)
		if err != nil || len(got) != 1 {
			t.Fatal(got, err)
		}
		if dead {
			err = o.MarkDead(ctx, got[0], "status 400", t0)
		} else {
			err = o.MarkSent(ctx, got[0], "ref", t0)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Retry(ctx, "n1", t0); !errors.Is(err, ErrConflict) {
		t.Errorf("Retry of a stale entry = %v, want ErrConflict", err)
	}
	if last, err := o.Last(ctx, "g1", "hook"); err != nil || last == nil || last.ID != "n2" {
		t.Errorf("Last = %v, %v; want n2", last, err)
	}
	if last, err := o.Last(ctx, "g9", "hook"); err != nil || last != nil {
		t.Errorf("Last of an unknown group = %v, %v; want nil", last, err)
	}
}

func TestOutboxListAndPrune(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	o := db.Outbox()
	for i := range 7 {
		if err := o.Enqueue(ctx, t0.Add(time.Duration(i)*time.Second), note(fmt.Sprintf("n%d", i), fmt.Sprintf("g%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := o.Claim(ctx, "hook", t0.Add(time.Minute), time.Minute, 3)
	if err != nil || len(got) != 3 {
		t.Fatal(got, err)
	}
	for _, e := range got {
		if err := o.MarkSent(ctx, e, "", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	f := notify.ListFilter{Status: notify.Pending, Limit: 2}
	for {
		page, next, err := o.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(page)...)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if diff := cmp.Diff([]string{"n6", "n5", "n4", "n3"}, all); diff != "" {
		t.Errorf("pending, newest first (-want +got):\n%s", diff)
	}
	sent, _, err := o.List(ctx, notify.ListFilter{Status: notify.Sent})
	if err != nil || len(sent) != 3 {
		t.Errorf("sent: %v %v", ids(sent), err)
	}
	if _, _, err := o.List(ctx, notify.ListFilter{Status: "bogus"}); err == nil {
		t.Error("List with an unknown status succeeded")
	}
	if _, _, err := o.List(ctx, notify.ListFilter{Cursor: "garbage"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("List with a bad cursor = %v", err)
	}
	n, err := o.Prune(ctx, t0.Add(2*time.Minute))
	if err != nil || n != 3 {
		t.Errorf("Prune = %d, %v; want the 3 sent entries", n, err)
	}
	everything, _, _ := o.List(ctx, notify.ListFilter{})
	if len(everything) != 4 {
		t.Errorf("after pruning: %v", ids(everything))
	}
}
