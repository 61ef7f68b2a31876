package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// Consumer is the part of the bus detection needs.
type Consumer interface {
	Consume(ctx context.Context, name string, batch int, handle func(ctx context.Context, ds []bus.Delivery) error) error
}

// DetectMetrics receives observations; nil funcs are skipped.
type DetectMetrics struct {
	Latency func(seconds float64)         // per event, from ingest to stored and evaluated
	Alert   func(ruleID, severity string) // a new alert
	Events  func(stored, duplicates int)  // per batch
	BadMsg  func(n int)                   // bus messages that could not be read
}

// DetectorOptions configure a Detector.
type DetectorOptions struct {
	Consumer    string        // durable consumer name; default "detect"
	Batch       int           // bus messages per batch; default 4
	Workers     int           // batches evaluated at once; default one per CPU
	DedupWindow time.Duration // alerts with one fingerprint within it are one alert
	Metrics     DetectMetrics
	Logger      *slog.Logger
	Now         func() time.Time
	// OnAlerts, if set, receives every alert a batch created or counted
	// again (each once, as stored), after the batch committed; never for
	// a batch that rolled back. It must not block.
	OnAlerts func([]*alert.Alert)
	// AlertsLock, if set, is held from the start of each batch's
	// transaction until OnAlerts returns. Whoever else changes alerts and
	// passes the changes on holds it too, so that the receiver sees every
	// change in the order the store committed them.
	AlertsLock sync.Locker
}

// Detector consumes the bus, stores events and raises alerts.
type Detector struct {
	bus   Consumer
	db    *store.DB
	rules atomic.Pointer[detect.Set]
	opts  DetectorOptions
	// processed counts batches committed, for tests.
	processed atomic.Int64
	running   atomic.Int32 // workers consuming
}

// NewDetector returns a detector running the rules of set.
func NewDetector(c Consumer, db *store.DB, set *detect.Set, opts DetectorOptions) *Detector {
	if opts.Consumer == "" {
		opts.Consumer = "detect"
	}
	if opts.Batch <= 0 {
		opts.Batch = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Detector{bus: c, db: db, opts: opts}
	d.rules.Store(set)
	return d
}

// SetRules swaps the rules in; batches after the swap use them.
func (d *Detector) SetRules(set *detect.Set) { d.rules.Store(set) }

// Engine returns the rules in use.
func (d *Detector) Engine() *detect.Engine { return d.rules.Load().Engine }

// Run consumes with the configured number of workers until ctx is done.
// The workers share one durable consumer, so each batch goes to one of
// them.
func (d *Detector) Run(ctx context.Context) error {
	errs := make(chan error, d.opts.Workers)
	for w := 0; w < d.opts.Workers; w++ {
		d.running.Add(1)
		go func() {
			defer d.running.Add(-1)
			errs <- d.bus.Consume(ctx, d.opts.Consumer, d.opts.Batch, d.handle)
		}()
	}
	var first error
	for w := 0; w < d.opts.Workers; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Running reports whether detection workers are consuming.
func (d *Detector) Running() bool { return d.running.Load() > 0 }

// Batches returns how many batches have been committed.
func (d *Detector) Batches() int64 { return d.processed.Load() }

// handle processes one batch. The rules run first, outside any
// transaction, so several workers evaluate in parallel; then one
// transaction stores the events and raises the alerts of those that were
// not stored already (a redelivery after a crash, or a replay older than
// the bus's dedup window), so no alert is counted twice.
func (d *Detector) handle(ctx context.Context, ds []bus.Delivery) error {
	set := d.rules.Load()
	eng, cs := set.Engine, set.CorrelationSet
	scratch := eng.NewScratch()
	now := d.opts.Now()
	type evaluated struct {
		ev       *event.Event
		body     []byte
		ingested time.Time
		matches  []*alert.Alert
	}
	var batch []evaluated
	bad := 0
	for _, dl := range ds {
		evs, ingested, err := ParseMessage(dl.Data)
		if err != nil {
			// A message that cannot be read will never be readable:
			// log it and move on rather than block the stream.
			bad++
			d.opts.Logger.Error("dropping unreadable bus message", "seq", dl.Seq, "err", err)
			continue
		}
		for _, p := range evs {
			e := evaluated{ev: p.Event, body: p.Body, ingested: ingested}
			eng.Match(p.Event, scratch, func(r *detect.Rule) {
				if cs != nil && !cs.Emits(r) {
					return // a building block of correlations only
				}
				e.matches = append(e.matches, alert.FromMatch(NewID("alt"), alert.RuleRef{ID: ruleKey(r), Title: r.Title, Level: r.Level, Tags: r.Tags}, p.Event, now))
			})
			batch = append(batch, e)
		}
	}
	if l := d.opts.AlertsLock; l != nil {
		l.Lock()
		defer l.Unlock()
	}
	tx, err := d.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stored, dups := 0, 0
	// changed holds each alert the batch created or counted again once;
	// at maps its ID to its index.
	var created, changed []*alert.Alert
	at := map[string]int{}
	var fresh []time.Time // ingest times of the events stored now
	for _, e := range batch {
		isNew, err := tx.AddEvent(ctx, e.ev, e.body)
		if err != nil {
			return err
		}
		if !isNew {
			dups++
			continue
		}
		stored++
		fresh = append(fresh, e.ingested)
		for _, a := range e.matches {
			a, isNewAlert, err := tx.RaiseAlert(ctx, a, d.opts.DedupWindow, now)
			if err != nil {
				return err
			}
			if isNewAlert {
				created = append(created, a)
			}
			if i, seen := at[a.ID]; seen {
				changed[i] = a // the latest count
			} else {
				at[a.ID] = len(changed)
				changed = append(changed, a)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if d.opts.OnAlerts != nil && len(changed) > 0 {
		d.opts.OnAlerts(changed)
	}
	d.processed.Add(1)
	m := d.opts.Metrics
	if m.Alert != nil {
		for _, a := range created {
			m.Alert(a.Rule.ID, a.Severity)
		}
	}
	if m.Events != nil {
		m.Events(stored, dups)
	}
	if bad > 0 && m.BadMsg != nil {
		m.BadMsg(bad)
	}
	if m.Latency != nil {
		done := d.opts.Now()
		for _, t := range fresh {
			m.Latency(done.Sub(t).Seconds())
		}
	}
	return nil
}

// ruleKey identifies a rule in alerts: its id, or its file and title when
// it has none.
func ruleKey(r *detect.Rule) string {
	if r.ID != "" {
		return r.ID
	}
	return r.File + "#" + r.Title
}

// NewID returns a random ID with a prefix, sortable by creation time.
func NewID(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return fmt.Sprintf("%s_%011x%s", prefix, time.Now().UnixMilli(), hex.EncodeToString(b[:]))
}
