package pipeline

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/event"
)

// Baselines evaluates baseline rules (rate spikes and first-seen
// behaviour) as a Stateful of the Detector. Baselines look at every event,
// not at rule matches, so their observer is an EventObserver. It is safe
// for concurrent use.
type Baselines struct {
	opts BaselinesOptions

	mu    sync.Mutex
	ev    *baseline.Evaluator
	clock idleClock
}

// BaselinesOptions configure Baselines.
type BaselinesOptions struct {
	// Lateness is how far behind the newest event time of a rule's sources
	// an event may arrive and still count; 0 means
	// baseline.DefaultLateness.
	Lateness time.Duration
	// Idle is how long input must be idle before Advance moves event time
	// on by the idle time, closing buckets no event closes; 0 means one
	// minute.
	Idle time.Duration
	// Geo resolves the derived fields asn and country.
	Geo    baseline.Geo
	Logger *slog.Logger
	Now    func() time.Time
}

var _ Stateful = (*Baselines)(nil)

// NewBaselines returns an evaluator of rules with empty state.
func NewBaselines(rules []*baseline.Rule, opts BaselinesOptions) (*Baselines, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ev, err := baseline.New(rules, baseline.Options{Lateness: opts.Lateness, Geo: opts.Geo, Logger: opts.Logger, Clock: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("baseline rules: %w", err)
	}
	return &Baselines{opts: opts, ev: ev, clock: newIdleClock(opts.Idle, opts.Now())}, nil
}

// Name implements Stateful.
func (b *Baselines) Name() string { return "baselines" }

// baselineObserver keeps the event just evaluated, not a copy: Feed runs
// once the batch's evaluation is over, and nothing writes to an event or
// to the bus message its strings share memory with after it is parsed.
// The evaluator copies what it keeps of an event past Feed (the key
// values and event IDs of open buckets, its caches' keys;
// TestBaselinesKeepNoEventMemory checks this), and the correlation
// observations copy what they keep as well.
type baselineObserver struct{ cur *event.Event }

var _ EventObserver = (*baselineObserver)(nil)

// NewObserver implements Stateful.
func (b *Baselines) NewObserver(*detect.Set) Observer {
	if len(b.ev.Rules()) == 0 {
		return nil
	}
	return &baselineObserver{}
}

func (o *baselineObserver) Observe(*detect.Rule, *event.Event, *detect.Scratch) {}

func (o *baselineObserver) ObserveEvent(ev *event.Event) { o.cur = ev }

func (o *baselineObserver) Take() any {
	if o.cur == nil {
		return nil
	}
	ev := o.cur
	o.cur = nil
	return ev
}

// Feed implements Stateful.
func (b *Baselines) Feed(obs []any, emit func(*alert.Alert)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.emitter(emit)
	fed := false
	for _, x := range obs {
		ev, ok := x.(*event.Event)
		if !ok {
			continue
		}
		b.ev.Observe(ev, out)
		b.clock.saw(ev.Time)
		fed = true
	}
	if fed {
		b.clock.fed(b.opts.Now())
	}
}

// Advance implements Stateful: after Idle without events, it closes the
// buckets that wait for later event time (see idleClock).
func (b *Baselines) Advance(now time.Time, emit func(*alert.Alert)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.clock.advance(now); ok {
		b.ev.Advance(t, b.emitter(emit))
	}
}

// SetRules implements Stateful. Baseline rules are not part of the Sigma
// rule set: a reload of the Sigma rules leaves them as they are.
func (b *Baselines) SetRules(*detect.Set) error { return nil }

// Snapshot implements Stateful.
func (b *Baselines) Snapshot(w io.Writer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ev.Snapshot(w)
}

// Restore implements Stateful.
func (b *Baselines) Restore(r io.Reader) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ev.Restore(r)
}

// Stats returns the evaluator's state and counters.
func (b *Baselines) Stats() baseline.Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ev.Stats()
}

// Rules returns the baseline rules evaluated.
func (b *Baselines) Rules() []*baseline.Rule {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ev.Rules()
}

// Flush closes every open bucket as at the end of the input, for tests
// that compare with an offline run.
func (b *Baselines) Flush(emit func(*alert.Alert)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ev.Flush(b.emitter(emit))
}

func (b *Baselines) emitter(emit func(*alert.Alert)) func(baseline.Match) {
	if emit == nil {
		return nil
	}
	now := b.opts.Now()
	return func(m baseline.Match) { emit(BaselineAlert(m, now)) }
}

// BaselineRuleID identifies a baseline rule in alerts: its id, or its file
// and title when it has none.
func BaselineRuleID(r *baseline.Rule) string {
	if r.ID != "" {
		return r.ID
	}
	return r.File + "#" + r.Title
}

// BaselineAlert builds the alert of a baseline match: the rule's metadata,
// a fingerprint of the rule and its key values (so that matches of one key
// dedup within the dedup window), the highlights the key's envelope fields
// give, and the IDs of the bucket's first events.
func BaselineAlert(m baseline.Match, now time.Time) *alert.Alert {
	r := m.Rule
	key := make([]keyValue, len(m.Key))
	for i, kv := range m.Key {
		key[i] = keyValue{field: kv.Field, envelope: strings.TrimPrefix(kv.Field, event.EnvelopePrefix), value: kv.Value}
	}
	return stateAlert("baseline", alert.RuleRef{ID: BaselineRuleID(r), Title: r.Title, Level: r.Level, Tags: r.Tags}, key, m.EventIDs, m.Time, now)
}
