package detect

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"

	"github.com/vigil-sec/vigil/internal/detect/state"
)

// Checkpoint format, version 1, in the body of a state file:
//
//	watermark, clock: varint; last processed: varint time, string event ID (compact), string rule key
//	correlations: uvarint count, then each:
//	  key, digest: string; groups: uvarint count, least recently used first, each:
//	    key: string; sum: float (value_sum and value_avg, else 0); entries: uvarint count, oldest first, each:
//	      time: varint; producer: uvarint; ID and value: string
//	pending observations: uvarint count, each:
//	  time: varint; event ID (compact), rule key: string; items: uvarint count, each:
//	    correlation: uvarint (index in the list above); producer: uvarint; group key, value: string
//
// Restoring maps correlations by key, and keeps the state of those whose
// digest (type, timespan, group-by, fields, condition, rules) is unchanged,
// so a checkpoint also carries state across a rule reload.

const (
	checkpointMagic   = "VIGILCOR"
	checkpointVersion = 1
	// Bounds of what a checkpoint may hold, beyond which it is corrupt.
	maxSnapshotCorrelations = 1 << 16
	maxSnapshotGroups       = 1 << 24
	maxSnapshotPending      = 1 << 24
	maxSnapshotItems        = 1 << 16
)

// ruleKeyOf identifies a base rule in checkpoints.
func ruleKeyOf(r *Rule) string {
	if r.ID != "" {
		return r.ID
	}
	return r.File + "\x00" + r.Title
}

// Snapshot writes the correlator's state to w.
func (c *Correlator) Snapshot(w io.Writer) error {
	return state.Write(w, checkpointMagic, checkpointVersion, c.encode)
}

// Checkpoint writes the correlator's state to path crash-safely: a crash
// while it runs leaves the previous checkpoint in place.
func (c *Correlator) Checkpoint(path string) error {
	return state.WriteFile(path, checkpointMagic, checkpointVersion, c.encode)
}

func (c *Correlator) encode(e *state.Encoder) error {
	rules := c.cs.rules
	e.Varint(c.wm)
	e.Varint(c.clock)
	e.Varint(c.last.t)
	e.String(c.last.ref)
	lastRule := ""
	if c.last.rule >= 0 && int(c.last.rule) < len(rules) {
		lastRule = ruleKeyOf(rules[c.last.rule])
	}
	e.String(lastRule)
	e.Uvarint(uint64(len(c.tables)))
	for _, tb := range c.tables {
		e.String(tb.c.key)
		e.String(tb.c.print)
		e.Uvarint(uint64(tb.live))
		for g := tb.tail; g >= 0; g = tb.groups[g].prev {
			gr := &tb.groups[g]
			e.String(gr.key)
			sum := 0.0
			if tb.summed() {
				sum = tb.sums[g]
			}
			e.Float(sum)
			e.Uvarint(uint64(gr.n))
			tb.each(g, func(en *entry) {
				e.Varint(en.t)
				e.Uvarint(uint64(en.src))
				e.String(en.s)
			})
		}
	}
	e.Uvarint(uint64(len(c.pending)))
	for _, o := range c.pending {
		e.Varint(o.t)
		e.String(o.ref)
		e.String(ruleKeyOf(rules[o.rule]))
		e.Uvarint(uint64(len(o.items)))
		for _, it := range o.items {
			e.Uvarint(uint64(it.corr.num))
			e.Uvarint(uint64(it.src))
			e.String(it.key)
			e.String(it.val)
		}
	}
	return e.Err()
}

// Restore replaces the correlator's state with the one Snapshot wrote to
// r. On error the correlator is left empty. State of correlations that no
// longer exist or changed is dropped; Restore logs how much.
func (c *Correlator) Restore(r io.Reader) error {
	err := state.Read(r, checkpointMagic, checkpointVersion, state.Limits{}, c.decode)
	if err != nil {
		c.reset()
	}
	return err
}

// LoadCheckpoint restores the state saved by Checkpoint at path. A missing
// file leaves the correlator empty and is not an error. A file that cannot
// be read leaves it empty too: the error says why, and a warning is logged,
// since correlation starts over rather than fail.
func (c *Correlator) LoadCheckpoint(path string) error {
	err := state.ReadFile(path, checkpointMagic, checkpointVersion, state.Limits{}, c.decode)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		c.reset()
		return nil
	}
	c.reset()
	c.opts.Logger.Warn("correlation state not restored; correlations start with empty windows", "path", path, "err", err)
	return fmt.Errorf("restoring correlation state: %w; correlations start with empty windows", err)
}

