package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
)

// Timing of delivery.
const (
	// SendTimeout bounds one attempt to send, whatever the receiver's own
	// timeout.
	SendTimeout = time.Minute
	// Lease is how long a claimed notification belongs to its worker. A
	// claim not settled by then (the process died) is claimed again.
	Lease = 2 * time.Minute
	// enqueueRetry is how soon a group tries again when the outbox
	// refused its notification.
	enqueueRetry = 5 * time.Second
	// pruneEvery is how often old sent and failed notifications are
	// deleted.
	pruneEvery = time.Hour
)

// Service routes alerts to receivers: it groups them per route, decides
// when each group notifies, writes every notification to the outbox and
// delivers it with retries. Feed it alert changes with Handle and run it
// with Run.
type Service struct {
	log    *slog.Logger
	clock  Clock
	outbox Outbox

	mu        sync.Mutex
	d         *dispatcher
	receivers map[string]Receiver
	opts      Options
	wakeAt    time.Time      // when the dispatch loop looks next; zero when it has no timer
	inflight  map[string]int // sends in progress per receiver
	rand      func(n int64) int64

	lastDropWarn time.Time

	wake        chan struct{} // a group became due earlier
	deliverWake chan struct{} // something to deliver, or a send slot freed
	sending     sync.WaitGroup
}

// New returns a service for the validated options. receivers maps every
// receiver name the routes use to its Receiver. silences says which
// alerts are silenced (nil: none); clock is nil for the system clock; log
// is nil for none.
func New(opts Options, receivers map[string]Receiver, outbox Outbox, silences Silencer, clock Clock, log *slog.Logger) (*Service, error) {
	if outbox == nil {
		return nil, errors.New("notify: no outbox")
	}
	if clock == nil {
		clock = systemClock{}
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Service{
		log: log.With("component", "notify"), clock: clock, outbox: outbox,
		inflight: map[string]int{}, rand: rand.Int64N,
		wake: make(chan struct{}, 1), deliverWake: make(chan struct{}, 1),
	}
	d, opts, err := s.build(opts, receivers, silences)
	if err != nil {
		return nil, err
	}
	s.d, s.opts, s.receivers = d, opts, maps.Clone(receivers)
	return s, nil
}

// build checks opts against receivers and returns a dispatcher for them.
func (s *Service) build(opts Options, receivers map[string]Receiver, silences Silencer) (*dispatcher, Options, error) {
	root, _, err := compile(&opts.Route, opts.TimeIntervals, func(n string) bool { return receivers[n] != nil }, true)
	if err != nil {
		return nil, opts, fmt.Errorf("notify: invalid configuration: %w", err)
	}
	opts.Delivery = withDefaults(opts.Delivery)
	if err := opts.Delivery.Validate(); err != nil {
		return nil, opts, fmt.Errorf("notify: invalid delivery settings: %w", err)
	}
	d := newDispatcher(root, opts.Limits, silences, opts.ExternalURL, func() string { return newID(s.clock.Now()) })
	return d, opts, nil
}

// withDefaults fills zero delivery settings with the defaults.
func withDefaults(d Delivery) Delivery {
	def := DefaultDelivery()
	if d.MaxAge == 0 {
		d.MaxAge = def.MaxAge
	}
	if d.BackoffBase == 0 {
		d.BackoffBase = def.BackoffBase
	}
	if d.BackoffMax == 0 {
		d.BackoffMax = max(def.BackoffMax, d.BackoffBase)
	}
	if d.Concurrency == 0 {
		d.Concurrency = def.Concurrency
	}
	return d
}

// Handle takes a new or changed alert: new, counted again, acknowledged or
// resolved. It never blocks on I/O. At start, feed it every open and
// acknowledged alert, and those resolved recently: groups already notified
// before the restart are not notified again, and a resolution that had
// not gone out yet still does.
func (s *Service) Handle(a alert.Alert) {
	now := s.clock.Now()
	s.mu.Lock()
	dropped := s.d.dropped
	due := s.d.handle(&a, now)
	wake := !due.IsZero() && (s.wakeAt.IsZero() || due.Before(s.wakeAt))
	warn := s.d.dropped > dropped && now.Sub(s.lastDropWarn) >= time.Minute
	if warn {
		s.lastDropWarn = now
	}
	total, limits := s.d.dropped, s.d.limits
	s.mu.Unlock()
	if wake {
		signal(s.wake)
	}
	if warn {
		s.log.Warn("an alert was not grouped for notification: the group limits are reached", "alert", a.ID, "rule", a.Rule.ID,
			"dropped_total", total, "max_groups", limits.MaxGroups, "max_alerts", limits.MaxAlerts)
	}
}

// Reload swaps in new options and receivers after checking them; on an
// error nothing changes. The alerts held are routed again through the new
// tree; groups that keep their key do not notify again what they already
// did.
func (s *Service) Reload(opts Options, receivers map[string]Receiver) error {
	s.mu.Lock()
	silences := s.d.silencer
	s.mu.Unlock()
	d, opts, err := s.build(opts, receivers, silences)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	s.mu.Lock()
	old := s.d
	d.dropped = old.dropped
	for _, a := range old.alerts() {
		d.handle(&a, now)
	}
	s.d, s.opts, s.receivers = d, opts, maps.Clone(receivers)
	s.mu.Unlock()
	s.log.Info("notification settings reloaded", "receivers", len(receivers))
	signal(s.wake)
	signal(s.deliverWake)
	return nil
}

// Stats are counts for metrics.
type Stats struct {
	Groups  int    // groups held
	Alerts  int    // alerts held in them
	Dropped uint64 // alerts not grouped because a limit was reached
}

// Stats returns the current counts.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Groups: len(s.d.groups), Alerts: s.d.nAlerts, Dropped: s.d.dropped}
}

