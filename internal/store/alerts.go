package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
)

const alertColumns = `seq, id, fingerprint, rule_id, rule_title, rule_level, rule_tags, severity, status, count,
	first_seen, last_seen, cloud, source, account, region, principal, source_ip, function, action,
	event_ids, silenced, silence_id, updated_at, updated_by`

type scanner interface{ Scan(...any) error }

func scanAlert(s scanner) (*alert.Alert, int64, error) {
	var a alert.Alert
	var seq, first, last, updated int64
	var tags, ids string
	var silenced int
	err := s.Scan(&seq, &a.ID, &a.Fingerprint, &a.Rule.ID, &a.Rule.Title, &a.Rule.Level, &tags, &a.Severity, &a.Status, &a.Count,
		&first, &last, &a.Cloud, &a.Source, &a.Account, &a.Region, &a.Principal, &a.SourceIP, &a.Function, &a.Action,
		&ids, &silenced, &a.SilenceID, &updated, &a.UpdatedBy)
	if err != nil {
		return nil, 0, err
	}
	a.FirstSeen, a.LastSeen, a.UpdatedAt = fromMS(first), fromMS(last), fromMS(updated)
	a.Silenced = silenced != 0
	if err := json.Unmarshal([]byte(tags), &a.Rule.Tags); err != nil {
		return nil, 0, fmt.Errorf("store: alert %s: bad tags: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(ids), &a.EventIDs); err != nil {
		return nil, 0, fmt.Errorf("store: alert %s: bad event ids: %w", a.ID, err)
	}
	return &a, seq, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // string slices always marshal
	}
	return string(b)
}

