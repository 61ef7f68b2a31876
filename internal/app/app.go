// Package app wires Vigil's server together from its configuration: the
// bus, the store, the rules, the ingest and detection pipeline, the
// notifications and the HTTP API, and runs them until shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/geoip"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/rules"
)

// Server is a running Vigil server.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	bus      *bus.Bus
	db       *store.DB
	metrics  *metrics
	ingester *pipeline.Ingester
	detector *pipeline.Detector
	correl   *pipeline.Correlations
	base     *pipeline.Baselines // nil when baselines are off
	geo      *geoip.DB           // nil without a GeoIP database
	handler  http.Handler
	listener net.Listener
	now      func() time.Time

	rulesMu sync.Mutex
	rules   *detect.Set

	notify        *notify.Service
	outbox        *meteredOutbox
	silences      *silenceCache
	receiverNames atomic.Pointer[map[string]bool]
	// alertsMu is held from a change to an alert in the store until the
	// change is handed to notify, so that notify sees the changes in the
	// order the store made them.
	alertsMu sync.Mutex
}

// AdminTokenFile is where the first admin token is written, in the data
// directory.
const AdminTokenFile = "admin-token"

// StateDir is where stateful detection keeps its checkpoints, in the data
// directory.
const StateDir = "state"

// New opens everything the server needs. out receives the one-time notice
// of the first admin token.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, out io.Writer) (*Server, error) {
	if err := os.MkdirAll(cfg.Server.Data, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", cfg.Server.Data, err)
	}
	s := &Server{cfg: cfg, log: log, metrics: newMetrics(), now: time.Now}
	set, err := s.loadRules()
	if err != nil {
		return nil, err
	}
	if len(set.Failed) > 0 {
		return nil, fmt.Errorf("rules do not load:\n%s", failures(set))
	}
	s.rules = set
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	s.bus, err = bus.Open(ctx, bus.Options{
		Dir: filepath.Join(cfg.Server.Data, "bus"), URL: cfg.Bus.URL, MaxBytes: int64(cfg.Bus.MaxBytes),
		DuplicateWindow: cfg.Bus.DuplicateWindow, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	s.db, err = store.Open(ctx, filepath.Join(cfg.Server.Data, "vigil.db"))
	if err != nil {
		return nil, err
	}
	if err := s.bootstrapAdmin(ctx, out); err != nil {
		return nil, err
	}
	if err := s.openNotify(ctx, &cfg.Notify); err != nil {
		return nil, err
	}
	m := s.metrics
	s.ingester = pipeline.NewIngester(decode.Builtin(), s.bus, pipeline.IngestMetrics{
		Events:       func(src string, n int) { m.eventsIn.WithLabelValues(src).Add(float64(n)) },
		DecodeErrors: func(kind string, n int) { m.decodeErrors.WithLabelValues(kind).Add(float64(n)) },
	})
	s.correl = pipeline.NewCorrelations(set, pipeline.CorrelationsOptions{
		Lateness: cfg.Detect.CorrelationLateness, Logger: log.With("component", "correlate"), Now: s.now,
	})
	m.watchCorrelations(s.correl)
	stateful := []pipeline.Stateful{s.correl}
	s.base, err = s.openBaselines(&cfg.Detect, log.With("component", "baselines"))
	if err != nil {
		return nil, err
	}
	if s.base != nil {
		m.watchBaselines(s.base)
		stateful = append(stateful, s.base)
	}
	s.detector = pipeline.NewDetector(s.bus, s.db, set, pipeline.DetectorOptions{
		Batch: cfg.Detect.Batch, Workers: cfg.Detect.Workers, DedupWindow: cfg.Alerts.DedupWindow, Logger: log.With("component", "detect"),
		Metrics: pipeline.DetectMetrics{
			Latency: m.latency.Observe,
			Alert:   func(rule, sev string) { m.alerts.WithLabelValues(rule, sev).Inc() },
			Events: func(stored, dups int) {
				m.stored.Add(float64(stored))
				m.duplicates.Add(float64(dups))
			},
			BadMsg: func(n int) { m.badMessages.Add(float64(n)) },
		},
		OnAlerts:   s.handleAlerts,
		AlertsLock: &s.alertsMu,
		Stateful:   stateful,
		StateDir:   filepath.Join(cfg.Server.Data, StateDir),
		Now:        s.now,
	})
	ps := cfg.Ingest.PubSub
	s.handler = api.New(&backend{s: s}, api.Options{
		MaxBodyBytes:     int64(cfg.Server.MaxBodyBytes),
		MaxInflightBytes: int64(cfg.Server.MaxInflightBytes),
		Metrics:          promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}),
		Logger:           log,
		PubSub: api.PubSubAuth{JWKSURL: ps.JWKSURL, Audience: ps.Audience, Issuer: ps.Issuer,
			ServiceAccountEmail: ps.ServiceAccountEmail, SharedToken: ps.SharedToken.Reveal()},
		Now: s.now,
	})
	ok = true
	return s, nil
}

// Handler returns the HTTP API, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds the configured address; Addr then reports it.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Server.Listen, err)
	}
	s.listener = ln
	return nil
}

