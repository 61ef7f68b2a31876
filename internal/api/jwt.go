package api

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Pub/Sub push authentication: Pub/Sub signs a Google OIDC token (an RS256
// JWT) for the push subscription's service account and sends it in
// Authorization: Bearer. The verifier checks the signature against
// Google's published keys (a JWKS), then the issuer, audience, times and,
// when configured, the service account's verified email.

const (
	jwtLeeway       = time.Minute      // clock skew allowed on exp, iat and nbf
	maxJWT          = 8 << 10          // bound on a token's length
	jwksDefaultTTL  = time.Hour        // how long keys are cached without Cache-Control
	jwksMinTTL      = time.Minute      // lower bound on a Cache-Control max-age
	jwksMaxTTL      = 24 * time.Hour   // upper bound on a Cache-Control max-age
	jwksMinRefetch  = 30 * time.Second // an unknown kid refetches at most this often
	jwksFetchTime   = 10 * time.Second // bound on one fetch
	maxJWKSBytes    = 1 << 20          // bound on the JWKS document
	maxJWKSKeys     = 100              // bound on the keys kept
	minRSABits      = 2048             // bounds on a signing key's size
	maxRSABits      = 8192
	googleIssuer    = "https://accounts.google.com"
	googleIssuerAlt = "accounts.google.com"
)

// jwtVerifier checks Pub/Sub push tokens and caches the signing keys.
type jwtVerifier struct {
	cfg     PubSubAuth
	hc      *http.Client
	now     func() time.Time
	log     *slog.Logger
	issuers []string

	fetchMu sync.Mutex // one fetch at a time

	mu      sync.Mutex // guards the fields below
	keys    map[string]*rsa.PublicKey
	fetched time.Time // when keys were last fetched, zero before the first fetch
	expires time.Time
}

func newJWTVerifier(cfg PubSubAuth, now func() time.Time, log *slog.Logger) *jwtVerifier {
	v := &jwtVerifier{cfg: cfg, hc: cfg.HTTPClient, now: now, log: log.With("auth", "pubsub")}
	if v.hc == nil {
		v.hc = &http.Client{Timeout: jwksFetchTime}
	}
	switch cfg.Issuer {
	case "", googleIssuer, googleIssuerAlt:
		// Google documents both forms of its issuer.
		v.issuers = []string{googleIssuer, googleIssuerAlt}
	default:
		v.issuers = []string{cfg.Issuer}
	}
	if cfg.Audience == "" {
		v.log.Error("Pub/Sub push authentication has a JWKS URL but no audience: every push request will be refused")
	}
	return v
}

func badPushToken(format string, args ...any) *apiError {
	return errorf(http.StatusUnauthorized, codeUnauthorized, "invalid Pub/Sub push token: "+format, args...)
}

type jwtHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

type jwtClaims struct {
	Iss           string    `json:"iss"`
	Aud           audience  `json:"aud"`
	Exp           *float64  `json:"exp"`
	Iat           *float64  `json:"iat"`
	Nbf           *float64  `json:"nbf"`
	Email         string    `json:"email"`
	EmailVerified trueValue `json:"email_verified"`
}

// audience is a JWT aud claim: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// trueValue is a boolean claim that some issuers write as a string.
type trueValue bool

func (t *trueValue) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `true`, `"true"`:
		*t = true
	default:
		*t = false
	}
	return nil
}

// verify checks a push token and returns the email it was issued for.
func (v *jwtVerifier) verify(ctx context.Context, tok string) (string, error) {
	if tok == "" {
		return "", errorf(http.StatusUnauthorized, codeUnauthorized,
			"missing Pub/Sub push token: enable authentication on the push subscription")
	}
	if len(tok) > maxJWT {
		return "", badPushToken("longer than %d bytes", maxJWT)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", badPushToken("not a signed JWT")
	}
	var h jwtHeader
	if err := decodeSegment(parts[0], &h); err != nil {
		return "", badPushToken("header: %v", err)
	}
	if h.Alg != "RS256" {
		return "", badPushToken("algorithm %q is not accepted: want RS256", truncate(h.Alg, 16))
	}
	if h.Typ != "" && !strings.EqualFold(h.Typ, "JWT") {
		return "", badPushToken("type %q is not JWT", truncate(h.Typ, 16))
	}
	if len(h.Crit) > 0 {
		return "", badPushToken("critical header extensions are not supported")
	}
	if h.Kid == "" || len(h.Kid) > 256 {
		return "", badPushToken("no usable key ID")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", badPushToken("signature is not base64url")
	}
	key, err := v.key(ctx, h.Kid)
	if err != nil {
		return "", err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig); err != nil {
		return "", badPushToken("bad signature")
	}
	var c jwtClaims
	if err := decodeSegment(parts[1], &c); err != nil {
		return "", badPushToken("claims: %v", err)
	}
	return v.checkClaims(&c)
}

