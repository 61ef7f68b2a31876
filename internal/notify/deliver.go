package notify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxErrorLength bounds the error text kept with a notification.
const MaxErrorLength = 1024

// deliverLoop claims due notifications and sends them, at most
// Delivery.Concurrency at once per receiver, until ctx is done.
func (s *Service) deliverLoop(ctx context.Context) {
	defer s.sending.Wait()
	nextPrune := s.clock.Now()
	for {
		now := s.clock.Now()
		if !now.Before(nextPrune) {
			s.prune(ctx, now)
			nextPrune = now.Add(pruneEvery)
		}
		next := s.claim(ctx, now)
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = s.clock.At(next)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.deliverWake:
		case <-timer:
		case <-s.clock.At(nextPrune):
		}
	}
}

// claim starts sending what is due for each receiver with a free slot and
// returns when to look again (zero: when woken).
func (s *Service) claim(ctx context.Context, now time.Time) time.Time {
	s.mu.Lock()
	receivers := maps.Clone(s.receivers)
	conc := s.opts.Delivery.Concurrency
	free := map[string]int{}
	for name := range receivers {
		free[name] = conc - s.inflight[name]
	}
	s.mu.Unlock()
	var next time.Time
	for _, name := range slices.Sorted(maps.Keys(receivers)) {
		if free[name] <= 0 {
			continue // a finished send wakes the loop
		}
		entries, due, err := s.outbox.Claim(ctx, name, now, Lease, free[name])
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("cannot claim notifications from the outbox; trying again", "receiver", name, "err", err)
				next = earliest(next, now.Add(enqueueRetry))
			}
			continue
		}
		s.mu.Lock()
		s.inflight[name] += len(entries)
		s.mu.Unlock()
		for _, e := range entries {
			s.sending.Add(1)
			go s.deliver(ctx, e, receivers[name])
		}
		if len(entries) < free[name] && !due.IsZero() {
			next = earliest(next, due)
		}
	}
	return next
}

// deliver sends one claimed notification and records the outcome.
func (s *Service) deliver(ctx context.Context, e *Entry, rcv Receiver) {
	defer func() {
		s.mu.Lock()
		s.inflight[e.Receiver]--
		s.mu.Unlock()
		s.sending.Done()
		signal(s.deliverWake)
	}()
	s.mu.Lock()
	del := s.opts.Delivery
	s.mu.Unlock()
	log := s.log.With("receiver", e.Receiver, "id", e.ID, "group", e.GroupKey, "attempt", e.Attempts)
	// The outcome is recorded even while shutting down.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	record := func(what string, err error) {
		if err != nil {
			log.Error("cannot record a delivery outcome in the outbox; the notification will be claimed again after its lease", "outcome", what, "err", err)
		}
	}
	prior, err := s.outbox.Ref(ctx, e.GroupKey, e.Receiver)
	if err != nil {
		record("retry", s.outbox.MarkRetry(mctx, e, s.clock.Now().Add(enqueueRetry), "reading the group's previous message: "+errorText(err), s.clock.Now()))
		return
	}
	n := *e.Notification
	n.Prior = prior
	sctx, cancelSend := context.WithTimeout(ctx, SendTimeout)
	ref, err := rcv.Send(sctx, &n)
	cancelSend()
	now := s.clock.Now()
	switch {
	case err == nil:
		if n.Status == Resolved {
			ref = "" // the group's story is over; a new one starts afresh
		}
		record("sent", s.outbox.MarkSent(mctx, e, ref, now))
		log.Debug("notification sent", "status", n.Status)
		return
	case ctx.Err() != nil:
		record("retry", s.outbox.MarkRetry(mctx, e, now, "interrupted by shutdown: "+errorText(err), now))
		return
	}
	msg := errorText(err)
	if IsPermanent(err) {
		record("failed", s.outbox.MarkDead(mctx, e, msg, now))
		log.Warn("notification failed permanently; re-drive it once the receiver is fixed", "err", msg)
		return
	}
	delay := s.backoff(del, e.Attempts)
	if ra := RetryAfter(err); ra > delay {
		delay = ra
	}
	if deadline := e.Since.Add(del.MaxAge); now.Add(delay).After(deadline) {
		msg = fmt.Sprintf("gave up after %d attempts in %s (delivery.max_age %s): %s", e.Attempts, now.Sub(e.Since).Round(time.Second), del.MaxAge, msg)
		record("failed", s.outbox.MarkDead(mctx, e, truncate(msg), now))
		log.Warn("notification dead-lettered", "err", msg)
		return
	}
	record("retry", s.outbox.MarkRetry(mctx, e, now.Add(delay), msg, now))
	log.Info("notification not delivered; retrying", "in", delay, "err", msg)
}

// backoff returns the wait before the next attempt after the n-th: a
// random time up to min(BackoffMax, BackoffBase·2^(n-1)) (full jitter).
func (s *Service) backoff(d Delivery, n int) time.Duration {
	ceil := d.BackoffBase
	for i := 1; i < n && ceil < d.BackoffMax; i++ {
		ceil *= 2
	}
	ceil = min(ceil, d.BackoffMax)
	if ceil <= 0 {
		return 0
	}
	return time.Duration(s.rand(int64(ceil) + 1))
}

// prune deletes sent and failed notifications older than the retention.
func (s *Service) prune(ctx context.Context, now time.Time) {
	s.mu.Lock()
	keep := s.opts.Delivery.Retention
	s.mu.Unlock()
	if keep <= 0 {
		return
	}
	n, err := s.outbox.Prune(ctx, now.Add(-keep))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("cannot prune old notifications", "err", err)
	case n > 0:
		s.log.Debug("old notifications pruned", "count", n)
	}
}

var urlPattern = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// errorText returns err's message fit for the outbox and logs: URLs cut
// to their scheme and host (their paths, queries and user information can
// hold tokens), at most MaxErrorLength bytes, on one line.
func errorText(err error) string {
	var ue *url.Error
	msg := err.Error()
	if errors.As(err, &ue) {
		msg = strings.ReplaceAll(msg, ue.URL, shortURL(ue.URL))
	}
	msg = urlPattern.ReplaceAllStringFunc(msg, shortURL)
	msg = strings.Join(strings.Fields(msg), " ")
	return truncate(msg)
}

// shortURL keeps a URL's scheme and host.
func shortURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<url>"
	}
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		s += "/…"
	}
	return s
}

// truncate cuts s to MaxErrorLength bytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= MaxErrorLength {
		return s
	}
	i := MaxErrorLength - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
