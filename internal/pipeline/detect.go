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
	// Stateful are the evaluators that keep state across events (see
	// Stateful); their checkpoints are written to StateDir.
	Stateful []Stateful
	StateDir string
	// CheckpointEvery is how often the stateful evaluators are
	// checkpointed; default 30 s. They are checkpointed at the end of Run
	// too.
	CheckpointEvery time.Duration
	// AdvanceEvery is how often they are told the time; default 5 s.
	AdvanceEvery time.Duration
	// MaxReplay bounds the events replayed at start; default 2,000,000.
	MaxReplay int64
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

	// stateMu is held from the start of a batch's transaction until its
	// observations are fed, and while the stateful evaluators are
	// advanced or snapshotted, so that every event up to fedSeq has been
	// fed and nothing after it.
	stateMu  sync.Mutex
	fedSeq   []int64 // per stateful evaluator
	broken   bool    // correlation alerts could not be stored: stop checkpointing
	ckptMu   sync.Mutex
	restored atomic.Bool
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
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 30 * time.Second
	}
	if opts.AdvanceEvery <= 0 {
		opts.AdvanceEvery = 5 * time.Second
	}
	if opts.MaxReplay <= 0 {
		opts.MaxReplay = 2_000_000
	}
	d := &Detector{bus: c, db: db, opts: opts, fedSeq: make([]int64, len(opts.Stateful))}
	d.rules.Store(set)
	return d
}

// SetRules swaps the rules in; batches after the swap use them. The
// stateful evaluators keep the state of what did not change.
func (d *Detector) SetRules(set *detect.Set) {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	d.rules.Store(set)
	for _, st := range d.opts.Stateful {
		if err := st.SetRules(set); err != nil {
			d.opts.Logger.Error("stateful detection keeps the previous rules", "evaluator", st.Name(), "err", err)
		}
	}
}

// Engine returns the rules in use.
func (d *Detector) Engine() *detect.Engine { return d.rules.Load().Engine }

// Run consumes with the configured number of workers until ctx is done.
// The workers share one durable consumer, so each batch goes to one of
// them.
//
// Before consuming, the stateful evaluators are restored from their
// checkpoints and the events stored since are replayed into them; while
// consuming they are advanced and checkpointed periodically, and
// checkpointed once more when Run returns.
func (d *Detector) Run(ctx context.Context) error {
	if err := d.Restore(ctx); err != nil {
		return err
	}
	bg, stopBG := context.WithCancel(ctx)
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		d.maintainState(bg)
	}()
	defer func() {
		stopBG()
		<-bgDone
		if err := d.Checkpoint(); err != nil {
			d.opts.Logger.Error("stateful detection not checkpointed at shutdown; the next start replays the events since the last checkpoint", "err", err)
		}
	}()
	// With stateful evaluators, one worker consumes, so that batches are
	// stored and fed to them in stream order; evaluate spreads each batch
	// over the workers instead.
	workers := d.opts.Workers
	if len(d.opts.Stateful) > 0 {
		workers = 1
	}
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		d.running.Add(1)
		go func() {
			defer d.running.Add(-1)
			errs <- d.bus.Consume(ctx, d.opts.Consumer, d.opts.Batch, d.handle)
		}()
	}
	var first error
	for w := 0; w < workers; w++ {
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
	now := d.opts.Now()
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
			batch = append(batch, evaluated{ev: p.Event, body: p.Body, ingested: ingested})
		}
	}
	d.evaluate(set, batch, now)
	if l := d.opts.AlertsLock; l != nil {
		l.Lock()
		defer l.Unlock()
	}
	if len(d.opts.Stateful) > 0 {
		d.stateMu.Lock()
		defer d.stateMu.Unlock()
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
	feed := newFeed(len(d.opts.Stateful))
	for _, e := range batch {
		seq, isNew, err := tx.AddEventSeq(ctx, e.ev, e.body)
		if err != nil {
			return err
		}
		if !isNew {
			dups++
			continue
		}
		stored++
		feed.add(seq, e.observed)
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
	d.feedStateful(ctx, feed, now)
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

// evaluated is one event of a batch with what the rules made of it.
type evaluated struct {
	ev       *event.Event
	body     []byte
	ingested time.Time
	matches  []*alert.Alert
	observed []any // per stateful evaluator
}

// minShare is the fewest events worth a goroutine of their own in evaluate.
const minShare = 64

// evaluate runs the rules over the batch. With stateful evaluators, one
// worker consumes the bus (so that they see events in stream order, as
// vigil hunt does) and the batch is split among goroutines here instead.
func (d *Detector) evaluate(set *detect.Set, batch []evaluated, now time.Time) {
	parts := 1
	if len(d.opts.Stateful) > 0 {
		parts = max(1, min(d.opts.Workers, len(batch)/minShare))
	}
	var wg sync.WaitGroup
	for i := range parts {
		lo, hi := i*len(batch)/parts, (i+1)*len(batch)/parts
		wg.Go(func() { d.evaluatePart(set, batch[lo:hi], now) })
	}
	wg.Wait()
}

func (d *Detector) evaluatePart(set *detect.Set, part []evaluated, now time.Time) {
	eng, cs := set.Engine, set.CorrelationSet
	scratch := eng.NewScratch()
	obs := d.observers(set)
	for i := range part {
		e := &part[i]
		eng.Match(e.ev, scratch, func(r *detect.Rule) {
			obs.observe(r, e.ev, scratch)
			if cs != nil && !cs.Emits(r) {
				return // a building block of correlations only
			}
			e.matches = append(e.matches, alert.FromMatch(NewID("alt"), alert.RuleRef{ID: ruleKey(r), Title: r.Title, Level: r.Level, Tags: r.Tags}, e.ev, now))
		})
		obs.observeEvent(e.ev)
		e.observed = obs.take()
	}
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
