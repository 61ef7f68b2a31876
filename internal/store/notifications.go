package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/notify"
)

// Outbox is the notification outbox (notify.Outbox) in the database.
type Outbox struct{ db *DB }

var _ notify.Outbox = (*Outbox)(nil)

// Outbox returns the notification outbox.
func (db *DB) Outbox() *Outbox { return &Outbox{db: db} }

const notificationColumns = `seq, id, receiver, group_key, status, attempts, claim, claimed_until, next_attempt,
	since, created_at, updated_at, sent_at, last_error, body`

// pruneBatch bounds the rows one prune statement deletes, so that pruning
// never holds the write lock for long.
const pruneBatch = 5000

func scanEntry(s scanner) (*notify.Entry, int64, error) {
	var e notify.Entry
	var seq, claimedUntil, next, since, created, updated int64
	var sent sql.NullInt64
	var body []byte
	err := s.Scan(&seq, &e.ID, &e.Receiver, &e.GroupKey, &e.Status, &e.Attempts, &e.Claim, &claimedUntil, &next,
		&since, &created, &updated, &sent, &e.LastError, &body)
	if err != nil {
		return nil, 0, err
	}
	e.Since, e.CreatedAt, e.UpdatedAt = fromMS(since), fromMS(created), fromMS(updated)
	if e.Status == notify.Pending {
		t := fromMS(next)
		e.NextAttempt = &t
	}
	if sent.Valid {
		t := fromMS(sent.Int64)
		e.SentAt = &t
	}
	e.Notification = new(notify.Notification)
	if err := json.Unmarshal(body, e.Notification); err != nil {
		return nil, 0, fmt.Errorf("store: notification %s: bad body: %w", e.ID, err)
	}
	return &e, seq, nil
}