// decode reads a checkpoint into fresh state and installs it if the whole
// file reads.
func (c *Correlator) decode(d *state.Decoder, _ uint64) error {
	next := &Correlator{cs: c.cs, opts: c.opts}
	next.reset()
	byKey := map[string]*table{}
	for _, tb := range next.tables {
		byKey[tb.c.key] = tb
	}
	ruleNum := map[string]int32{}
	for i, r := range c.cs.rules {
		ruleNum[ruleKeyOf(r)] = int32(i)
	}
	next.wm = d.Varint()
	next.clock = d.Varint()
	next.last.t = d.Varint()
	next.last.ref = d.String()
	if n, ok := ruleNum[d.String()]; ok {
		next.last.rule = n
	} else {
		next.last.rule = math.MaxInt32 // unknown: later observations of this time and ID are late
	}
	ncorr := d.Count("correlation", maxSnapshotCorrelations)
	mapped := make([]*table, ncorr)
	dropped := 0
	for i := 0; i < ncorr && d.Err() == nil; i++ {
		key, digest := d.String(), d.String()
		tb := byKey[key]
		if tb != nil && tb.c.print != digest {
			tb = nil
		}
		mapped[i] = tb
		ngroups := d.Count("group", maxSnapshotGroups)
		for j := 0; j < ngroups && d.Err() == nil; j++ {
			if !next.decodeGroup(d, tb) {
				dropped++
			}
		}
	}
	npend := d.Count("pending observation", maxSnapshotPending)
	for i := 0; i < npend && d.Err() == nil; i++ {
		o := &Observation{t: d.Varint(), ref: d.String()}
		if refLen(o.ref) != len(o.ref) {
			d.Fail("bad event ID in a pending observation")
			break
		}
		rule, ok := ruleNum[d.String()]
		o.rule = rule
		nitems := d.Count("observation item", maxSnapshotItems)
		for j := 0; j < nitems && d.Err() == nil; j++ {
			ci, src, key, val := d.Uvarint(), d.Uvarint(), d.String(), d.String()
			if ci >= uint64(len(mapped)) {
				d.Fail("observation refers to correlation %d of %d", ci, len(mapped))
				break
			}
			tb := mapped[ci]
			if tb == nil || src >= uint64(tb.c.inputs) {
				continue
			}
			o.items = append(o.items, obsItem{corr: tb.c, src: int32(src), key: key, val: val})
		}
		if ok && len(o.items) > 0 {
			next.pending = append(next.pending, o)
		}
	}
	if err := d.Err(); err != nil {
		return err
	}
	if c.opts.Lateness != Unbounded {
		heap.Init(&next.pending)
	}
	if dropped > 0 {
		c.opts.Logger.Warn("correlation state of changed or removed correlations dropped", "groups", dropped)
	}
	c.tables, c.pending, c.timers = next.tables, next.pending, next.timers
	c.keys, c.runs, c.sealed = nil, nil, 0
	c.wm, c.clock, c.last = next.wm, next.clock, next.last
	return nil
}

// decodeGroup reads one group into tb, or skips it when tb is nil. It
// reports whether the group was kept.
func (c *Correlator) decodeGroup(d *state.Decoder, tb *table) bool {
	key := d.String()
	sum := d.Float()
	isSum := tb != nil && tb.summed()
	n := d.Count("entry", MaxWindowEvents)
	if d.Err() != nil {
		return false
	}
	if tb == nil {
		// The correlation changed or is gone: skip its state.
		for i := 0; i < n && d.Err() == nil; i++ {
			d.Varint()
			d.Uvarint()
			d.Bytes()
		}
		return false
	}
	if tb.find(key) >= 0 {
		d.Fail("group %q appears twice", key)
		return false
	}
	for tb.live >= c.opts.MaxGroups && tb.tail >= 0 {
		tb.remove(tb.tail)
		tb.evicted++
	}
	g := tb.insert(key)
	prev := int64(math.MinInt64)
	for i := 0; i < n && d.Err() == nil; i++ {
		t, src, s := d.Varint(), d.Uvarint(), d.String()
		if t < prev || src >= uint64(tb.c.inputs) || refLen(s) < 0 {
			d.Fail("bad window entry in a group of correlation %q", tb.c.key)
			break
		}
		prev = t
		if tb.nent >= c.opts.MaxEntries {
			tb.trimmed++
			continue
		}
		tb.push(g, t, s, int32(src))
	}
	if tb.groups[g].n == 0 {
		tb.remove(g)
		return d.Err() == nil
	}
	if isSum {
		tb.sums[g] = sum
	}
	if !tb.c.early {
		c.schedule(tb, g, tb.anchor(g)+int64(tb.c.Timespan))
	}
	return true
}