func (v *jwtVerifier) checkClaims(c *jwtClaims) (string, error) {
	now := v.now()
	if !slices.Contains(v.issuers, c.Iss) {
		return "", badPushToken("issuer %q is not %s", truncate(c.Iss, 64), v.issuers[0])
	}
	if v.cfg.Audience == "" || !slices.Contains(c.Aud, v.cfg.Audience) {
		return "", badPushToken("audience is not this endpoint's configured audience")
	}
	if c.Exp == nil || c.Iat == nil {
		return "", badPushToken("no exp or iat claim")
	}
	if now.After(unixTime(*c.Exp).Add(jwtLeeway)) {
		return "", badPushToken("expired")
	}
	if unixTime(*c.Iat).After(now.Add(jwtLeeway)) {
		return "", badPushToken("issued in the future")
	}
	if c.Nbf != nil && unixTime(*c.Nbf).After(now.Add(jwtLeeway)) {
		return "", badPushToken("not valid yet")
	}
	// Any Google account can mint a token for this audience: only the push
	// subscription's own service account is trusted.
	if c.Email == "" || !c.EmailVerified {
		return "", badPushToken("no verified email claim")
	}
	if !strings.EqualFold(c.Email, v.cfg.ServiceAccountEmail) {
		return "", badPushToken("issued for %q, not the configured service account", truncate(c.Email, 128))
	}
	return c.Email, nil
}

// unixTime converts a NumericDate, clamping absurd values.
func unixTime(f float64) time.Time {
	const max = 1 << 40
	if math.IsNaN(f) || f < 0 {
		f = 0
	}
	return time.Unix(int64(min(f, max)), 0)
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return fmt.Errorf("not base64url")
	}
	if err := checkDepth(b, 8); err != nil {
		return fmt.Errorf("nested too deep")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("not a JSON object")
	}
	return nil
}

var errKeysUnavailable = errorf(http.StatusServiceUnavailable, codeUnavailable,
	"cannot fetch the keys that sign Pub/Sub push tokens: retry later")

// key returns the public key with ID kid, fetching the JWKS when the cache
// is empty or stale, or when kid is unknown and the last fetch is not too
// recent (keys rotate; a flood of made-up kids must not become a flood of
// fetches).
func (v *jwtVerifier) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	v.mu.Lock()
	k, known := v.keys[kid]
	fresh := v.now().Before(v.expires)
	recent := !v.fetched.IsZero() && v.now().Sub(v.fetched) < jwksMinRefetch
	fetched, noKeys := v.fetched, len(v.keys) == 0
	v.mu.Unlock()
	switch {
	case known && (fresh || recent):
		return k, nil // a stale key is used until a refetch is due
	case !known && recent && noKeys:
		return nil, errKeysUnavailable
	case !known && recent:
		return nil, badPushToken("unknown key ID %q", truncate(kid, 64))
	}
	if err := v.refresh(ctx, fetched); err != nil {
		v.log.Warn("fetching the Pub/Sub JWKS failed", "error", err.Error())
		if known {
			return k, nil // stale keys beat refusing every push
		}
		return nil, errKeysUnavailable
	}
	v.mu.Lock()
	k, known = v.keys[kid]
	v.mu.Unlock()
	if !known {
		return nil, badPushToken("unknown key ID %q", truncate(kid, 64))
	}
	return k, nil
}

// refresh fetches the JWKS unless another caller did since seen.
func (v *jwtVerifier) refresh(ctx context.Context, seen time.Time) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	v.mu.Lock()
	done := !v.fetched.Equal(seen)
	v.mu.Unlock()
	if done {
		return nil
	}
	keys, ttl, err := v.fetch(ctx)
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.fetched = now // failures count too, so they are not retried on every request
	if err != nil {
		return err
	}
	v.keys, v.expires = keys, now.Add(ttl)
	return nil
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// fetch gets and parses the JWKS.
func (v *jwtVerifier) fetch(ctx context.Context) (map[string]*rsa.PublicKey, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTime)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("JWKS URL: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("JWKS URL answered %s", resp.Status)
	}
	if resp.ContentLength > maxJWKSBytes {
		return nil, 0, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("JWKS is not valid JSON: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if len(keys) == maxJWKSKeys {
			break
		}
		if k.Kty != "RSA" || k.Kid == "" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		pub, err := rsaKey(k)
		if err != nil {
			v.log.Warn("skipping a JWKS key", "kid", truncate(k.Kid, 64), "error", err.Error())
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, 0, fmt.Errorf("JWKS holds no usable RS256 keys")
	}
	return keys, cacheTTL(resp.Header.Get("Cache-Control")), nil
}

func rsaKey(k jwk) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
	if err != nil {
		return nil, fmt.Errorf("modulus is not base64url")
	}
	eb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		return nil, fmt.Errorf("bad exponent")
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("%d-bit modulus", bits)
	}
	e := 0
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	if e < 3 || e%2 == 0 || e > math.MaxInt32 {
		return nil, fmt.Errorf("bad exponent")
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

// cacheTTL reads max-age from a Cache-Control header, bounded.
func cacheTTL(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		if strings.EqualFold(name, "max-age") {
			if secs, err := strconv.Atoi(val); err == nil {
				secs = min(max(secs, 0), int(jwksMaxTTL/time.Second))
				return max(time.Duration(secs)*time.Second, jwksMinTTL)
			}
		}
	}
	return jwksDefaultTTL
}
