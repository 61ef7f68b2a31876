package authz

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// TokenPrefix starts every API token, so that secret scanners and people
// recognize one.
const TokenPrefix = "vgl_"

// IDPrefix starts every token ID. IDs are not secret: they name a token in
// lists and revocations.
const IDPrefix = "tok_"

const tokenBytes = 32

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// tokenLen is the length of a token: the prefix and 32 bytes in base32.
var tokenLen = len(TokenPrefix) + tokenEncoding.EncodedLen(tokenBytes)

// NewToken returns a new random API token: "vgl_" and 256 random bits in
// lower-case base32 without padding.
func NewToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a token: %w", err)
	}
	return TokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(b)), nil
}

// WellFormed reports whether s has the shape of a token NewToken makes. It
// lets the API refuse garbage before a store lookup; it says nothing about
// whether the token is valid.
func WellFormed(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	for _, c := range s[len(TokenPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// HashToken returns the hex SHA-256 of a token, which is what the store
// keeps. A fast hash is right here, unlike for passwords: tokens carry 256
// random bits, so there is nothing to guess and slowing the hash would only
// slow every API request. The store looks tokens up by this hash, so no
// secret is compared byte by byte in Go code.
func HashToken(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// MatchHash reports, in constant time, whether plaintext hashes to hash.
func MatchHash(plaintext, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashToken(plaintext)), []byte(hash)) == 1
}
