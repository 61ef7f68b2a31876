package api_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/authz"
)

// jwks serves a set of RSA public keys and counts fetches.
type jwks struct {
	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey
	fetches atomic.Int32
	down    atomic.Bool
}

func (j *jwks) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	j.fetches.Add(1)
	if j.down.Load() {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range j.keys {
		set.Keys = append(set.Keys, map[string]string{
			"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": b64(k.PublicKey.N.Bytes()), "e": b64(big.NewInt(int64(k.PublicKey.E)).Bytes()),
		})
	}
	// An EC key and a weak RSA key are skipped, not fatal.
	set.Keys = append(set.Keys, map[string]string{"kty": "EC", "kid": "ec", "crv": "P-256"},
		map[string]string{"kty": "RSA", "kid": "weak", "n": b64(big.NewInt(3233).Bytes()), "e": "AQAB"})
	w.Header().Set("Cache-Control", "public, max-age=3600")
	json.NewEncoder(w).Encode(set)
}

func (j *jwks) set(keys map[string]*rsa.PrivateKey) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.keys = keys
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

var (
	keyOnce      sync.Once
	key1, key2   *rsa.PrivateKey
	keyGenFailed error
)

func testKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		if key1, keyGenFailed = rsa.GenerateKey(rand.Reader, 2048); keyGenFailed == nil {
			key2, keyGenFailed = rsa.GenerateKey(rand.Reader, 2048)
		}
	})
	if keyGenFailed != nil {
		t.Fatal(keyGenFailed)
	}
	return key1, key2
}

