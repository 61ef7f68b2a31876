package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const tokenColumns = "id, name, role, created_by, created_at, last_used, expires_at, revoked"

func scanToken(s scanner) (Token, error) {
	var t Token
	var created int64
	var last, expires sql.NullInt64
	var revoked int
	if err := s.Scan(&t.ID, &t.Name, &t.Role, &t.CreatedBy, &created, &last, &expires, &revoked); err != nil {
		return t, err
	}
	t.CreatedAt = fromMS(created)
	if last.Valid {
		l := fromMS(last.Int64)
		t.LastUsed = &l
	}
	if expires.Valid {
		e := fromMS(expires.Int64)
		t.ExpiresAt = &e
	}
	t.Revoked = revoked != 0
	return t, nil
}

// CreateToken stores a token's metadata and the hash of its secret.
func (db *DB) CreateToken(ctx context.Context, t Token, hash string) error {
	var expires any
	if t.ExpiresAt != nil {
		expires = ms(*t.ExpiresAt)
	}
	_, err := db.w.ExecContext(ctx, "INSERT INTO tokens (id, name, role, hash, created_by, created_at, expires_at) VALUES (?,?,?,?,?,?,?)",
		t.ID, t.Name, t.Role, hash, t.CreatedBy, ms(t.CreatedAt), expires)
	if err != nil {
		return fmt.Errorf("store: adding token %q: %w", t.Name, err)
	}
	return nil
}

// TokenByHash returns the live token with the given hash: not revoked and
// not expired at now. Anything else is ErrNotFound.
func (db *DB) TokenByHash(ctx context.Context, hash string, now time.Time) (Token, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (t.Revoked || (t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)))) {
		return Token{}, ErrNotFound
	}
	return t, err
}

// TouchToken records that a token was used.
func (db *DB) TouchToken(ctx context.Context, id string, now time.Time) error {
	_, err := db.w.ExecContext(ctx, "UPDATE tokens SET last_used = ? WHERE id = ?", ms(now), id)
	return err
}

// ListTokens returns every token's metadata, oldest first.
func (db *DB) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+tokenColumns+" FROM tokens ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("store: listing tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token. Revoking a revoked token is a conflict.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	res, err := db.w.ExecContext(ctx, "UPDATE tokens SET revoked = 1 WHERE id = ? AND revoked = 0", id)
	if err != nil {
		return fmt.Errorf("store: revoking token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var revoked int
		err := db.r.QueryRowContext(ctx, "SELECT revoked FROM tokens WHERE id = ?", id).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("token %s: %w", id, ErrNotFound)
		}
		return fmt.Errorf("token %s is already revoked: %w", id, ErrConflict)
	}
	return nil
}

// CountLiveAdmins returns how many admin tokens are neither revoked nor
// expired at now.
func (db *DB) CountLiveAdmins(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM tokens WHERE role = 'admin' AND revoked = 0 AND (expires_at IS NULL OR expires_at > ?)",
		ms(now)).Scan(&n)
	return n, err
}
