package pipeline

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/event"
)

// Correlations evaluates the Sigma correlation rules of the running rule
// set as a Stateful of the Detector. It is safe for concurrent use.
type Correlations struct {
	opts CorrelationsOptions

	mu    sync.Mutex
	cs    *detect.CorrelationSet
	c     *detect.Correlator
	clock idleClock
	stale int64 // observations dropped because the rules changed under them
}

// CorrelationsOptions configure Correlations.
type CorrelationsOptions struct {
	// Lateness is how far behind the latest event time an event may
	// arrive and still be correlated; 0 means detect.DefaultLateness.
	Lateness time.Duration
	// Idle is how long input must be idle before Advance moves event time
	// on by the idle time, closing windows no event closes; 0 means one
	// minute.
	Idle   time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

var _ Stateful = (*Correlations)(nil)

// NewCorrelations returns an evaluator of the correlations of set with
// empty windows.
func NewCorrelations(set *detect.Set, opts CorrelationsOptions) *Correlations {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cs := correlationSet(set)
	c := &Correlations{opts: opts, cs: cs, clock: newIdleClock(opts.Idle, opts.Now())}
	c.c = detect.NewCorrelator(cs, c.correlatorOptions())
	return c
}

func (c *Correlations) correlatorOptions() detect.CorrelatorOptions {
	return detect.CorrelatorOptions{Lateness: c.opts.Lateness, Logger: c.opts.Logger}
}

func correlationSet(set *detect.Set) *detect.CorrelationSet {
	if set.CorrelationSet == nil {
		return &detect.CorrelationSet{}
	}
	return set.CorrelationSet
}

// Name implements Stateful.
func (c *Correlations) Name() string { return "correlations" }

// correlationObs are the observations of one event, made with cs.
type correlationObs struct {
	cs  *detect.CorrelationSet
	obs []*detect.Observation
}

type correlationObserver struct {
	cs  *detect.CorrelationSet
	ob  *detect.Observer
	cur []*detect.Observation
}

// NewObserver implements Stateful.
func (c *Correlations) NewObserver(set *detect.Set) Observer {
	if len(set.CorrelationSet.Correlations()) == 0 {
		return nil
	}
	return &correlationObserver{cs: set.CorrelationSet, ob: set.CorrelationSet.NewObserver()}
}

func (o *correlationObserver) Observe(r *detect.Rule, ev *event.Event, s *detect.Scratch) {
	if x := o.ob.Observe(r, ev, s); x != nil {
		o.cur = append(o.cur, x)
	}
}

func (o *correlationObserver) Take() any {
	if len(o.cur) == 0 {
		return nil
	}
	x := correlationObs{cs: o.cs, obs: o.cur}
	o.cur = nil
	return x
}

// Feed implements Stateful. Observations made with rules that were
// replaced since are dropped and counted (Stale).
func (c *Correlations) Feed(obs []any, emit func(*alert.Alert)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fed := false
	out := c.emitter(emit)
	for _, x := range obs {
		co, ok := x.(correlationObs)
		if !ok {
			continue
		}
		if co.cs != c.cs {
			c.stale += int64(len(co.obs))
			continue
		}
		for _, o := range co.obs {
			c.c.Add(o, out)
			c.clock.saw(o.Time())
			fed = true
		}
	}
	if fed {
		c.clock.fed(c.opts.Now())
	}
}

// Advance implements Stateful: after Idle without observations, it closes
// the windows that need no more events (see idleClock).
func (c *Correlations) Advance(now time.Time, emit func(*alert.Alert)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.clock.advance(now); ok {
		c.c.Advance(t, c.emitter(emit))
	}
}

// SetRules implements Stateful.
func (c *Correlations) SetRules(set *detect.Set) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := correlationSet(set)
	next, err := c.c.WithRules(cs)
	if err != nil {
		return err
	}
	c.cs, c.c = cs, next
	return nil
}

// Snapshot implements Stateful.
func (c *Correlations) Snapshot(w io.Writer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Snapshot(w)
}

// Restore implements Stateful.
func (c *Correlations) Restore(r io.Reader) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Restore(r)
}

// Stats returns the correlator's state and counters.
func (c *Correlations) Stats() detect.CorrelatorStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Stats()
}

// Stale returns how many observations were dropped because the rules were
// reloaded between their evaluation and their feeding.
func (c *Correlations) Stale() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stale
}

// Flush closes every window as at the end of the input, for tests that
// compare with an offline run.
func (c *Correlations) Flush(emit func(*alert.Alert)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.Flush(c.emitter(emit))
}

func (c *Correlations) emitter(emit func(*alert.Alert)) func(*detect.CorrelationMatch) {
	if emit == nil {
		return nil
	}
	now := c.opts.Now()
	return func(m *detect.CorrelationMatch) { emit(CorrelationAlert(m, now)) }
}

// CorrelationAlert builds the alert of a correlation match: the
// correlation's metadata, a fingerprint of the correlation and its group
// values (so matches of one group dedup within the dedup window), the base
// events, and the highlights that the group-by envelope fields give.
func CorrelationAlert(m *detect.CorrelationMatch, now time.Time) *alert.Alert {
	r := m.Correlation.Rule
	key := make([]keyValue, len(m.Group))
	for i, g := range m.Group {
		name, _ := strings.CutPrefix(g.Field, event.EnvelopePrefix)
		if name == g.Field {
			name = "" // a native field: no highlight
		}
		key[i] = keyValue{field: g.Field, envelope: name, value: g.Value}
	}
	a := stateAlert("correlation", alert.RuleRef{ID: ruleKey(r), Title: r.Title, Level: r.Level, Tags: r.Tags}, key, m.Events, m.Time, now)
	// The match's IDs share memory with other matches' (see
	// detect.CorrelationMatch.Events): the alert, which may wait to be
	// sent, keeps copies in the list stateAlert made its own.
	for i, id := range a.EventIDs {
		a.EventIDs[i] = strings.Clone(id)
	}
	return a
}

// fillHighlights sets the highlights a correlation alert's group values
// did not give from ev, its first base event.
func fillHighlights(a *alert.Alert, ev *event.Event) {
	for name, set := range highlightFields {
		if v, _ := ev.Envelope(name); v != "" && alertField(a, name) == "" {
			set(a, v)
		}
	}
}
