package store

import (
	"context"
	"database/sql"
	"fmt"
)

// SeqEvent is a stored event with its store sequence number.
type SeqEvent struct {
	Seq  int64
	ID   string
	Body []byte // the event's JSON with its raw record, as stored
}

// MaxSeqPage bounds the events EventsAfter returns at once.
const MaxSeqPage = 10000

// EventsAfter returns the events stored after sequence number seq, in
// sequence order, at most limit of them (1 to MaxSeqPage; other values
// mean MaxSeqPage). Stateful detection replays them after a restart.
func (db *DB) EventsAfter(ctx context.Context, seq int64, limit int) ([]SeqEvent, error) {
	if limit <= 0 || limit > MaxSeqPage {
		limit = MaxSeqPage
	}
	rows, err := db.r.QueryContext(ctx, "SELECT seq, id, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", seq, limit)
	if err != nil {
		return nil, fmt.Errorf("store: reading events after seq %d: %w", seq, err)
	}
	defer rows.Close()
	var out []SeqEvent
	for rows.Next() {
		var e SeqEvent
		if err := rows.Scan(&e.Seq, &e.ID, &e.Body); err != nil {
			return nil, fmt.Errorf("store: reading events after seq %d: %w", seq, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastSeq returns the highest sequence number stored, 0 when the store
// holds no event.
func (db *DB) LastSeq(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	if err := db.r.QueryRowContext(ctx, "SELECT max(seq) FROM events").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: reading the last event seq: %w", err)
	}
	return n.Int64, nil
}