// Addr is the address the server listens on, once Listen has run.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully: it stops
// taking requests, lets detection finish what the bus holds and
// notifications deliver what is due (up to the shutdown timeout), and
// closes the bus and the store.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	if s.listener == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	// Before anything can change an alert: notify must see the stored
	// state first.
	if err := s.feedNotify(ctx); err != nil {
		return err
	}
	notifyCtx, stopNotify := context.WithCancel(context.Background())
	defer stopNotify()
	notifyDone := make(chan struct{})
	go func() {
		defer close(notifyDone)
		s.notify.Run(notifyCtx)
	}()
	detectCtx, stopDetect := context.WithCancel(context.Background())
	defer stopDetect()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.detector.Run(detectCtx); err != nil && detectCtx.Err() == nil {
			errc <- fmt.Errorf("detection stopped: %w", err)
		}
	}()
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	go s.housekeeping(bg)
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	s.log.Info("vigil serving", "addr", s.Addr(), "data", s.cfg.Server.Data, "rules", len(s.currentRules().Engine.Rules()))
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("requests still running at shutdown", "err", err)
	}
	s.drain(sctx)
	stopDetect()
	wg.Wait()
	s.drainNotify(sctx)
	stopNotify()
	<-notifyDone
	return runErr
}

// drain waits until detection has caught up with the bus or ctx ends.
func (s *Server) drain(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		lag, err := s.bus.Lag(ctx, "detect")
		if err != nil || lag == 0 {
			return
		}
		select {
		case <-ctx.Done():
			s.log.Warn("shutdown timeout: detection left events in the bus; they are processed at the next start", "pending", lag)
			return
		case <-t.C:
		}
	}
}

// housekeeping updates the lag gauge, applies retention and re-reads the
// silences notifications consult.
func (s *Server) housekeeping(ctx context.Context) {
	lagTick := time.NewTicker(2 * time.Second)
	retTick := time.NewTicker(time.Minute)
	silTick := time.NewTicker(silenceRefresh)
	defer lagTick.Stop()
	defer retTick.Stop()
	defer silTick.Stop()
	s.retention(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-lagTick.C:
			if lag, err := s.bus.Lag(ctx, "detect"); err == nil {
				s.metrics.lag.Set(float64(lag))
			}
		case <-retTick.C:
			s.retention(ctx)
		case <-silTick.C:
			if err := s.refreshSilences(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("silences not refreshed; notifications use the ones read before", "err", err)
			}
		}
	}
}

func (s *Server) retention(ctx context.Context) {
	if s.cfg.Store.Retention <= 0 {
		return
	}
	cutoff := s.now().Add(-s.cfg.Store.Retention)
	for ctx.Err() == nil {
		n, err := s.db.DeleteEventsBefore(ctx, cutoff, 5000)
		if err != nil {
			s.log.Warn("retention failed", "err", err)
			return
		}
		if n < 5000 {
			return
		}
	}
}

func (s *Server) close() {
	if s.geo != nil {
		s.geo.Close()
	}
	if s.bus != nil {
		if err := s.bus.Close(); err != nil {
			s.log.Warn("closing the bus", "err", err)
		}
	}
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			s.log.Warn("closing the store", "err", err)
		}
	}
}

// loadRules loads the built-in pack and the configured rule paths.
func (s *Server) loadRules() (*detect.Set, error) {
	var files []detect.File
	if s.cfg.Detect.Builtin {
		builtin, err := detect.ReadFS(rules.FS, ".")
		if err != nil {
			return nil, err
		}
		for i := range builtin {
			builtin[i].Name = "builtin:" + builtin[i].Name
		}
		files = builtin
	}
	extra, err := detect.ReadPaths(s.cfg.Detect.Rules)
	if err != nil {
		return nil, err
	}
	opts := detect.Options{Placeholders: s.cfg.Detect.Placeholders}
	if path := s.cfg.Detect.FieldMapping; path != "" {
		if opts.FieldMapping, err = detect.ReadFieldMapping(path); err != nil {
			return nil, err
		}
	}
	return detect.Load(append(files, extra...), opts), nil
}

// ReloadRules reloads the rules. If any rule fails to load, the running
// rules stay in place and the error lists every failure.
func (s *Server) ReloadRules() (*detect.Set, error) {
	s.rulesMu.Lock()
	defer s.rulesMu.Unlock()
	set, err := s.loadRules()
	if err != nil {
		return s.rules, err
	}
	if len(set.Failed) > 0 {
		return s.rules, fmt.Errorf("rules not reloaded; the running rules stay in place:\n%s", failures(set))
	}
	s.rules = set
	s.detector.SetRules(set)
	s.log.Info("rules reloaded", "active", len(set.Engine.Rules()), "inactive", len(set.Inactive))
	return set, nil
}

func (s *Server) currentRules() *detect.Set {
	s.rulesMu.Lock()
	defer s.rulesMu.Unlock()
	return s.rules
}

func failures(set *detect.Set) string {
	var b []byte
	for _, f := range set.Failed {
		b = append(b, f.Error()...)
		b = append(b, '\n')
	}
	return string(b)
}

// bootstrapAdmin creates an admin token when there is no live one — at the
// first start, or after every admin token was revoked — writes it 0600 to
// the data directory and prints it once.
func (s *Server) bootstrapAdmin(ctx context.Context, out io.Writer) error {
	n, err := s.db.CountLiveAdmins(ctx, s.now())
	if err != nil || n > 0 {
		return err
	}
	plain, err := authz.NewToken()
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.Server.Data, AdminTokenFile)
	if err := os.WriteFile(path, []byte(plain+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the admin token: %w", err)
	}
	tok := store.Token{ID: pipeline.NewID("tok"), Name: "admin", Role: "admin", CreatedBy: "vigil", CreatedAt: s.now()}
	if err := s.db.CreateToken(ctx, tok, authz.HashToken(plain)); err != nil {
		os.Remove(path)
		return err
	}
	fmt.Fprintf(out, "Created an admin token (there was no live one). It is shown only this once and kept in %s (mode 0600):\n\n  %s\n\n", path, plain)
	return nil
}
