// Package bus is the durable event stream between HTTP ingest and detection.
//
// It is one NATS JetStream stream, VIGIL_EVENTS, holding the subjects
// "events.>". By default the NATS server runs inside the process
// (nats-server embedded, file storage under Options.Dir, no TCP listener, an
// in-process client connection). When Options.URL is set nothing is embedded
// and the same client code talks to a NATS cluster.
//
// # What an acknowledgement means
//
// Publish returns nil only after JetStream has acknowledged every message as
// stored. In embedded mode the stream has one replica and a synchronous
// ("flush in place") file store: the server writes each message to its block
// file with write(2) before it sends the acknowledgement. So:
//
//   - Process crash (kill -9, panic, OOM kill): nothing acknowledged is lost.
//     The data is in the kernel's page cache, which outlives the process, and
//     the file store recovers it on the next Open.
//   - Power loss or kernel crash: messages acknowledged within the last
//     SyncInterval (one second, see syncInterval) may be lost, because the
//     file store fsyncs on that timer rather than on every write.
//
// In cluster mode an acknowledgement means the message is stored on a quorum
// of replicas; fsync behaviour is the cluster's own sync_interval setting.
//
// In embedded mode Open takes an advisory lock on Dir, so a second process
// cannot run JetStream on the same files.
//
// # Delivery
//
// Consume gives at-least-once delivery to a durable pull consumer. A batch is
// acknowledged only after the handler returned nil, so a crash at any point
// leads to redelivery, never to loss. The server also records consumer
// acknowledgements asynchronously, so after a crash a few messages that were
// acknowledged just before it may be delivered again. Handlers must
// therefore be idempotent; Delivery.ID (the message ID given to Publish) is
// there to deduplicate.
//
// # Retention
//
// The stream keeps a message until every durable consumer has acknowledged
// it: a background task purges the stream below the lowest acknowledgement
// floor of all its consumers. With no consumer yet, nothing is purged. The
// stream is bounded by Options.MaxBytes with the discard-new policy, so when
// consumers fall behind Publish fails with ErrFull (backpressure) rather than
// dropping anything that was acknowledged.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the JetStream stream that holds events.
const StreamName = "VIGIL_EVENTS"

// SubjectPrefix starts the subject of every message on the bus.
const SubjectPrefix = "events."

// Defaults for Options.
const (
	DefaultMaxBytes        int64 = 2 << 30
	DefaultDuplicateWindow       = 10 * time.Minute
)

const (
	// syncInterval is how often the embedded file store fsyncs.
	//
	// Why not SyncAlways: the product's invariant is that an acknowledged
	// batch survives kill -9 of the process, and the flush-in-place file
	// store already gives that (the write(2) happens before the ack). What
	// fsync adds is survival of power loss. SyncAlways buys it with one fsync
	// per message, which costs orders of magnitude in ingest throughput on
	// real disks (see BenchmarkPublish/sync=always). A one-second timer bounds
	// the power-loss window to about a second of events for almost no cost;
	// nats-server's own default is two minutes.
	syncInterval = time.Second

	// storeHeadroom is added to MaxBytes to form the embedded server's
	// JetStream file storage limit, for other streams (KV, alerts) and
	// accounting slack.
	storeHeadroom int64 = 256 << 20

	// maxMemoryStore bounds memory-backed streams in the embedded server;
	// Vigil uses none on the hot path.
	maxMemoryStore int64 = 64 << 20

	startTimeout    = 10 * time.Second
	closeTimeout    = 30 * time.Second
	requestTimeout  = 10 * time.Second
	pubAckTimeout   = 30 * time.Second
	pubMaxPending   = 4096
	trimInterval    = 10 * time.Second
	clusterReplicas = 3
)

// Errors returned by Publish, Consume and Lag. Test with errors.Is.
var (
	// ErrFull means the stream reached Options.MaxBytes (or the server's
	// storage limit). Nothing stored was dropped; retry once consumers have
	// caught up, or raise MaxBytes.
	ErrFull = errors.New("bus: stream is full")
	// ErrUnavailable means the NATS server could not be reached, did not
	// answer in time, or the Bus is closed.
	ErrUnavailable = errors.New("bus: NATS unavailable")
)

// Options configures Open. The zero value of every field but Dir (or URL)
// means its default.
type Options struct {
	// Dir is the JetStream storage directory in embedded mode. It is created
	// with mode 0700 and locked against a second process.
	Dir string
	// URL is a NATS server URL (or comma-separated list) in cluster mode.
	// When set, no server is embedded and Dir is ignored. Credentials in the
	// URL are never logged.
	URL string
	// MaxBytes bounds the stream's size; default 2 GiB. When the stream is
	// full, Publish fails with ErrFull (discard-new policy); acknowledged data
	// is never dropped to make room.
	MaxBytes int64
	// DuplicateWindow is how long JetStream remembers message IDs to drop
	// re-published duplicates; default 10 minutes.
	DuplicateWindow time.Duration
	// Logger receives the bus's logs (component "bus") and the NATS
	// server's warnings and errors. Nil discards them.
	Logger *slog.Logger
}

