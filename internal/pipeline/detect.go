package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/store"
)

// Consumer is the part of the bus detection needs.
type Consumer interface {
	Consume(ctx context.Context, name string, batch int, handle func(ctx context.Context, ds []bus.Delivery) error) error
}

// DetectMetrics receives observations; nil funcs are skipped.
type DetectMetrics struct {
	Latency func(seconds float64)         // from ingest to alert stored
	Alert   func(ruleID, severity string) // a new alert
	Events  func(stored, duplicates int)  // per batch
	BadMsg  func(n int)                   // bus messages that could not be read
}

// DetectorOptions configure a Detector.
type DetectorOptions struct {
	Consumer    string        // durable consumer name; default "detect"
	Batch       int           // messages per batch; default 500
	DedupWindow time.Duration // alerts with one fingerprint within it are one alert
	Metrics     DetectMetrics
	Logger      *slog.Logger
	Now         func() time.Time
}

// Detector consumes the bus, stores events and raises alerts.
type Detector struct {
	bus    Consumer
	db     *store.DB
	engine atomic.Pointer[detect.Engine]
	opts   DetectorOptions
	// processed counts batches committed, for tests and readiness.
	processed atomic.Int64
}

// NewDetector returns a detector running eng.
func NewDetector(c Consumer, db *store.DB, eng *detect.Engine, opts DetectorOptions) *Detector {
	if opts.Consumer == "" {
		opts.Consumer = "detect"
	}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Detector{bus: c, db: db, opts: opts}
	d.engine.Store(eng)
	return d
}

// SetEngine swaps the rules in; batches after the swap use them.
func (d *Detector) SetEngine(eng *detect.Engine) { d.engine.Store(eng) }

// Engine returns the rules in use.
func (d *Detector) Engine() *detect.Engine { return d.engine.Load() }

// Run consumes until ctx is done.
func (d *Detector) Run(ctx context.Context) error {
	return d.bus.Consume(ctx, d.opts.Consumer, d.opts.Batch, d.handle)
}

// Batches returns how many batches have been committed.
func (d *Detector) Batches() int64 { return d.processed.Load() }

// handle processes one batch in one transaction. Events already stored
// (a redelivery after a crash, or a replay older than the bus's dedup
// window) are skipped, so no alert is counted twice.
func (d *Detector) handle(ctx context.Context, ds []bus.Delivery) error {
	eng := d.engine.Load()
	scratch := eng.NewScratch()
	tx, err := d.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := d.opts.Now()
	stored, dups, bad := 0, 0, 0
	var latest time.Time
	for _, dl := range ds {
		ev, ingested, err := ParseMessage(dl.Data)
		if err != nil {
			// A message that cannot be read will never be readable:
			// log it and move on rather than block the stream.
			bad++
			d.opts.Logger.Error("dropping unreadable bus message", "seq", dl.Seq, "err", err)
			continue
		}
		isNew, err := tx.AddEvent(ctx, ev, EventJSON(dl.Data))
		if err != nil {
			return err
		}
		if !isNew {
			dups++
			continue
		}
		stored++
		if ingested.After(latest) {
			latest = ingested
		}
		var raiseErr error
		eng.Match(ev, scratch, func(r *detect.Rule) {
			if raiseErr != nil {
				return
			}
			a := alert.FromMatch(NewID("alt"), alert.RuleRef{ID: ruleKey(r), Title: r.Title, Level: r.Level, Tags: r.Tags}, ev, now)
			stored, created, err := tx.RaiseAlert(ctx, a, d.opts.DedupWindow, now)
			if err != nil {
				raiseErr = err
				return
			}
			if created && d.opts.Metrics.Alert != nil {
				d.opts.Metrics.Alert(stored.Rule.ID, stored.Severity)
			}
		})
		if raiseErr != nil {
			return raiseErr
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	d.processed.Add(1)
	m := d.opts.Metrics
	if m.Events != nil {
		m.Events(stored, dups)
	}
	if bad > 0 && m.BadMsg != nil {
		m.BadMsg(bad)
	}
	if m.Latency != nil && !latest.IsZero() {
		m.Latency(d.opts.Now().Sub(latest).Seconds())
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
