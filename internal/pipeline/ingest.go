// Package pipeline moves events from ingest to storage and detection:
// Ingester decodes request bodies and publishes the events to the durable
// bus, answering only once the bus has stored them; Detector consumes the
// bus, stores each event once, runs the rules and raises alerts, all in one
// store transaction per batch acknowledged only after it commits.
package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-sec/vigil/internal/bus"
	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Publisher is the part of the bus ingest needs.
type Publisher interface {
	Publish(ctx context.Context, msgs []bus.Msg) (duplicates int, err error)
	MaxPayload() int64
	// Full reports that the bus cannot take more right now.
	Full() bool
}

// ErrBusy means ingest is over its limits or the bus cannot take more; the
// client should retry later.
var ErrBusy = errors.New("busy")

// IngestResult says what happened to one request's records.
type IngestResult struct {
	Accepted   int
	Duplicates int
	Rejected   []Rejection
}

// Rejection is a record that did not decode.
type Rejection struct {
	Index int    // the record's position among the request's records, from 0
	Error string // where in the body, and why
}

// IngestMetrics receives counts; nil funcs are skipped.
type IngestMetrics struct {
	Events       func(source string, n int)
	DecodeErrors func(kind string, n int)
}

// Ingester decodes bodies and publishes their events.
type Ingester struct {
	reg     *decode.Registry
	bus     Publisher
	metrics IngestMetrics
	now     func() time.Time
}

// NewIngester returns an ingester.
func NewIngester(reg *decode.Registry, p Publisher, m IngestMetrics) *Ingester {
	return &Ingester{reg: reg, bus: p, metrics: m, now: time.Now}
}

// Expansion bounds what one body may decode to: wrappers carry base64 and
// gzip, so a small body can hold much more data.
const (
	expansionFactor = 8
	minExpansion    = 64 << 20
)

// ErrTooLarge is wrapped by Ingest's error when a body decodes to more than
// its expansion budget.
var ErrTooLarge = errors.New("body expands too much")

// Bus messages carry events in batches: one message holds up to
// maxMessageEvents events of one source from one request, at most
// maxMessageBytes of them (an event larger than that travels alone). One
// message per few hundred events rather than one per event keeps the bus's
// per-message costs — acknowledgements, the duplicate window's memory,
// deliveries — off the per-event path.
//
// A message is {"ingested_at":<unix µs>,"events":[<event>,...]}. Its ID
// is a digest of its source and its events' IDs, so a request sent again is
// recognized as a whole within the bus's duplicate window; any other replay
// is caught by the store, which keeps each event ID once.
const (
	maxMessageEvents = 500
	maxMessageBytes  = 1 << 20
)

// batch is a bus message being built.
type batch struct {
	source string
	buf    []byte
	n      int // events
	ids    hash.Hash
}

func newBatch(source string, ingested time.Time) *batch {
	b := &batch{source: source, buf: make([]byte, 0, 64<<10), ids: sha256.New()}
	b.buf = append(b.buf, `{"ingested_at":`...)
	b.buf = strconv.AppendInt(b.buf, ingested.UnixMicro(), 10)
	b.buf = append(b.buf, `,"events":[`...)
	b.ids.Write([]byte(source))
	return b
}

// add appends ev and reports the bytes it took.
func (b *batch) add(ev *event.Event) int {
	before := len(b.buf)
	if b.n > 0 {
		b.buf = append(b.buf, ',')
	}
	b.buf = ev.AppendJSON(b.buf, true)
	b.n++
	b.ids.Write([]byte{0})
	b.ids.Write([]byte(ev.ID))
	return len(b.buf) - before
}

// undo removes the last event, which took n bytes; its ID stays in the
// digest, which only makes the message ID differ.
func (b *batch) undo(n int) {
	b.buf = b.buf[:len(b.buf)-n]
	b.n--
}

func (b *batch) msg() bus.Msg {
	return bus.Msg{ID: "b" + hex.EncodeToString(b.ids.Sum(nil)[:16]), Subject: bus.SubjectPrefix + b.source, Data: append(b.buf, "]}"...)}
}

// Ingest decodes body as kind and publishes its events. It returns once
// every event is stored in the bus. A body that is not the format at all
// returns an error wrapping source.ErrNotFormat and publishes nothing.
func (in *Ingester) Ingest(ctx context.Context, kind string, body []byte) (IngestResult, error) {
	if in.bus.Full() {
		return IngestResult{}, fmt.Errorf("%w: %w", ErrBusy, bus.ErrFull)
	}
	rd, err := in.reg.NewReader(decode.Options{Kind: kind})
	if err != nil {
		return IngestResult{}, fmt.Errorf("%w: %v", source.ErrNotFormat, err)
	}
	c := &collector{now: in.now(), maxMsg: int(in.bus.MaxPayload()) - 1024, budget: max(minExpansion, expansionFactor*len(body))}
	if err := rd.Read(bytes.NewReader(body), c, c.over); err != nil {
		if in.metrics.DecodeErrors != nil {
			in.metrics.DecodeErrors(kind, 1)
		}
		if errors.Is(err, source.ErrNotFormat) {
			return IngestResult{}, err
		}
		return IngestResult{}, fmt.Errorf("%w: %v", source.ErrNotFormat, err)
	}
	c.done()
	if c.over() {
		return IngestResult{}, fmt.Errorf("%w: the %d KiB body decodes to more than %d MiB of events; send smaller batches", ErrTooLarge, len(body)>>10, c.budget>>20)
	}
	if len(c.msgs) == 0 && len(c.rejected) > 0 && c.allNotFormat {
		// Every record is of another format: the body as a whole is.
		return IngestResult{}, fmt.Errorf("%w: %s", source.ErrNotFormat, c.rejected[0].Error)
	}
	res := IngestResult{Rejected: c.rejected}
	if len(c.rejected) > 0 && in.metrics.DecodeErrors != nil {
		in.metrics.DecodeErrors(kind, len(c.rejected))
	}
	if len(c.msgs) == 0 {
		return res, nil
	}
	if _, err := in.bus.Publish(ctx, c.msgs); err != nil {
		if errors.Is(err, bus.ErrFull) || errors.Is(err, bus.ErrUnavailable) {
			return IngestResult{}, fmt.Errorf("%w: %v", ErrBusy, err)
		}
		return IngestResult{}, err
	}
	for i, m := range c.msgs {
		if m.Duplicate {
			res.Duplicates += c.counts[i]
		}
	}
	res.Accepted = c.events() - res.Duplicates
	if in.metrics.Events != nil {
		for src, n := range c.bySource {
			in.metrics.Events(src, n)
		}
	}
	return res, nil
}

