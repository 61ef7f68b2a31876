package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/netguard"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/receiver"
	"github.com/vigil-sec/vigil/internal/store"
)

// What the start-up feed hands the notification service.
const (
	// feedMaxOpen bounds the open and acknowledged alerts fed, most
	// recently seen first; the service holds no more than this anyway.
	feedMaxOpen = 20_000
	// resolvedLookback is how recently an alert must have been resolved
	// to be fed, so that a resolution that had not gone out before a
	// stop still does.
	resolvedLookback = 24 * time.Hour
	// feedMaxResolvedScan bounds the resolved alerts looked at, most
	// recently seen first.
	feedMaxResolvedScan = 20_000
)

// silenceRefresh is how often the silences notify consults are re-read
// from the store, besides every change made through the API.
const silenceRefresh = 30 * time.Second

// openNotify builds the notification service from the configuration.
func (s *Server) openNotify(ctx context.Context, n *config.Notify) error {
	s.silences = &silenceCache{}
	if err := s.refreshSilences(ctx); err != nil {
		return err
	}
	receivers, err := buildReceivers(n, s.log)
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	s.outbox = &meteredOutbox{Outbox: s.db.Outbox(), m: s.metrics}
	if err := s.outbox.countPending(ctx); err != nil {
		return err
	}
	s.setReceivers(receivers)
	if s.notify, err = notify.New(n.Options(), receivers, s.outbox, s.silences, nil, s.log); err != nil {
		return err
	}
	s.metrics.watchNotify(s.notify)
	return nil
}

// buildReceivers builds the configured receivers. Those that speak HTTP
// share one client that refuses internal addresses, except the prefixes
// notify.allow_private_targets names.
func buildReceivers(n *config.Notify, log *slog.Logger) (map[string]notify.Receiver, error) {
	client := netguard.NewClient(netguard.Options{Policy: netguard.Policy{Allow: n.PrivateTargets()}})
	out := make(map[string]notify.Receiver, len(n.Receivers))
	for _, rc := range n.Receivers {
		r, err := receiver.Build(rc, client, log)
		if err != nil {
			return nil, err
		}
		out[rc.Name] = r
	}
	return out, nil
}

// ReloadNotify applies the notify section of cfg, which the caller has
// loaded and validated: the receivers are built anew (secret files are
// read again) and the routing tree, time intervals and delivery settings
// replace the running ones. On an error the running settings stay in
// place. The other sections of cfg take effect at the next start.
func (s *Server) ReloadNotify(cfg *config.Config) error {
	receivers, err := buildReceivers(&cfg.Notify, s.log)
	if err == nil {
		err = s.notify.Reload(cfg.Notify.Options(), receivers)
	}
	if err != nil {
		return fmt.Errorf("notification settings not reloaded; the running ones stay in place: %w", err)
	}
	s.setReceivers(receivers)
	return nil
}

// setReceivers records the configured receivers' names and starts their
// series in /metrics at zero.
func (s *Server) setReceivers(receivers map[string]notify.Receiver) {
	names := map[string]bool{}
	for name := range receivers {
		names[name] = true
	}
	s.receiverNames.Store(&names)
	s.metrics.addReceivers(slices.Sorted(maps.Keys(names)))
}

// handleAlerts passes alert changes to the notification service.
func (s *Server) handleAlerts(alerts []*alert.Alert) {
	for _, a := range alerts {
		s.notify.Handle(*a)
	}
}

