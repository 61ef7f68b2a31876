package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
)

type silenceRow = alert.Silence

func scanSilence(s scanner) (*alert.Silence, error) {
	var si alert.Silence
	var matchers string
	var starts, ends, created int64
	if err := s.Scan(&si.ID, &matchers, &starts, &ends, &si.CreatedBy, &si.Comment, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(matchers), &si.Matchers); err != nil {
		return nil, fmt.Errorf("store: silence %s: bad matchers: %w", si.ID, err)
	}
	for _, m := range si.Matchers {
		if err := m.Compile(); err != nil {
			return nil, fmt.Errorf("store: silence %s: %w", si.ID, err)
		}
	}
	si.StartsAt, si.EndsAt, si.CreatedAt = fromMS(starts), fromMS(ends), fromMS(created)
	return &si, nil
}

const silenceColumns = "id, matchers, starts_at, ends_at, created_by, comment, created_at"

// loadSilences reads the silences that are active or start later, once per
// transaction.
func (t *Tx) loadSilences(ctx context.Context, now time.Time) error {
	if t.silences != nil {
		return nil
	}
	rows, err := t.tx.QueryContext(ctx, "SELECT "+silenceColumns+" FROM silences WHERE ends_at > ?", ms(now))
	if err != nil {
		return fmt.Errorf("store: reading silences: %w", err)
	}
	defer rows.Close()
	t.silences = []*silenceRow{}
	for rows.Next() {
		s, err := scanSilence(rows)
		if err != nil {
			return err
		}
		t.silences = append(t.silences, s)
	}
	return rows.Err()
}

// CreateSilence stores a validated silence.
func (db *DB) CreateSilence(ctx context.Context, s *alert.Silence) error {
	if err := s.Validate(); err != nil {
		return err
	}
	_, err := db.w.ExecContext(ctx, "INSERT INTO silences ("+silenceColumns+") VALUES (?,?,?,?,?,?,?)",
		s.ID, mustJSONValue(s.Matchers), ms(s.StartsAt), ms(s.EndsAt), s.CreatedBy, s.Comment, ms(s.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: adding silence: %w", err)
	}
	return nil
}

func mustJSONValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// GetSilence returns one silence.
func (db *DB) GetSilence(ctx context.Context, id string) (*alert.Silence, error) {
	s, err := scanSilence(db.r.QueryRowContext(ctx, "SELECT "+silenceColumns+" FROM silences WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("silence %s: %w", id, ErrNotFound)
	}
	return s, err
}

// ListSilences returns silences, newest first; expired ones only if asked.
func (db *DB) ListSilences(ctx context.Context, includeExpired bool, now time.Time) ([]*alert.Silence, error) {
	q := "SELECT " + silenceColumns + " FROM silences"
	var args []any
	if !includeExpired {
		q += " WHERE ends_at > ?"
		args = append(args, ms(now))
	}
	rows, err := db.r.QueryContext(ctx, q+" ORDER BY created_at DESC LIMIT 10000", args...)
	if err != nil {
		return nil, fmt.Errorf("store: listing silences: %w", err)
	}
	defer rows.Close()
	out := []*alert.Silence{}
	for rows.Next() {
		s, err := scanSilence(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ExpireSilence ends a silence now. Expiring an expired silence is a
// conflict.
func (db *DB) ExpireSilence(ctx context.Context, id string, now time.Time) (*alert.Silence, error) {
	// A silence that has not started yet ends before it starts.
	res, err := db.w.ExecContext(ctx, "UPDATE silences SET starts_at = min(starts_at, ?), ends_at = ? WHERE id = ? AND ends_at > ?",
		ms(now), ms(now), id, ms(now))
	if err != nil {
		return nil, fmt.Errorf("store: expiring silence %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := db.GetSilence(ctx, id); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("silence %s has already expired: %w", id, ErrConflict)
	}
	return db.GetSilence(ctx, id)
}
