package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/authz"
)

// Auth says how a route authenticates its caller.
type Auth int

// Authentication modes.
const (
	// AuthNone: the route is public.
	AuthNone Auth = iota
	// AuthBearer: a Vigil token in Authorization: Bearer.
	AuthBearer
	// AuthIngest: a Vigil token in Authorization: Bearer or, because some
	// delivery services cannot set headers, in the token query parameter.
	AuthIngest
	// AuthFirehose: as AuthIngest, and first the X-Amz-Firehose-Access-Key
	// header. Errors take Firehose's response shape.
	AuthFirehose
	// AuthPubSub: a Google OIDC JWT when Options.PubSub.JWKSURL is set,
	// otherwise as AuthIngest.
	AuthPubSub
)

// Route is one method and path of the API and the permission it needs.
type Route struct {
	Method  string
	Pattern string // a net/http.ServeMux path pattern
	// Resource and Verb are what the caller's role must allow; both are ""
	// on public routes.
	Resource, Verb string
	Auth           Auth
	handle         func(*server, *call) error
}

// routeTable is the API: the router is built from it and the tests walk it.
var routeTable = []Route{
	{"GET", "/healthz", "", "", AuthNone, (*server).healthz},
	{"GET", "/readyz", "", "", AuthNone, (*server).readyz},
	{"GET", "/metrics", authz.Stats, authz.Read, AuthBearer, (*server).serveMetrics},

	{"POST", "/api/v1/ingest/{kind}", authz.IngestData, authz.Write, AuthIngest, (*server).ingest},
	{"POST", "/api/v1/ingest/firehose", authz.IngestData, authz.Write, AuthFirehose, (*server).ingestFirehose},
	{"POST", "/api/v1/ingest/pubsub", authz.IngestData, authz.Write, AuthPubSub, (*server).ingestPubSub},
	{"POST", "/api/v1/ingest/eventgrid", authz.IngestData, authz.Write, AuthIngest, (*server).ingestEventGrid},
	{"OPTIONS", "/api/v1/ingest/eventgrid", authz.IngestData, authz.Write, AuthIngest, (*server).eventGridHandshake},

	{"GET", "/api/v1/alerts", authz.Alerts, authz.Read, AuthBearer, (*server).listAlerts},
	{"GET", "/api/v1/alerts/{id}", authz.Alerts, authz.Read, AuthBearer, (*server).getAlert},
	{"POST", "/api/v1/alerts/{id}/ack", authz.Alerts, authz.Write, AuthBearer, (*server).ackAlert},
	{"POST", "/api/v1/alerts/{id}/resolve", authz.Alerts, authz.Write, AuthBearer, (*server).resolveAlert},

	{"GET", "/api/v1/events", authz.Events, authz.Read, AuthBearer, (*server).searchEvents},

	{"GET", "/api/v1/silences", authz.Silences, authz.Read, AuthBearer, (*server).listSilences},
	{"POST", "/api/v1/silences", authz.Silences, authz.Write, AuthBearer, (*server).createSilence},
	{"GET", "/api/v1/silences/{id}", authz.Silences, authz.Read, AuthBearer, (*server).getSilence},
	{"DELETE", "/api/v1/silences/{id}", authz.Silences, authz.Write, AuthBearer, (*server).expireSilence},

	{"GET", "/api/v1/rules", authz.Rules, authz.Read, AuthBearer, (*server).rules},
	{"POST", "/api/v1/rules/reload", authz.Rules, authz.Write, AuthBearer, (*server).reloadRules},

	{"GET", "/api/v1/tokens", authz.Tokens, authz.Read, AuthBearer, (*server).listTokens},
	{"POST", "/api/v1/tokens", authz.Tokens, authz.Write, AuthBearer, (*server).createToken},
	{"DELETE", "/api/v1/tokens/{id}", authz.Tokens, authz.Write, AuthBearer, (*server).revokeToken},

	{"GET", "/api/v1/stats", authz.Stats, authz.Read, AuthBearer, (*server).stats},

	{"GET", "/api/v1/notifications", authz.Notifications, authz.Read, AuthBearer, (*server).listNotifications},
	{"GET", "/api/v1/notifications/{id}", authz.Notifications, authz.Read, AuthBearer, (*server).getNotification},
	{"POST", "/api/v1/notifications/{id}/retry", authz.Notifications, authz.Write, AuthBearer, (*server).retryNotification},
	{"POST", "/api/v1/notifications/test", authz.Notifications, authz.Write, AuthBearer, (*server).testNotification},
}