// Run groups, enqueues and delivers notifications until ctx is done, then
// waits for the sends in progress to be recorded.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.deliverLoop(ctx) })
	s.dispatchLoop(ctx)
	wg.Wait()
	return nil
}

// dispatchLoop flushes due groups into the outbox.
func (s *Service) dispatchLoop(ctx context.Context) {
	for {
		s.flush(ctx)
		s.mu.Lock()
		next := s.d.next()
		s.wakeAt = next
		s.mu.Unlock()
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = s.clock.At(next)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer:
		}
	}
}

// flush enqueues the notifications of the groups due now.
func (s *Service) flush(ctx context.Context) {
	now := s.clock.Now()
	s.mu.Lock()
	d := s.d
	toLoad := d.needLoad(now)
	s.mu.Unlock()
	for _, g := range toLoad {
		last, err := s.outbox.Last(ctx, g.key, g.route.receiver)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("cannot read a group's last notification; the group may notify again what it did before", "group", g.key, "err", err)
			last = nil
		}
		s.mu.Lock()
		d.load(g, last)
		s.mu.Unlock()
	}
	s.mu.Lock()
	plans := d.flush(now)
	s.mu.Unlock()
	if len(plans) == 0 {
		return
	}
	ns := make([]*Notification, len(plans))
	for i, p := range plans {
		ns[i] = p.n
	}
	err := s.outbox.Enqueue(ctx, now, ns...)
	s.mu.Lock()
	for _, p := range plans {
		if err == nil {
			d.commit(p, now)
		} else {
			d.abort(p, now.Add(enqueueRetry))
		}
	}
	s.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("cannot write notifications to the outbox; trying again", "count", len(ns), "retry_in", enqueueRetry, "err", err)
		}
		return
	}
	for _, n := range ns {
		s.log.Debug("notification queued", "id", n.ID, "receiver", n.Receiver, "group", n.GroupKey, "status", n.Status, "alerts", len(n.Alerts))
	}
	signal(s.deliverWake)
}

// Test sends a test notification to the named receiver at once, without
// the outbox, and returns the receiver's error (with no secret in it).
func (s *Service) Test(ctx context.Context, receiver string) error {
	s.mu.Lock()
	rcv := s.receivers[receiver]
	names := slices.Sorted(maps.Keys(s.receivers))
	url := s.opts.ExternalURL
	s.mu.Unlock()
	if rcv == nil {
		return fmt.Errorf("no receiver named %q: the configured receivers are %s", receiver, strings.Join(names, ", "))
	}
	now := s.clock.Now()
	id := newID(now)
	a := alert.Alert{
		ID: "test", Fingerprint: "test", Severity: "informational", Status: alert.Open, Count: 1,
		Rule:      alert.RuleRef{ID: "vigil-test", Title: "Test notification from Vigil", Level: "informational", Tags: []string{}},
		FirstSeen: now, LastSeen: now, UpdatedAt: now, EventIDs: []string{},
	}
	n := &Notification{
		ID: id, Receiver: receiver, GroupKey: "test-" + id, GroupLabels: map[string]string{"rule": "vigil-test"},
		Status: Firing, Severity: "informational", Alerts: []alert.Alert{a}, URL: url, Test: true, Time: now,
	}
	sctx, cancel := context.WithTimeout(ctx, SendTimeout)
	defer cancel()
	if _, err := rcv.Send(sctx, n); err != nil {
		return &SendError{msg: fmt.Sprintf("test notification to receiver %q failed: %s", receiver, errorText(err)), err: err}
	}
	return nil
}

// SendError is a failed send whose message is safe to show: it has no
// URL path, query or credentials, and is at most MaxErrorLength long.
type SendError struct {
	msg string
	err error
}

func (e *SendError) Error() string { return e.msg }

// Unwrap returns the receiver's error, for IsPermanent and errors.As.
// Print e, not what Unwrap returns.
func (e *SendError) Unwrap() error { return e.err }

// Get returns one notification from the outbox.
func (s *Service) Get(ctx context.Context, id string) (*Entry, error) { return s.outbox.Get(ctx, id) }

// List lists notifications in the outbox, newest first.
func (s *Service) List(ctx context.Context, f ListFilter) ([]*Entry, string, error) {
	return s.outbox.List(ctx, f)
}

// Retry re-drives a failed notification: it becomes pending, due now.
func (s *Service) Retry(ctx context.Context, id string) (*Entry, error) {
	e, err := s.outbox.Retry(ctx, id, s.clock.Now())
	if err != nil {
		return nil, err
	}
	s.log.Info("failed notification re-driven", "id", id, "receiver", e.Receiver)
	signal(s.deliverWake)
	return e, nil
}

// signal wakes a loop without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