// Enqueue stores notifications as pending, due at now.
func (o *Outbox) Enqueue(ctx context.Context, now time.Time, ns ...*notify.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	tx, err := o.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: queueing notifications: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO notifications (id, receiver, group_key, status, next_attempt, since, created_at, updated_at, body)
		VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store: queueing notifications: %w", err)
	}
	defer stmt.Close()
	t := ms(now)
	for _, n := range ns {
		body, err := json.Marshal(n)
		if err != nil {
			return fmt.Errorf("store: encoding notification %s: %w", n.ID, err)
		}
		if _, err := stmt.ExecContext(ctx, n.ID, n.Receiver, n.GroupKey, t, t, t, t, body); err != nil {
			return fmt.Errorf("store: queueing notification %s: %w", n.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: queueing notifications: %w", err)
	}
	return nil
}

// headOfGroup restricts n to the oldest pending entry of its group.
const headOfGroup = `NOT EXISTS (SELECT 1 FROM notifications p
	WHERE p.group_key = n.group_key AND p.receiver = n.receiver AND p.status = 'pending' AND p.seq < n.seq)`

// Claim leases up to limit due entries of receiver.
func (o *Outbox) Claim(ctx context.Context, receiver string, now time.Time, lease time.Duration, limit int) ([]*notify.Entry, time.Time, error) {
	tx, err := o.db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: claiming notifications: %w", err)
	}
	defer tx.Rollback()
	t := ms(now)
	var out []*notify.Entry
	if limit > 0 {
		rows, err := tx.QueryContext(ctx, "SELECT "+notificationColumns+` FROM notifications n
			WHERE n.receiver = ? AND n.status = 'pending' AND n.next_attempt <= ? AND n.claimed_until <= ? AND `+headOfGroup+`
			ORDER BY n.next_attempt, n.seq LIMIT ?`, receiver, t, t, limit)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("store: claiming notifications: %w", err)
		}
		for rows.Next() {
			e, _, err := scanEntry(rows)
			if err != nil {
				rows.Close()
				return nil, time.Time{}, err
			}
			out = append(out, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, time.Time{}, fmt.Errorf("store: claiming notifications: %w", err)
		}
	}
	until := ms(now.Add(lease))
	for _, e := range out {
		_, err := tx.ExecContext(ctx, `UPDATE notifications SET claim = claim + 1, claimed_until = ?, attempts = attempts + 1, updated_at = ?
			WHERE id = ?`, until, t, e.ID)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("store: claiming notification %s: %w", e.ID, err)
		}
		e.Claim++
		e.Attempts++
		e.UpdatedAt = fromMS(t)
	}
	var next sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT min(max(n.next_attempt, n.claimed_until)) FROM notifications n
		WHERE n.receiver = ? AND n.status = 'pending' AND `+headOfGroup, receiver).Scan(&next)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: claiming notifications: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, time.Time{}, fmt.Errorf("store: claiming notifications: %w", err)
	}
	var due time.Time
	if next.Valid {
		due = fromMS(next.Int64)
	}
	return out, due, nil
}

// settle updates a claimed pending entry; a stale claim is a conflict.
func settle(ctx context.Context, tx *sql.Tx, e *notify.Entry, set string, args ...any) error {
	res, err := tx.ExecContext(ctx, "UPDATE notifications SET "+set+", claimed_until = 0 WHERE id = ? AND claim = ? AND status = 'pending'",
		append(args, e.ID, e.Claim)...)
	if err != nil {
		return fmt.Errorf("store: updating notification %s: %w", e.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("notification %s is no longer pending under this claim: %w", e.ID, ErrConflict)
	}
	return nil
}

// MarkSent records a delivery and remembers ref for the group.
func (o *Outbox) MarkSent(ctx context.Context, e *notify.Entry, ref string, now time.Time) error {
	tx, err := o.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: updating notification %s: %w", e.ID, err)
	}
	defer tx.Rollback()
	if err := settle(ctx, tx, e, "status = 'sent', sent_at = ?, updated_at = ?", ms(now), ms(now)); err != nil {
		return err
	}
	if ref == "" {
		_, err = tx.ExecContext(ctx, "DELETE FROM notification_refs WHERE group_key = ? AND receiver = ?", e.GroupKey, e.Receiver)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO notification_refs (group_key, receiver, ref, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (group_key, receiver) DO UPDATE SET ref = excluded.ref, updated_at = excluded.updated_at`,
			e.GroupKey, e.Receiver, ref, ms(now))
	}
	if err != nil {
		return fmt.Errorf("store: recording the reference of notification %s: %w", e.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: updating notification %s: %w", e.ID, err)
	}
	return nil
}

// MarkRetry records a failed attempt and when to try again.
func (o *Outbox) MarkRetry(ctx context.Context, e *notify.Entry, next time.Time, lastErr string, now time.Time) error {
	return o.settleTx(ctx, e, "next_attempt = ?, last_error = ?, updated_at = ?", ms(next), lastErr, ms(now))
}

// MarkDead dead-letters the entry.
func (o *Outbox) MarkDead(ctx context.Context, e *notify.Entry, lastErr string, now time.Time) error {
	return o.settleTx(ctx, e, "status = 'failed', last_error = ?, updated_at = ?", lastErr, ms(now))
}

func (o *Outbox) settleTx(ctx context.Context, e *notify.Entry, set string, args ...any) error {
	tx, err := o.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: updating notification %s: %w", e.ID, err)
	}
	defer tx.Rollback()
	if err := settle(ctx, tx, e, set, args...); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: updating notification %s: %w", e.ID, err)
	}
	return nil
}

