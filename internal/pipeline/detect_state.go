package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/state"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/store"
)

// observers are the Observers of one batch, one per stateful evaluator
// (nil for those with nothing to observe).
type observers []Observer

func (d *Detector) observers(set *detect.Set) observers {
	if len(d.opts.Stateful) == 0 {
		return nil
	}
	obs := make(observers, len(d.opts.Stateful))
	some := false
	for i, st := range d.opts.Stateful {
		obs[i] = st.NewObserver(set)
		some = some || obs[i] != nil
	}
	if !some {
		return nil
	}
	return obs
}

func (obs observers) observe(r *detect.Rule, ev *event.Event, s *detect.Scratch) {
	for _, o := range obs {
		if o != nil {
			o.Observe(r, ev, s)
		}
	}
}

// observeEvent shows ev to the observers that see every event.
func (obs observers) observeEvent(ev *event.Event) {
	for _, o := range obs {
		if eo, ok := o.(EventObserver); ok {
			eo.ObserveEvent(ev)
		}
	}
}

// take returns what each observer saw of the event just matched, or nil.
func (obs observers) take() []any {
	var out []any
	for i, o := range obs {
		if o == nil {
			continue
		}
		if x := o.Take(); x != nil {
			if out == nil {
				out = make([]any, len(obs))
			}
			out[i] = x
		}
	}
	return out
}

// feed collects, per stateful evaluator, the observations of newly stored
// events in store order, and the last sequence number stored.
type feed struct {
	obs     [][]any
	lastSeq int64
}

func newFeed(n int) *feed { return &feed{obs: make([][]any, n)} }

func (f *feed) add(seq int64, observed []any) {
	f.lastSeq = max(f.lastSeq, seq)
	for i, x := range observed {
		if x != nil {
			f.obs[i] = append(f.obs[i], x)
		}
	}
}

// feedStateful feeds the observations of a committed batch to the
// stateful evaluators and raises the alerts they complete. The caller
// holds stateMu and, if set, AlertsLock.
func (d *Detector) feedStateful(ctx context.Context, f *feed, now time.Time) {
	if len(d.opts.Stateful) == 0 {
		return
	}
	var raised []*alert.Alert
	for i, st := range d.opts.Stateful {
		if len(f.obs[i]) > 0 {
			st.Feed(f.obs[i], func(a *alert.Alert) { raised = append(raised, a) })
		}
	}
	d.raiseStateful(ctx, raised, now)
	if !d.broken {
		for i := range d.fedSeq {
			d.fedSeq[i] = max(d.fedSeq[i], f.lastSeq)
		}
	}
}

