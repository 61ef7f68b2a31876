package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Tx is one write transaction of the detection pipeline: the events of a
// batch and the alerts they raise commit together, so a crash before the
// commit leaves nothing half-done and the redelivered batch is processed
// again from the start.
type Tx struct {
	tx        *sql.Tx
	insertEv  *sql.Stmt
	db        *DB
	silences  []*silenceRow
	committed bool
	now       time.Time // stored_at of the transaction's events
}

// Begin starts a pipeline transaction.
func (db *DB) Begin(ctx context.Context) (*Tx, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO events
		(id, time, stored_at, cloud, source, account, action, principal, source_ip, function, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`)
	if err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	return &Tx{tx: tx, insertEv: stmt, db: db, now: time.Now()}, nil
}

// AddEvent stores an event unless one with its ID is stored already, and
// reports whether it was new. body is the event's JSON with its raw record.
func (t *Tx) AddEvent(ctx context.Context, ev *event.Event, body []byte) (bool, error) {
	_, isNew, err := t.AddEventSeq(ctx, ev, body)
	return isNew, err
}

// AddEventSeq is AddEvent that also returns the store sequence number the
// new event got (0 when it was stored already). Sequence numbers grow in
// commit order, so EventsAfter reads back what was stored after a point.
func (t *Tx) AddEventSeq(ctx context.Context, ev *event.Event, body []byte) (int64, bool, error) {
	tm := ev.Time
	if tm.IsZero() {
		tm = time.Now()
	}
	var seq int64
	err := t.insertEv.QueryRowContext(ctx, ev.ID, ms(tm), ms(t.now), ev.Cloud, ev.Source, ev.Account, ev.Action,
		ev.Principal, ev.SourceIP, ev.Function, body).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil // stored already: OR IGNORE returns no row
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: adding event %s: %w", ev.ID, err)
	}
	return seq, true, nil
}

// Commit commits the transaction.
func (t *Tx) Commit() error {
	t.committed = true
	t.insertEv.Close()
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Rollback abandons the transaction; after Commit it does nothing.
func (t *Tx) Rollback() {
	if !t.committed {
		t.insertEv.Close()
		t.tx.Rollback()
	}
}

// SearchEvents returns stored events, newest first.
func (db *DB) SearchEvents(ctx context.Context, q EventQuery) ([]StoredEvent, string, error) {
	n := limit(q.Limit)
	stmt, args, err := searchEventsSQL(q, n+1)
	if err != nil {
		return nil, "", err
	}
	rows, err := db.r.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: searching events: %w", err)
	}
	defer rows.Close()
	var out []StoredEvent
	var lastT, lastSeq int64
	for rows.Next() {
		var e StoredEvent
		var seq, t int64
		if err := rows.Scan(&seq, &e.ID, &t, &e.JSON); err != nil {
			return nil, "", err
		}
		if len(out) == n {
			return out, cursor(lastT, lastSeq), rows.Err()
		}
		e.Time = fromMS(t)
		out = append(out, e)
		lastT, lastSeq = t, seq
	}
	return out, "", rows.Err()
}

// searchEventsSQL builds SearchEvents' query for at most n rows.
func searchEventsSQL(q EventQuery, n int) (string, []any, error) {
	var w query
	w.eq("id", q.ID)
	w.eq("principal", q.Principal)
	w.eq("source_ip", q.SourceIP)
	w.eq("action", q.Action)
	w.eq("function", q.Function)
	w.eq("account", q.Account)
	w.eq("source", q.Source)
	w.timeRange("time", q.Since, q.Until)
	if err := w.after("time", q.Cursor); err != nil {
		return "", nil, err
	}
	return "SELECT seq, id, time, body FROM events" + w.clause() + " ORDER BY time DESC, seq DESC LIMIT " + strconv.Itoa(n), w.args, nil
}

// DeleteEventsBefore deletes events stored before t, at most batch at a
// time so that writers are not blocked for long, and returns how many it
// deleted. Retention goes by when Vigil stored an event, not by the
// event's own time, so that a backfill of old logs is kept, and replayed
// events keep being recognized as duplicates for the retention period.
//
// Events are stored in seq order, so the expired ones are the first ones:
// it looks at the batch oldest events and deletes the expired ones among
// them, without an index on stored_at. (Should the clock step back, events
// stored after the step may wait for their predecessors to expire.)
func (db *DB) DeleteEventsBefore(ctx context.Context, t time.Time, batch int) (int64, error) {
	var upTo sql.NullInt64
	err := db.w.QueryRowContext(ctx, `SELECT max(seq) FROM
		(SELECT seq, stored_at FROM events ORDER BY seq LIMIT ?) WHERE stored_at < ?`, batch, ms(t)).Scan(&upTo)
	if err != nil {
		return 0, fmt.Errorf("store: retention: %w", err)
	}
	if !upTo.Valid {
		return 0, nil
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM events WHERE seq <= ? AND stored_at < ?`, upTo.Int64, ms(t))
	if err != nil {
		return 0, fmt.Errorf("store: retention: %w", err)
	}
	return res.RowsAffected()
}

// Stats counts what is stored.
func (db *DB) Stats(ctx context.Context, now time.Time) (Stats, error) {
	st := Stats{Alerts: map[string]int64{}, AlertsBySev: map[string]int64{}}
	var oldest, newest sql.NullInt64
	if err := db.r.QueryRowContext(ctx, "SELECT count(*), min(time), max(time) FROM events").Scan(&st.Events, &oldest, &newest); err != nil {
		return st, fmt.Errorf("store: stats: %w", err)
	}
	if oldest.Valid {
		o, n := fromMS(oldest.Int64), fromMS(newest.Int64)
		st.OldestEvent, st.NewestEvent = &o, &n
	}
	for _, q := range []struct {
		sql string
		m   map[string]int64
	}{{"SELECT status, count(*) FROM alerts GROUP BY status", st.Alerts}, {"SELECT severity, count(*) FROM alerts GROUP BY severity", st.AlertsBySev}} {
		rows, err := db.r.QueryContext(ctx, q.sql)
		if err != nil {
			return st, fmt.Errorf("store: stats: %w", err)
		}
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return st, err
			}
			q.m[k] = n
		}
		rows.Close()
	}
	err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM silences WHERE starts_at <= ? AND ends_at > ?", ms(now), ms(now)).Scan(&st.ActiveSilences)
	return st, err
}