// Get returns one entry.
func (o *Outbox) Get(ctx context.Context, id string) (*notify.Entry, error) {
	e, _, err := scanEntry(o.db.r.QueryRowContext(ctx, "SELECT "+notificationColumns+" FROM notifications WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("notification %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading notification %s: %w", id, err)
	}
	return e, nil
}

// List returns entries, newest first.
func (o *Outbox) List(ctx context.Context, f notify.ListFilter) ([]*notify.Entry, string, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, "", fmt.Errorf("unknown notification status %q: use pending, sent or failed", f.Status)
	}
	var w query
	w.eq("status", string(f.Status))
	w.eq("receiver", f.Receiver)
	if err := w.after("created_at", f.Cursor); err != nil {
		return nil, "", err
	}
	n := limit(f.Limit)
	rows, err := o.db.r.QueryContext(ctx, "SELECT "+notificationColumns+" FROM notifications"+w.clause()+
		" ORDER BY created_at DESC, seq DESC LIMIT "+fmt.Sprint(n+1), w.args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: listing notifications: %w", err)
	}
	defer rows.Close()
	out := []*notify.Entry{}
	var lastSeq int64
	for rows.Next() {
		e, seq, err := scanEntry(rows)
		if err != nil {
			return nil, "", err
		}
		if len(out) == n {
			return out, cursor(ms(out[n-1].CreatedAt), lastSeq), rows.Err()
		}
		out = append(out, e)
		lastSeq = seq
	}
	return out, "", rows.Err()
}

// Retry makes a failed entry pending again, due now.
func (o *Outbox) Retry(ctx context.Context, id string, now time.Time) (*notify.Entry, error) {
	tx, err := o.db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: retrying notification %s: %w", id, err)
	}
	defer tx.Rollback()
	e, seq, err := scanEntry(tx.QueryRowContext(ctx, "SELECT "+notificationColumns+" FROM notifications WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("notification %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading notification %s: %w", id, err)
	}
	if e.Status != notify.Failed {
		return nil, fmt.Errorf("notification %s is %s; only failed notifications can be retried: %w", id, e.Status, ErrConflict)
	}
	var newer string
	err = tx.QueryRowContext(ctx, `SELECT id FROM notifications WHERE group_key = ? AND receiver = ? AND status = 'sent' AND seq > ? LIMIT 1`,
		e.GroupKey, e.Receiver, seq).Scan(&newer)
	switch {
	case err == nil:
		return nil, fmt.Errorf("notification %s is older than %s of the same group, which was delivered; sending it now would show a stale state: %w", id, newer, ErrConflict)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("store: retrying notification %s: %w", id, err)
	}
	t := ms(now)
	if _, err := tx.ExecContext(ctx, `UPDATE notifications SET status = 'pending', attempts = 0, next_attempt = ?, since = ?, claimed_until = 0, updated_at = ?
		WHERE id = ?`, t, t, t, id); err != nil {
		return nil, fmt.Errorf("store: retrying notification %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: retrying notification %s: %w", id, err)
	}
	return o.Get(ctx, id)
}

// Ref returns what the receiver last returned for the group.
func (o *Outbox) Ref(ctx context.Context, groupKey, receiver string) (string, error) {
	var ref string
	err := o.db.r.QueryRowContext(ctx, "SELECT ref FROM notification_refs WHERE group_key = ? AND receiver = ?", groupKey, receiver).Scan(&ref)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: reading the reference of group %s: %w", groupKey, err)
	}
	return ref, nil
}

// Last returns the group's newest entry, or nil.
func (o *Outbox) Last(ctx context.Context, groupKey, receiver string) (*notify.Entry, error) {
	e, _, err := scanEntry(o.db.r.QueryRowContext(ctx, "SELECT "+notificationColumns+
		" FROM notifications WHERE group_key = ? AND receiver = ? ORDER BY seq DESC LIMIT 1", groupKey, receiver))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading the last notification of group %s: %w", groupKey, err)
	}
	return e, nil
}

// Prune deletes sent and failed entries, and group references, last
// updated before t.
func (o *Outbox) Prune(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		res, err := o.db.w.ExecContext(ctx, `DELETE FROM notifications WHERE seq IN
			(SELECT seq FROM notifications WHERE status <> 'pending' AND updated_at < ? LIMIT ?)`, ms(t), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("store: pruning notifications: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < pruneBatch {
			break
		}
	}
	if _, err := o.db.w.ExecContext(ctx, "DELETE FROM notification_refs WHERE updated_at < ?", ms(t)); err != nil {
		return total, fmt.Errorf("store: pruning notification references: %w", err)
	}
	return total, nil
}