// Bus is an open connection to the event stream. Its methods are safe for
// concurrent use.
type Bus struct {
	opts   Options
	log    *slog.Logger
	srv    *server.Server // nil in cluster mode
	unlock func()         // releases Dir's lock; nil in cluster mode
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream

	// ackWait is the consumer ack wait; a field so tests can shorten it.
	ackWait time.Duration

	ncClosed chan struct{} // closed by the connection's closed handler
	trimKick chan struct{}
	// full is set when a publish finds the stream full and cleared when a
	// trim leaves room again; Full reads it.
	full      atomic.Bool
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open starts the embedded NATS server when opts.URL is empty, connects to
// it (or to the cluster), and creates or updates the stream VIGIL_EVENTS:
// subjects "events.>", file storage, discard-new at MaxBytes, one replica
// when embedded. The caller must Close the Bus.
func Open(ctx context.Context, opts Options) (*Bus, error) {
	return open(ctx, opts, false)
}

// open is Open with the embedded server's SyncAlways switch exposed for the
// benchmark that justifies not using it.
func open(ctx context.Context, opts Options, syncAlways bool) (_ *Bus, err error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.DuplicateWindow <= 0 {
		opts.DuplicateWindow = DefaultDuplicateWindow
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Bus{
		opts:     opts,
		log:      logger.With("component", "bus"),
		ackWait:  defaultAckWait,
		ncClosed: make(chan struct{}),
		trimKick: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	defer func() {
		if err != nil {
			b.shutdown()
		}
	}()

	connOpts := []nats.Option{
		nats.Name("vigil"),
		nats.ClosedHandler(func(*nats.Conn) { close(b.ncClosed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { b.log.Info("reconnected to NATS") }),
	}
	var target string
	if opts.URL != "" {
		target = redactURL(opts.URL)
		connOpts = append(connOpts, nats.MaxReconnects(-1), nats.ReconnectWait(time.Second), nats.Timeout(5*time.Second))
		b.nc, err = nats.Connect(opts.URL, connOpts...)
	} else {
		if opts.Dir == "" {
			return nil, errors.New("bus: neither a storage directory nor a NATS URL is configured; set bus.dir or bus.url")
		}
		target = "embedded:" + opts.Dir
		if err := b.startEmbedded(syncAlways); err != nil {
			return nil, err
		}
		connOpts = append(connOpts, nats.InProcessServer(b.srv))
		b.nc, err = nats.Connect(nats.DefaultURL, connOpts...)
	}
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w: %w", target, ErrUnavailable, err)
	}

	b.js, err = jetstream.New(b.nc,
		jetstream.WithPublishAsyncMaxPending(pubMaxPending),
		jetstream.WithPublishAsyncTimeout(pubAckTimeout),
		jetstream.WithDefaultTimeout(requestTimeout))
	if err != nil {
		return nil, fmt.Errorf("bus: JetStream client: %w", err)
	}
	if err := b.ensureStream(ctx); err != nil {
		return nil, err
	}

	b.wg.Add(1)
	go b.trimLoop()
	b.log.Info("bus open", "target", target, "stream", StreamName, "max_bytes", opts.MaxBytes)
	return b, nil
}

// startEmbedded locks Dir and starts an in-process NATS server with
// JetStream on it.
func (b *Bus) startEmbedded(syncAlways bool) error {
	dir := b.opts.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bus: create storage directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	b.unlock = unlock

	sopts := &server.Options{
		ServerName:         "vigil",
		DontListen:         true, // in-process connections only
		NoSigs:             true, // signals belong to the application
		JetStream:          true,
		StoreDir:           dir,
		JetStreamMaxStore:  b.opts.MaxBytes + storeHeadroom,
		JetStreamMaxMemory: maxMemoryStore,
		SyncInterval:       syncInterval,
		SyncAlways:         syncAlways,
		MaxPayload:         embeddedMaxPayload,
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return fmt.Errorf("bus: configure embedded NATS server: %w", err)
	}
	nlog := &serverLog{log: b.log.With("nats", "server")}
	srv.SetLoggerV2(nlog, false, false, false)
	b.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(startTimeout) {
		return fmt.Errorf("bus: embedded NATS server in %s did not start within %s: %s", dir, startTimeout, nlog.lastError())
	}
	if !srv.JetStreamEnabled() {
		return fmt.Errorf("bus: embedded JetStream in %s did not start: %s", dir, nlog.lastError())
	}
	return nil
}

// ensureStream creates VIGIL_EVENTS or brings its configuration up to date.
func (b *Bus) ensureStream(ctx context.Context) error {
	cfg := jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Vigil normalized events from ingest, for detection",
		Subjects:    []string{SubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy, // trimmed by the bus, see trim
		Discard:     jetstream.DiscardNew,
		MaxBytes:    b.opts.MaxBytes,
		MaxMsgs:     -1,
		MaxAge:      0,
		Storage:     jetstream.FileStorage,
		Duplicates:  b.opts.DuplicateWindow,
		Replicas:    1,
	}
	if b.srv == nil {
		// In a cluster, keep the replica count an operator chose for an
		// existing stream; create a new one with three replicas, or one on a
		// server without clustering.
		cfg.Replicas = clusterReplicas
		if s, err := b.js.Stream(ctx, StreamName); err == nil {
			cfg.Replicas = s.CachedInfo().Config.Replicas
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return b.unavailable("look up stream "+StreamName, err)
		}
	}
	s, err := b.js.CreateOrUpdateStream(ctx, cfg)
	if err != nil && b.srv == nil && cfg.Replicas > 1 {
		b.log.Warn("cannot create a replicated stream; falling back to one replica", "replicas", cfg.Replicas, "err", err)
		cfg.Replicas = 1
		s, err = b.js.CreateOrUpdateStream(ctx, cfg)
	}
	if err != nil {
		return b.unavailable("create or update stream "+StreamName, err)
	}
	b.stream = s
	return nil
}

// Ready reports whether the Bus is connected and JetStream is running. It is
// cheap enough for a readiness probe.
// embeddedMaxPayload is the largest message the embedded server takes: an
// event with its native record, which Azure and Google can make large.
const embeddedMaxPayload = 8 << 20

// MaxPayload returns the largest message the server accepts.
func (b *Bus) MaxPayload() int64 { return b.nc.MaxPayload() }

// Full reports whether the last publish found the stream full and no trim
// has made room since. It is cheap, so ingest asks it before decoding a
// body that could not be stored anyway. While the stream is full each call
// asks for a trim, so room is noticed as soon as consumers catch up.
func (b *Bus) Full() bool {
	if !b.full.Load() {
		return false
	}
	b.kickTrim()
	return true
}

func (b *Bus) Ready() bool {
	select {
	case <-b.done:
		return false
	default:
	}
	if b.srv != nil && !b.srv.JetStreamEnabled() {
		return false
	}
	return b.nc.IsConnected()
}

// Close stops the retention task, drains the connection (pending publishes
// and acknowledgements are flushed), shuts down the embedded server and
// waits for it. Stop Publish and Consume callers first. Close is idempotent.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.closeErr = b.shutdown()
		b.log.Info("bus closed")
	})
	return b.closeErr
}

// shutdown releases whatever open got as far as creating.
func (b *Bus) shutdown() error {
	select {
	case <-b.done:
	default:
		close(b.done)
	}
	b.wg.Wait()
	var errs []error
	if b.nc != nil {
		if err := b.nc.Drain(); err != nil {
			b.nc.Close()
		}
		select {
		case <-b.ncClosed:
		case <-time.After(closeTimeout):
			b.nc.Close()
			errs = append(errs, fmt.Errorf("bus: connection did not drain within %s", closeTimeout))
		}
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	if b.unlock != nil {
		b.unlock()
	}
	return errors.Join(errs...)
}

// unavailable wraps err from a JetStream call, marking connection problems
// with ErrUnavailable.
func (b *Bus) unavailable(what string, err error) error {
	if isUnavailable(err) || !b.nc.IsConnected() {
		return fmt.Errorf("bus: %s: %w: %w", what, ErrUnavailable, err)
	}
	return fmt.Errorf("bus: %s: %w", what, err)
}

// isUnavailable reports whether err means the server could not be reached or
// did not answer.
func isUnavailable(err error) bool {
	for _, target := range []error{
		nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting,
		nats.ErrDisconnected, nats.ErrNoServers, nats.ErrTimeout, nats.ErrNoResponders,
		jetstream.ErrNoStreamResponse, jetstream.ErrAsyncPublishTimeout,
		jetstream.ErrJetStreamNotEnabled, jetstream.ErrJetStreamNotEnabledForAccount,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// redactURL removes user information from each URL of a comma-separated list,
// so credentials never reach a log or an error.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil {
			if at := strings.LastIndex(p, "@"); at >= 0 {
				p = "<redacted>" + p[at:]
			}
			parts[i] = p
			continue
		}
		if u.User != nil {
			u.User = url.User("redacted")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