// RaiseAlert records a rule match. If an alert with the same fingerprint
// that is not resolved spans a time within window of the match, that
// alert's count, last_seen and event references are updated; otherwise a is
// stored as a new alert, silenced if an active silence matches it. It
// returns the stored alert and whether it is new.
func (t *Tx) RaiseAlert(ctx context.Context, a *alert.Alert, window time.Duration, now time.Time) (*alert.Alert, bool, error) {
	row := t.tx.QueryRowContext(ctx, "SELECT "+alertColumns+` FROM alerts
		WHERE fingerprint = ? AND status <> 'resolved' AND last_seen >= ? AND first_seen <= ?
		ORDER BY last_seen DESC LIMIT 1`, a.Fingerprint, ms(a.FirstSeen.Add(-window)), ms(a.LastSeen.Add(window)))
	cur, _, err := scanAlert(row)
	switch {
	case err == nil:
		if repeats(cur, a) {
			return cur, false, nil
		}
		cur.Count++
		if a.LastSeen.After(cur.LastSeen) {
			cur.LastSeen = a.LastSeen
		}
		if a.FirstSeen.Before(cur.FirstSeen) {
			cur.FirstSeen = a.FirstSeen
		}
		for _, id := range a.EventIDs {
			if len(cur.EventIDs) < alert.MaxEventRefs && !slices.Contains(cur.EventIDs, id) {
				cur.EventIDs = append(cur.EventIDs, id)
			}
		}
		cur.UpdatedAt = now
		_, err := t.tx.ExecContext(ctx, `UPDATE alerts SET count = ?, first_seen = ?, last_seen = ?, event_ids = ?, updated_at = ? WHERE id = ?`,
			cur.Count, ms(cur.FirstSeen), ms(cur.LastSeen), mustJSON(cur.EventIDs), ms(now), cur.ID)
		if err != nil {
			return nil, false, fmt.Errorf("store: updating alert %s: %w", cur.ID, err)
		}
		return cur, false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, false, fmt.Errorf("store: finding alert: %w", err)
	}
	if err := t.loadSilences(ctx, now); err != nil {
		return nil, false, err
	}
	labels := a.Labels()
	for _, s := range t.silences {
		if s.Active(now) && s.Matches(labels) {
			a.Silenced, a.SilenceID = true, s.ID
			break
		}
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO alerts (id, fingerprint, rule_id, rule_title, rule_level, rule_tags, severity, status, count,
		first_seen, last_seen, cloud, source, account, region, principal, source_ip, function, action,
		event_ids, silenced, silence_id, updated_at, updated_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		a.ID, a.Fingerprint, a.Rule.ID, a.Rule.Title, a.Rule.Level, mustJSON(orEmpty(a.Rule.Tags)), a.Severity, a.Status, a.Count,
		ms(a.FirstSeen), ms(a.LastSeen), a.Cloud, a.Source, a.Account, a.Region, a.Principal, a.SourceIP, a.Function, a.Action,
		mustJSON(orEmpty(a.EventIDs)), boolInt(a.Silenced), a.SilenceID, ms(now), a.UpdatedBy)
	if err != nil {
		return nil, false, fmt.Errorf("store: adding alert: %w", err)
	}
	return a, true, nil
}

// repeats reports whether a is a match cur already counted: one whose
// events are all among cur's and within its span, as when stateful
// detection replays the events stored since its checkpoint after a crash
// and completes again a window or bucket whose alert was stored before
// the crash. A new match of a rule always brings an event its alert has
// not seen; one whose events fell past cur's MaxEventRefs is counted.
func repeats(cur, a *alert.Alert) bool {
	if len(a.EventIDs) == 0 || a.FirstSeen.Before(cur.FirstSeen) || a.LastSeen.After(cur.LastSeen) {
		return false
	}
	for _, id := range a.EventIDs {
		if !slices.Contains(cur.EventIDs, id) {
			return false
		}
	}
	return true
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// listAlertsSQL builds ListAlerts' query for at most n rows.
func listAlertsSQL(f AlertFilter, n int) (string, []any, error) {
	var w query
	statuses := make([]string, len(f.Status))
	for i, s := range f.Status {
		statuses[i] = string(s)
	}
	w.in("status", statuses)
	w.in("severity", f.Severity)
	w.eq("rule_id", f.RuleID)
	w.eq("principal", f.Principal)
	w.eq("account", f.Account)
	w.eq("function", f.Function)
	w.timeRange("last_seen", f.Since, f.Until)
	if err := w.after("last_seen", f.Cursor); err != nil {
		return "", nil, err
	}
	return "SELECT " + alertColumns + " FROM alerts" + w.clause() + " ORDER BY last_seen DESC, seq DESC LIMIT " + strconv.Itoa(n), w.args, nil
}

// ListAlerts returns alerts, most recently seen first.
func (db *DB) ListAlerts(ctx context.Context, f AlertFilter) ([]*alert.Alert, string, error) {
	n := limit(f.Limit)
	stmt, args, err := listAlertsSQL(f, n+1)
	if err != nil {
		return nil, "", err
	}
	rows, err := db.r.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: listing alerts: %w", err)
	}
	defer rows.Close()
	var out []*alert.Alert
	var lastSeq int64
	for rows.Next() {
		a, seq, err := scanAlert(rows)
		if err != nil {
			return nil, "", err
		}
		if len(out) == n {
			return out, cursor(ms(out[n-1].LastSeen), lastSeq), rows.Err()
		}
		out = append(out, a)
		lastSeq = seq
	}
	return out, "", rows.Err()
}

// GetAlert returns one alert.
func (db *DB) GetAlert(ctx context.Context, id string) (*alert.Alert, error) {
	a, _, err := scanAlert(db.r.QueryRowContext(ctx, "SELECT "+alertColumns+" FROM alerts WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	return a, err
}

// SetAlertStatus acknowledges or resolves an alert. A resolved alert stays
// resolved: a new match opens a new alert.
func (db *DB) SetAlertStatus(ctx context.Context, id string, st alert.Status, by string, now time.Time) (*alert.Alert, error) {
	if !st.Valid() {
		return nil, fmt.Errorf("unknown alert status %q", st)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE alerts SET status = ?, updated_at = ?, updated_by = ?
		WHERE id = ? AND (status <> 'resolved' OR ? = 'resolved')`, st, ms(now), by, id, st)
	if err != nil {
		return nil, fmt.Errorf("store: updating alert %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		a, err := db.GetAlert(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("alert %s is %s and cannot become %s: %w", id, a.Status, st, ErrConflict)
	}
	return db.GetAlert(ctx, id)
}