// collector turns decoded events into bus messages. Events in one body
// with the same ID are sent once.
type collector struct {
	now          time.Time
	maxMsg       int // the bus's message limit, less room for headers
	budget       int // bytes of messages the body may decode to
	size         int // bytes of messages so far
	allNotFormat bool
	n            int
	msgs         []bus.Msg
	counts       []int             // events per message in msgs
	open         map[string]*batch // the message being built per source
	seen         map[string]bool
	rejected     []Rejection
	bySource     map[string]int
}

func (c *collector) Event(e *event.Event) {
	c.n++
	if c.seen == nil {
		c.seen, c.bySource, c.open = map[string]bool{}, map[string]int{}, map[string]*batch{}
	}
	if c.seen[e.ID] {
		return
	}
	c.seen[e.ID] = true
	b := c.open[e.Source]
	if b == nil {
		b = newBatch(e.Source, c.now)
		c.open[e.Source] = b
	}
	n := b.add(e)
	if len(b.buf)+2 > min(c.maxMsg, maxMessageBytes) && b.n > 1 {
		// The event does not fit beside the others: close the message
		// without it and start the next one with it.
		b.undo(n)
		c.flush(b)
		b = newBatch(e.Source, c.now)
		c.open[e.Source] = b
		n = b.add(e)
	}
	if len(b.buf)+2 > c.maxMsg {
		c.rejected = append(c.rejected, Rejection{Index: c.n - 1,
			Error: fmt.Sprintf("event %s is %d KiB, larger than the bus's %d KiB message limit", e.ID, n>>10, c.maxMsg>>10)})
		delete(c.open, e.Source)
		return
	}
	c.size += n
	c.bySource[e.Source]++
	if b.n == maxMessageEvents {
		c.flush(b)
	}
}

// flush closes b's message.
func (c *collector) flush(b *batch) {
	if b.n > 0 {
		c.msgs = append(c.msgs, b.msg())
		c.counts = append(c.counts, b.n)
	}
	delete(c.open, b.source)
}

// done closes the messages still open, in source order so that the same
// body always gives the same messages.
func (c *collector) done() {
	for _, src := range slices.Sorted(maps.Keys(c.open)) {
		c.flush(c.open[src])
	}
}

// events counts the events in msgs.
func (c *collector) events() int {
	n := 0
	for _, k := range c.counts {
		n += k
	}
	return n
}

// over reports whether the body has decoded past its budget; decoding
// stops then.
func (c *collector) over() bool { return c.size > c.budget }

func (c *collector) Fail(err *source.RecordError) {
	if len(c.rejected) == 0 {
		c.allNotFormat = true
	}
	c.allNotFormat = c.allNotFormat && errors.Is(err, source.ErrNotFormat)
	c.rejected = append(c.rejected, Rejection{Index: c.n, Error: err.Error()})
	c.n++
}

func (c *collector) Note(string) {}

// Parsed is one event read back from a bus message.
type Parsed struct {
	Event *event.Event
	// Body is the event's JSON as stored for search, a slice of the
	// message.
	Body []byte
}

// ParseMessage reads a bus message back into its events and the time they
// were ingested. An event that cannot be read fails the whole message.
func ParseMessage(data []byte) ([]Parsed, time.Time, error) {
	d := new(jsondoc.Doc)
	if err := d.Parse(data); err != nil {
		return nil, time.Time{}, fmt.Errorf("bus message: %w", err)
	}
	root := d.Root()
	us, ok := root.Get("ingested_at").Int()
	if !ok {
		return nil, time.Time{}, errors.New(`bus message has no "ingested_at"`)
	}
	evs := root.Get("events")
	if evs.Kind() != jsondoc.Array {
		return nil, time.Time{}, errors.New(`bus message has no "events" array`)
	}
	var out []Parsed
	var err error
	evs.Elements(func(i int, v jsondoc.Value) bool {
		var ev *event.Event
		if ev, err = event.FromJSON(v); err != nil {
			err = fmt.Errorf("bus message: events[%d]: %w", i, err)
			return false
		}
		out = append(out, Parsed{Event: ev, Body: v.Raw()})
		return true
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return out, time.UnixMicro(us), nil
}
