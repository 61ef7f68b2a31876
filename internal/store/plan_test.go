package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestQueriesUseIndexes checks with EXPLAIN QUERY PLAN that every event
// search and alert filter is answered through an index, in the order the
// results are returned, rather than by scanning or sorting the table.
func TestQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	since := time.Now().Add(-time.Hour)
	plan := func(stmt string, args []any) string {
		t.Helper()
		rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+stmt, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var steps []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, detail)
		}
		return strings.Join(steps, "; ")
	}
	for _, tc := range []struct {
		q     EventQuery
		index string
	}{
		{EventQuery{}, "events_time"},
		{EventQuery{Since: since}, "events_time"},
		{EventQuery{ID: "e1"}, "sqlite_autoindex_events_1"},
		{EventQuery{Principal: "alice"}, "events_principal"},
		{EventQuery{Principal: "alice", Since: since, Cursor: cursor(ms(time.Now()), 9)}, "events_principal"},
		{EventQuery{SourceIP: "203.0.113.5"}, "events_source_ip"},
		{EventQuery{Action: "Invoke"}, "events_action"},
		{EventQuery{Function: "f"}, "events_function"},
		{EventQuery{Account: "1"}, "events_account"},
	} {
		stmt, args, err := searchEventsSQL(tc.q, 101)
		if err != nil {
			t.Fatal(err)
		}
		if p := plan(stmt, args); !strings.Contains(p, "USING INDEX "+tc.index) && !strings.Contains(p, "USING COVERING INDEX "+tc.index) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("events %+v: plan %q, want %s without a sort", tc.q, p, tc.index)
		}
	}
	for _, tc := range []struct {
		f     AlertFilter
		index string
	}{
		{AlertFilter{}, "alerts_last_seen"},
		{AlertFilter{Principal: "alice"}, "alerts_principal"},
		{AlertFilter{Principal: "alice", Cursor: cursor(ms(time.Now()), 9)}, "alerts_principal"},
	} {
		stmt, args, err := listAlertsSQL(tc.f, 101)
		if err != nil {
			t.Fatal(err)
		}
		if p := plan(stmt, args); !strings.Contains(p, "USING INDEX "+tc.index) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("alerts %+v: plan %q, want %s without a sort", tc.f, p, tc.index)
		}
	}
}