// raiseStateful stores the alerts of stateful evaluators in their own
// transaction and passes them on. Should the store fail, checkpoints stop,
// so that the next start replays the events and raises them again.
func (d *Detector) raiseStateful(ctx context.Context, raised []*alert.Alert, now time.Time) {
	if len(raised) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx) // the events are committed: finish
	var err error
	for try := 0; try < 3; try++ {
		if err = d.storeStateful(ctx, raised, now); err == nil {
			return
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
	d.broken = true
	d.opts.Logger.Error("correlation alerts not stored; stateful detection stops checkpointing so that a restart raises them again: restart vigil serve",
		"alerts", len(raised), "err", err)
}

func (d *Detector) storeStateful(ctx context.Context, raised []*alert.Alert, now time.Time) error {
	for _, a := range raised {
		if len(a.EventIDs) > 0 {
			if ev := d.storedEvent(ctx, a.EventIDs[0]); ev != nil {
				fillHighlights(a, ev)
			}
		}
	}
	tx, err := d.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var created, changed []*alert.Alert
	at := map[string]int{}
	for _, a := range raised {
		a, isNew, err := tx.RaiseAlert(ctx, a, d.opts.DedupWindow, now)
		if err != nil {
			return err
		}
		if isNew {
			created = append(created, a)
		}
		if i, seen := at[a.ID]; seen {
			changed[i] = a
		} else {
			at[a.ID] = len(changed)
			changed = append(changed, a)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if d.opts.OnAlerts != nil {
		d.opts.OnAlerts(changed)
	}
	if m := d.opts.Metrics.Alert; m != nil {
		for _, a := range created {
			m(a.Rule.ID, a.Severity)
		}
	}
	return nil
}

// storedEvent reads a stored event back, or returns nil.
func (d *Detector) storedEvent(ctx context.Context, id string) *event.Event {
	list, _, err := d.db.SearchEvents(ctx, store.EventQuery{ID: id, Limit: 1})
	if err != nil || len(list) == 0 {
		return nil
	}
	ev, err := parseStored(list[0].JSON)
	if err != nil {
		return nil
	}
	return ev
}

func parseStored(body []byte) (*event.Event, error) {
	doc := new(jsondoc.Doc)
	if err := doc.Parse(body); err != nil {
		return nil, err
	}
	return event.FromJSON(doc.Root())
}

func (d *Detector) statePath(st Stateful) string {
	return filepath.Join(d.opts.StateDir, st.Name()+".ckpt")
}

// Restore loads the checkpoints of the stateful evaluators and replays
// into them the events stored after the checkpoints, through the current
// rules, raising the alerts the replay completes (they dedup against the
// stored ones). Without a checkpoint, or with one that cannot be read, an
// evaluator starts empty with the events stored from then on. Run calls
// it; calling it again does nothing.
func (d *Detector) Restore(ctx context.Context) error {
	if len(d.opts.Stateful) == 0 || d.restored.Load() {
		d.restored.Store(true)
		return nil
	}
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	if d.opts.StateDir != "" {
		if err := os.MkdirAll(d.opts.StateDir, 0o700); err != nil {
			return fmt.Errorf("creating the state directory %s: %w", d.opts.StateDir, err)
		}
	}
	last, err := d.db.LastSeq(ctx)
	if err != nil {
		return err
	}
	from := last
	for i, st := range d.opts.Stateful {
		seq := last
		if d.opts.StateDir != "" {
			// No checkpoint is being written: a temporary file is what
			// a stop while writing one left behind.
			if n, err := state.RemoveTemp(d.statePath(st)); err != nil {
				d.opts.Logger.Warn("temporary checkpoint files not removed", "evaluator", st.Name(), "err", err)
			} else if n > 0 {
				d.opts.Logger.Info("removed the temporary files of a checkpoint interrupted by a stop", "evaluator", st.Name(), "files", n)
			}
			s, err := readState(d.statePath(st), st)
			switch {
			case err == nil && s > last:
				// The store's numbering restarted (every event expired):
				// all it holds is newer than the checkpoint.
				d.opts.Logger.Warn("checkpoint is ahead of the store; replaying every stored event", "evaluator", st.Name(), "seq", s, "last", last)
				seq = 0
			case err == nil:
				seq = s
			case errors.Is(err, errNoState):
				d.opts.Logger.Info("no checkpoint; stateful detection starts empty", "evaluator", st.Name())
			default:
				d.opts.Logger.Warn("checkpoint not restored; stateful detection starts empty", "evaluator", st.Name(), "err", err)
			}
		}
		d.fedSeq[i] = seq
		from = min(from, seq)
	}
	if last-from > d.opts.MaxReplay {
		d.opts.Logger.Warn("more events stored since the checkpoint than are replayed; the oldest are skipped", "stored", last-from, "replayed", d.opts.MaxReplay)
		from = last - d.opts.MaxReplay
		for i := range d.fedSeq {
			d.fedSeq[i] = max(d.fedSeq[i], from)
		}
	}
	n, err := d.replay(ctx, from, last)
	if err != nil {
		return err
	}
	if n > 0 {
		d.opts.Logger.Info("stateful detection replayed the events stored since its checkpoint", "events", n, "from_seq", from, "to_seq", last)
	}
	d.restored.Store(true)
	// Checkpoint now: an evaluator that started empty must not, after a
	// crash before the first periodic checkpoint, start empty again past
	// the events it was fed.
	d.stateMu.Unlock()
	err = d.Checkpoint()
	d.stateMu.Lock()
	if err != nil {
		return fmt.Errorf("stateful detection cannot write its checkpoint: %w; check that the data directory is writable", err)
	}
	return nil
}

// replay feeds the events stored after from, up to last, to the evaluators
// whose checkpoint does not hold them. The caller holds stateMu.
func (d *Detector) replay(ctx context.Context, from, last int64) (int, error) {
	set := d.rules.Load()
	eng := set.Engine
	scratch := eng.NewScratch()
	n := 0
	for from < last {
		page, err := d.db.EventsAfter(ctx, from, 1000)
		if err != nil {
			return n, fmt.Errorf("replaying stored events into stateful detection: %w", err)
		}
		if len(page) == 0 {
			break
		}
		obs := d.observers(set)
		f := newFeed(len(d.opts.Stateful))
		for _, se := range page {
			from = se.Seq
			if se.Seq > last {
				break
			}
			n++
			ev, err := parseStored(se.Body)
			if err != nil {
				d.opts.Logger.Warn("stored event not replayed: it does not read back", "id", se.ID, "seq", se.Seq, "err", err)
				continue
			}
			eng.Match(ev, scratch, func(r *detect.Rule) { obs.observe(r, ev, scratch) })
			obs.observeEvent(ev)
			observed := obs.take()
			for i := range observed {
				if se.Seq <= d.fedSeq[i] {
					observed[i] = nil // the checkpoint holds it
				}
			}
			f.add(se.Seq, observed)
		}
		d.lockAlerts()
		d.feedStateful(ctx, f, d.opts.Now())
		d.unlockAlerts()
	}
	return n, nil
}

func (d *Detector) lockAlerts() {
	if l := d.opts.AlertsLock; l != nil {
		l.Lock()
	}
}

func (d *Detector) unlockAlerts() {
	if l := d.opts.AlertsLock; l != nil {
		l.Unlock()
	}
}

// Checkpoint writes the state of every stateful evaluator with the store
// sequence number of the last event it was fed. It does nothing before
// Restore ran, or after alerts of the evaluators could not be stored.
//
// Each evaluator's snapshot is encoded straight into a temporary file
// while stateMu holds the evaluators still, so no second copy of the
// state is held in memory; the files are synced and renamed into place
// once stateMu is released. An evaluator whose file cannot be written
// keeps its previous checkpoint; the others are still written.
func (d *Detector) Checkpoint() error {
	if len(d.opts.Stateful) == 0 || d.opts.StateDir == "" || !d.restored.Load() {
		return nil
	}
	d.ckptMu.Lock()
	defer d.ckptMu.Unlock()
	var errs []error
	pending := make([]*state.Pending, 0, len(d.opts.Stateful))
	d.stateMu.Lock()
	if d.broken {
		d.stateMu.Unlock()
		return errors.New("stateful detection is not checkpointed after alerts could not be stored; restart to replay")
	}
	for i, st := range d.opts.Stateful {
		p, err := prepareState(d.statePath(st), d.fedSeq[i], st)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pending = append(pending, p)
	}
	d.stateMu.Unlock()
	for _, p := range pending {
		errs = append(errs, p.Commit())
	}
	return errors.Join(errs...)
}

// maintainState advances and checkpoints the stateful evaluators until
// ctx is done.
func (d *Detector) maintainState(ctx context.Context) {
	if len(d.opts.Stateful) == 0 {
		return
	}
	adv := time.NewTicker(d.opts.AdvanceEvery)
	ckpt := time.NewTicker(d.opts.CheckpointEvery)
	defer adv.Stop()
	defer ckpt.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-adv.C:
			d.Advance(ctx)
		case <-ckpt.C:
			if err := d.Checkpoint(); err != nil {
				d.opts.Logger.Error("stateful detection not checkpointed; a restart replays more events", "err", err)
			}
		}
	}
}

// Advance tells the stateful evaluators the time (DetectorOptions.Now) and
// raises the alerts of the windows that closes.
func (d *Detector) Advance(ctx context.Context) {
	d.lockAlerts()
	defer d.unlockAlerts()
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	now := d.opts.Now()
	var raised []*alert.Alert
	for _, st := range d.opts.Stateful {
		st.Advance(now, func(a *alert.Alert) { raised = append(raised, a) })
	}
	d.raiseStateful(ctx, raised, now)
}
