package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the SQLite store. Writes go through one connection, reads through a
// pool, both on the same WAL-mode database file.
type DB struct {
	w, r *sql.DB
	path string
}

// Open opens (creating if needed) the database at path and applies the
// migrations it has not seen.
func Open(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: creating %s: %w", filepath.Dir(path), err)
	}
	// synchronous=NORMAL in WAL mode loses nothing on a process crash;
	// events that a power loss could take are still in the bus, which is
	// acknowledged only after the store commits.
	//
	// The writer keeps 16 MiB of pages cached, so that index pages stay in
	// memory as the database grows, and checkpoints the WAL every 8192
	// pages (16 MiB of 2 KiB pages) rather than SQLite's 1000, so that
	// pages written by many batches are copied into the database once.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	if err := create(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn+"&_pragma=cache_size(-16384)&_pragma=wal_autocheckpoint(8192)&_pragma=journal_size_limit(67108864)")
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(ON)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	db := &DB{w: w, r: r, path: path}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// pageSize is the page size of new databases. Index inserts land on random
// pages (event IDs, principals and source IPs are not in storage order) and
// each page a batch touches is written whole, to the WAL and again at the
// checkpoint, so smaller pages write less per event. Event bodies larger
// than a page continue in overflow pages, which are written sequentially.
const pageSize = 2048

// create gives a database that does not exist yet its page size, which
// cannot change once the database is in WAL mode.
func create(path string) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=page_size("+strconv.Itoa(pageSize)+")")
	if err != nil {
		return fmt.Errorf("store: creating %s: %w", path, err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA journal_mode=WAL"); err != nil {
		return fmt.Errorf("store: creating %s: %w", path, err)
	}
	return db.Close()
}

// Close closes the database.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.r.PingContext(ctx) }

// migrate applies the numbered migrations in order, each in a transaction,
// recording the version in user_version.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var version int
	if err := db.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: reading schema version of %s: %w", db.path, err)
	}
	if version > len(names) {
		return fmt.Errorf("store: %s has schema version %d, newer than this Vigil knows (%d): use a newer vigil", db.path, version, len(names))
	}
	for i := version; i < len(names); i++ {
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return err
		}
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", names[i], err)
		}
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %s: %w", names[i], err)
		}
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// cursor encodes a position in a list ordered by (time, seq) descending.
func cursor(t int64, seq int64) string {
	return strconv.FormatInt(t, 36) + "." + strconv.FormatInt(seq, 36)
}

func parseCursor(c string) (t, seq int64, err error) {
	a, b, ok := strings.Cut(c, ".")
	if !ok || len(c) > 40 {
		return 0, 0, ErrBadCursor
	}
	if t, err = strconv.ParseInt(a, 36, 64); err != nil {
		return 0, 0, ErrBadCursor
	}
	if seq, err = strconv.ParseInt(b, 36, 64); err != nil {
		return 0, 0, ErrBadCursor
	}
	return t, seq, nil
}

func limit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// query builds a WHERE clause.
type query struct {
	where []string
	args  []any
}

func (q *query) eq(col, v string) {
	if v != "" {
		q.where = append(q.where, col+" = ?")
		q.args = append(q.args, v)
	}
}

func (q *query) in(col string, vs []string) {
	if len(vs) == 0 {
		return
	}
	q.where = append(q.where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vs)), ",")+")")
	for _, v := range vs {
		q.args = append(q.args, v)
	}
}

func (q *query) timeRange(col string, since, until time.Time) {
	if !since.IsZero() {
		q.where = append(q.where, col+" >= ?")
		q.args = append(q.args, ms(since))
	}
	if !until.IsZero() {
		q.where = append(q.where, col+" < ?")
		q.args = append(q.args, ms(until))
	}
}

func (q *query) after(col, c string) error {
	if c == "" {
		return nil
	}
	t, seq, err := parseCursor(c)
	if err != nil {
		return err
	}
	q.where = append(q.where, "("+col+" < ? OR ("+col+" = ? AND seq < ?))")
	q.args = append(q.args, t, t, seq)
	return nil
}

func (q *query) clause() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}