// Routes returns the route table.
func Routes() []Route { return slices.Clone(routeTable) }

// principal is who made an authenticated request.
type principal struct {
	name, role, tokenID string
}

// call is one request being served.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	route *Route
	id    string // request ID
	who   principal
	// firehoseID is the Firehose request ID the response must repeat.
	firehoseID string
	// logAttrs are added to the request's log lines, e.g. a Pub/Sub
	// message ID.
	logAttrs []any
}

func (c *call) ctx() context.Context { return c.r.Context() }

// routes builds the handler: one ServeMux path pattern per path in the
// table, each dispatching on the method so that a wrong method gets a JSON
// 405 with Allow, and a JSON 404 for every other path.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	var paths []string
	byPath := map[string][]*Route{}
	for i := range routeTable {
		rt := &routeTable[i]
		if byPath[rt.Pattern] == nil {
			paths = append(paths, rt.Pattern)
		}
		byPath[rt.Pattern] = append(byPath[rt.Pattern], rt)
	}
	for _, p := range paths {
		mux.Handle(p, s.dispatch(byPath[p]))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(&call{w: w, r: r, id: requestIDFrom(r.Context())}, errorf(http.StatusNotFound, codeNotFound, "no such API path: see the API reference"))
	})
	return s.wrap(mux)
}

// dispatch picks the route of a path by method.
func (s *server) dispatch(rs []*Route) http.Handler {
	var allow []string
	for _, rt := range rs {
		allow = append(allow, rt.Method)
		if rt.Method == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	slices.Sort(allow)
	allowed := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		for _, rt := range rs {
			if rt.Method == method {
				s.serve(rt, w, r)
				return
			}
		}
		w.Header().Set("Allow", allowed)
		// Keep the route's error shape (Firehose's, on its endpoint).
		c := &call{w: w, r: r, route: rs[0], id: requestIDFrom(r.Context())}
		s.fail(c, errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "method %s not allowed: use %s", sanitizeMethod(r.Method), allowed))
	})
}

func sanitizeMethod(m string) string {
	if len(m) > 16 || strings.ContainsFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return "this method"
	}
	return m
}

// serve authenticates, authorizes and runs one route.
func (s *server) serve(rt *Route, w http.ResponseWriter, r *http.Request) {
	c := &call{w: w, r: r, route: rt, id: requestIDFrom(r.Context())}
	if rt.Auth == AuthFirehose {
		c.firehoseID = firehoseHeaderID(r)
	}
	err := s.authorize(c)
	if err == nil {
		err = rt.handle(s, c)
	}
	if err != nil {
		s.fail(c, err)
	}
}

type ctxKey int

const requestIDKey ctxKey = 0

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// saneRequestID reports whether a client's X-Request-Id may be echoed and
// logged: short, plain characters, and not a token pasted by mistake.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 || strings.HasPrefix(id, authz.TokenPrefix) {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)) {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b) // never fails: crypto/rand panics rather than return an error
	return hex.EncodeToString(b)
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap adds the request ID, security headers, panic recovery and a request
// log line to every response. Logs carry the method, the matched pattern
// (never the path or the query, which may hold a token), status and
// duration.
func (s *server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panicked", "request_id", id, "method", sanitizeMethod(r.Method), "route", r.Pattern, "panic", fmt.Sprint(v))
				if sw.status == 0 {
					s.fail(&call{w: sw, r: r, id: id}, errorf(http.StatusInternalServerError, codeInternal, "internal error (request %s)", id))
				}
			}
			s.log.Debug("request", "request_id", id, "method", sanitizeMethod(r.Method), "route", r.Pattern,
				"status", sw.status, "duration", time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}