// feedNotify hands the notification service every open and acknowledged
// alert and those resolved recently, as it needs at start: groups notified
// before are not notified again, and what changed while Vigil was down is.
func (s *Server) feedNotify(ctx context.Context) error {
	now := s.now()
	fed, resolved, scanned := 0, 0, 0
	f := store.AlertFilter{Status: []alert.Status{alert.Open, alert.Acknowledged}, Limit: store.MaxLimit}
	for fed < feedMaxOpen {
		list, next, err := s.db.ListAlerts(ctx, f)
		if err != nil {
			return fmt.Errorf("reading the open alerts for notifications: %w", err)
		}
		for _, a := range list[:min(len(list), feedMaxOpen-fed)] {
			s.notify.Handle(*a)
			fed++
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if fed == feedMaxOpen {
		s.log.Warn("more open and acknowledged alerts than notifications hold; the older ones are not grouped", "fed", fed)
	}
	f = store.AlertFilter{Status: []alert.Status{alert.Resolved}, Limit: store.MaxLimit}
	for scanned < feedMaxResolvedScan {
		list, next, err := s.db.ListAlerts(ctx, f)
		if err != nil {
			return fmt.Errorf("reading the resolved alerts for notifications: %w", err)
		}
		for _, a := range list {
			if now.Sub(a.UpdatedAt) <= resolvedLookback {
				s.notify.Handle(*a)
				resolved++
			}
		}
		scanned += len(list)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	s.log.Debug("alerts fed to notifications", "open_or_acknowledged", fed, "recently_resolved", resolved)
	return nil
}

// drainNotify waits, until ctx ends, for the notifications due now to be
// delivered or to fail their attempt, so that shutting down does not cut
// a message off on its way. Those it leaves are sent after the next start.
func (s *Server) drainNotify(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	// Two quiet looks in a row: alerts handed over just before may not be
	// in the outbox yet at the first.
	for quiet := 0; quiet < 2; {
		due, err := s.notificationsDue(ctx)
		switch {
		case err != nil:
			return
		case due == 0:
			quiet++
		default:
			quiet = 0
		}
		select {
		case <-ctx.Done():
			if due > 0 {
				s.log.Warn("shutdown timeout: notifications are still being delivered; they are sent after the next start", "due", due)
			}
			return
		case <-t.C:
		}
	}
}

// notificationsDue counts the notifications that delivery would send now:
// the oldest pending one of each group of a configured receiver, if its
// next attempt has come.
func (s *Server) notificationsDue(ctx context.Context) (int, error) {
	now := s.now()
	receivers := *s.receiverNames.Load()
	oldest := map[[2]string]*notify.Entry{}
	f := notify.ListFilter{Status: notify.Pending, Limit: store.MaxLimit}
	for {
		list, next, err := s.outbox.List(ctx, f)
		if err != nil {
			return 0, err
		}
		for _, e := range list { // newest first: the last seen is the oldest
			if receivers[e.Receiver] {
				oldest[[2]string{e.GroupKey, e.Receiver}] = e
			}
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	due := 0
	for _, e := range oldest {
		if e.NextAttempt == nil || !e.NextAttempt.After(now) {
			due++
		}
	}
	return due, nil
}

// refreshSilences re-reads the silences that have not ended.
func (s *Server) refreshSilences(ctx context.Context) error {
	list, err := s.db.ListSilences(ctx, false, s.now())
	if err != nil {
		return fmt.Errorf("reading the silences for notifications: %w", err)
	}
	s.silences.set(list)
	return nil
}

// silenceCache answers the notification service's Silencer from memory:
// it is asked under the service's lock, for every alert of every group
// about to notify.
type silenceCache struct {
	list atomic.Pointer[[]*alert.Silence]
}

var _ notify.Silencer = (*silenceCache)(nil)

func (c *silenceCache) set(list []*alert.Silence) { c.list.Store(&list) }

// Silenced reports whether a silence active at now matches a.
func (c *silenceCache) Silenced(a *alert.Alert, now time.Time) bool {
	p := c.list.Load()
	if p == nil {
		return false
	}
	var labels map[string]string
	for _, s := range *p {
		if !s.Active(now) {
			continue
		}
		if labels == nil {
			labels = a.Labels()
		}
		if s.Matches(labels) {
			return true
		}
	}
	return false
}

// meteredOutbox counts what happens in the outbox for /metrics.
type meteredOutbox struct {
	notify.Outbox
	m *metrics
}

// countPending sets the pending gauge from the outbox.
func (o *meteredOutbox) countPending(ctx context.Context) error {
	counts := map[string]int{}
	f := notify.ListFilter{Status: notify.Pending, Limit: store.MaxLimit}
	for {
		list, next, err := o.List(ctx, f)
		if err != nil {
			return fmt.Errorf("counting the pending notifications: %w", err)
		}
		for _, e := range list {
			counts[e.Receiver]++
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	for name, n := range counts {
		o.m.notifyPending.WithLabelValues(name).Set(float64(n))
	}
	return nil
}

func (o *meteredOutbox) Enqueue(ctx context.Context, now time.Time, ns ...*notify.Notification) error {
	err := o.Outbox.Enqueue(ctx, now, ns...)
	if err == nil {
		for _, n := range ns {
			o.m.notifyPending.WithLabelValues(n.Receiver).Inc()
		}
	}
	return err
}

func (o *meteredOutbox) MarkSent(ctx context.Context, e *notify.Entry, ref string, now time.Time) error {
	err := o.Outbox.MarkSent(ctx, e, ref, now)
	if err == nil {
		o.m.notifyPending.WithLabelValues(e.Receiver).Dec()
		o.m.notifySent.WithLabelValues(e.Receiver).Inc()
		o.m.notifyLatency.Observe(now.Sub(e.CreatedAt).Seconds())
	}
	return err
}

func (o *meteredOutbox) MarkRetry(ctx context.Context, e *notify.Entry, next time.Time, lastErr string, now time.Time) error {
	err := o.Outbox.MarkRetry(ctx, e, next, lastErr, now)
	if err == nil {
		o.m.notifyRetries.WithLabelValues(e.Receiver).Inc()
	}
	return err
}

func (o *meteredOutbox) MarkDead(ctx context.Context, e *notify.Entry, lastErr string, now time.Time) error {
	err := o.Outbox.MarkDead(ctx, e, lastErr, now)
	if err == nil {
		o.m.notifyPending.WithLabelValues(e.Receiver).Dec()
		o.m.notifyFailed.WithLabelValues(e.Receiver).Inc()
	}
	return err
}

func (o *meteredOutbox) Retry(ctx context.Context, id string, now time.Time) (*notify.Entry, error) {
	e, err := o.Outbox.Retry(ctx, id, now)
	if err == nil {
		o.m.notifyPending.WithLabelValues(e.Receiver).Inc()
	}
	return e, err
}

// testError is a test message the receiver did not accept; its text is
// the service's, which holds no secret.
type testError struct{ err *notify.SendError }

func (e testError) Error() string        { return e.err.Error() }
func (e testError) Unwrap() error        { return e.err }
func (e testError) Is(target error) bool { return target == api.ErrReceiverFailed }

// unknownReceiver is a test of a receiver that is not configured; its
// text names the configured ones.
type unknownReceiver struct{ err error }

func (e unknownReceiver) Error() string        { return e.err.Error() }
func (e unknownReceiver) Is(target error) bool { return target == api.ErrUnknownReceiver }

// testReceiver sends a test message and maps its outcome for the API.
func (s *Server) testReceiver(ctx context.Context, name string) error {
	err := s.notify.Test(ctx, name)
	var se *notify.SendError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		s.log.Warn("test notification failed", "receiver", name, "err", se.Error())
		return testError{se}
	case ctx.Err() != nil:
		return err
	}
	return unknownReceiver{err}
}