func signJWT(t *testing.T, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signing := b64(h) + "." + b64(c)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

const (
	audience = "https://vigil.example.com/api/v1/ingest/pubsub"
	saEmail  = "pubsub-push@proj-1.iam.gserviceaccount.com"
)

func goodClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": "https://accounts.google.com", "aud": audience, "azp": "1234",
		"email": saEmail, "email_verified": true, "sub": "1234",
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(59 * time.Minute).Unix(),
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestPubSubJWT(t *testing.T) {
	k1, k2 := testKeys(t)
	keys := &jwks{keys: map[string]*rsa.PrivateKey{"k1": k1}}
	ks := httptest.NewServer(keys)
	defer ks.Close()
	e := newEnv(t, func(o *api.Options) {
		o.PubSub = api.PubSubAuth{JWKSURL: ks.URL, Audience: audience, ServiceAccountEmail: saEmail, HTTPClient: ks.Client()}
	})
	body := `{"message":{"data":"e30=","messageId":"m-1"},"subscription":"projects/p/subscriptions/s"}`
	push := func(tok string) resp {
		q := req{method: "POST", path: "/api/v1/ingest/pubsub", body: body}
		if tok != "" {
			q.header = map[string]string{"Authorization": "Bearer " + tok}
		}
		return e.do(t, q)
	}
	now := e.clock.Now()
	rs256 := map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}

	if r := push(signJWT(t, k1, rs256, goodClaims(now))); r.status != 202 {
		t.Fatalf("valid token: %d %s", r.status, r.body)
	}
	if c := e.b.Ingests(); len(c) != 1 || c[0].Kind != "pubsub" {
		t.Fatalf("calls %+v", c)
	}
	if n := keys.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1", n)
	}
	// Keys are cached.
	if r := push(signJWT(t, k1, rs256, goodClaims(now))); r.status != 202 {
		t.Fatalf("second valid token: %d %s", r.status, r.body)
	}
	if n := keys.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want the cached keys used", n)
	}

	hs := func() string {
		// The classic confusion attack: HS256 keyed with the public key.
		pub, _ := x509.MarshalPKIXPublicKey(&k1.PublicKey)
		h, _ := json.Marshal(map[string]any{"alg": "HS256", "kid": "k1", "typ": "JWT"})
		c, _ := json.Marshal(goodClaims(now))
		mac := hmac.New(sha256.New, pub)
		mac.Write([]byte(b64(h) + "." + b64(c)))
		return b64(h) + "." + b64(c) + "." + b64(mac.Sum(nil))
	}
	none := func() string {
		h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
		c, _ := json.Marshal(goodClaims(now))
		return b64(h) + "." + b64(c) + "."
	}
	tampered := func() string {
		tok := signJWT(t, k1, rs256, goodClaims(now))
		parts := strings.Split(tok, ".")
		c, _ := json.Marshal(with(goodClaims(now), "email", "attacker@evil.example"))
		return parts[0] + "." + b64(c) + "." + parts[2]
	}
	for name, tok := range map[string]string{
		"no token":            "",
		"vigil token":         e.b.Token(authz.Ingest),
		"garbage":             "a.b.c",
		"expired":             signJWT(t, k1, rs256, with(goodClaims(now), "exp", now.Add(-2*time.Minute).Unix())),
		"no exp":              signJWT(t, k1, rs256, with(goodClaims(now), "exp", nil)),
		"issued in future":    signJWT(t, k1, rs256, with(goodClaims(now), "iat", now.Add(5*time.Minute).Unix())),
		"not yet valid":       signJWT(t, k1, rs256, with(goodClaims(now), "nbf", now.Add(5*time.Minute).Unix())),
		"wrong audience":      signJWT(t, k1, rs256, with(goodClaims(now), "aud", "https://other.example.com")),
		"wrong issuer":        signJWT(t, k1, rs256, with(goodClaims(now), "iss", "https://evil.example.com")),
		"wrong email":         signJWT(t, k1, rs256, with(goodClaims(now), "email", "other@proj-1.iam.gserviceaccount.com")),
		"email not verified":  signJWT(t, k1, rs256, with(goodClaims(now), "email_verified", false)),
		"signed by other key": signJWT(t, k2, rs256, goodClaims(now)),
		"tampered claims":     tampered(),
		"alg none":            none(),
		"HS256":               hs(),
		"RS512":               signJWT(t, k1, map[string]any{"alg": "RS512", "kid": "k1"}, goodClaims(now)),
		"no kid":              signJWT(t, k1, map[string]any{"alg": "RS256"}, goodClaims(now)),
		"crit header":         signJWT(t, k1, map[string]any{"alg": "RS256", "kid": "k1", "crit": []string{"exp"}}, goodClaims(now)),
		"weak key id":         signJWT(t, k1, map[string]any{"alg": "RS256", "kid": "weak"}, goodClaims(now)),
	} {
		r := push(tok)
		checkError(t, name, r, 401, "unauthorized")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no WWW-Authenticate", name)
		}
	}
	// Audience as an array, and clock skew within the leeway.
	if r := push(signJWT(t, k1, rs256, with(goodClaims(now), "aud", []string{"x", audience}, "exp", now.Add(-30*time.Second).Unix()))); r.status != 202 {
		t.Errorf("aud array within leeway: %d %s", r.status, r.body)
	}
	if n := len(e.b.Ingests()); n != 3 {
		t.Errorf("%d ingests, want 3: refused pushes reached the backend", n)
	}

	// Key rotation: an unknown kid refetches the JWKS, but not more often
	// than every 30 seconds.
	keys.set(map[string]*rsa.PrivateKey{"k2": k2})
	e.clock.Advance(31 * time.Second)
	before := keys.fetches.Load()
	tok2 := signJWT(t, k2, map[string]any{"alg": "RS256", "kid": "k2"}, goodClaims(now))
	if r := push(tok2); r.status != 202 {
		t.Fatalf("rotated key: %d %s", r.status, r.body)
	}
	if keys.fetches.Load() != before+1 {
		t.Errorf("unknown kid did not refetch once: %d fetches", keys.fetches.Load()-before)
	}
	for range 5 {
		checkError(t, "made-up kid", push(signJWT(t, k2, map[string]any{"alg": "RS256", "kid": "nope"}, goodClaims(now))), 401, "unauthorized")
	}
	if keys.fetches.Load() != before+1 {
		t.Errorf("made-up kids refetched the JWKS: %d fetches", keys.fetches.Load()-before)
	}
	e.clock.Advance(time.Minute)
	now = e.clock.Now()
	checkError(t, "made-up kid later", push(signJWT(t, k2, map[string]any{"alg": "RS256", "kid": "nope"}, goodClaims(now))), 401, "unauthorized")
	if keys.fetches.Load() != before+2 {
		t.Errorf("unknown kid a minute later did not refetch: %d fetches", keys.fetches.Load()-before)
	}

	// When the keys expire and the JWKS is down, the stale keys still
	// serve.
	keys.down.Store(true)
	e.clock.Advance(2 * time.Hour)
	now = e.clock.Now()
	if r := push(signJWT(t, k2, map[string]any{"alg": "RS256", "kid": "k2"}, goodClaims(now))); r.status != 202 {
		t.Errorf("stale keys with the JWKS down: %d %s", r.status, r.body)
	}
	for _, tok := range []string{e.b.Token(authz.Ingest), tok2, strings.Split(tok2, ".")[2]} {
		if strings.Contains(e.logs.String(), tok) {
			t.Errorf("a token appears in the log")
		}
	}
}

func TestPubSubJWKSUnavailable(t *testing.T) {
	k1, _ := testKeys(t)
	keys := &jwks{keys: map[string]*rsa.PrivateKey{"k1": k1}}
	keys.down.Store(true)
	ks := httptest.NewServer(keys)
	defer ks.Close()
	e := newEnv(t, func(o *api.Options) {
		o.PubSub = api.PubSubAuth{JWKSURL: ks.URL, Audience: audience, ServiceAccountEmail: "pubsub-push@proj-1.iam.gserviceaccount.com", HTTPClient: ks.Client()}
	})
	tok := signJWT(t, k1, map[string]any{"alg": "RS256", "kid": "k1"}, goodClaims(e.clock.Now()))
	r := e.do(t, req{method: "POST", path: "/api/v1/ingest/pubsub", body: `{"message":{}}`, header: map[string]string{"Authorization": "Bearer " + tok}})
	// Pub/Sub retries a 503: nothing is lost while the keys cannot be had.
	checkError(t, "JWKS down", r, 503, "unavailable")
	keys.down.Store(false)
	e.clock.Advance(time.Minute)
	r = e.do(t, req{method: "POST", path: "/api/v1/ingest/pubsub", body: `{"message":{}}`, header: map[string]string{"Authorization": "Bearer " + tok}})
	if r.status != 202 {
		t.Errorf("JWKS back: %d %s", r.status, r.body)
	}
}
