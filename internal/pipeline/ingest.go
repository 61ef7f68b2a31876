// Package pipeline moves events from ingest to storage and detection:
// Ingester decodes request bodies and publishes the events to the durable
// bus, answering only once the bus has stored them; Detector consumes the
// bus, stores each event once, runs the rules and raises alerts, all in one
// store transaction per batch acknowledged only after it commits.
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// Envelope of a bus message: the event with the time it was ingested, from
// which detection latency is measured.
func message(ev *event.Event, ingested time.Time, buf []byte) []byte {
	buf = append(buf, `{"ingested_at":`...)
	buf = strconv.AppendInt(buf, ingested.UnixMicro(), 10)
	buf = append(buf, `,"event":`...)
	buf = ev.AppendJSON(buf, true)
	return append(buf, '}')
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
	dups, err := in.bus.Publish(ctx, c.msgs)
	if err != nil {
		if errors.Is(err, bus.ErrFull) || errors.Is(err, bus.ErrUnavailable) {
			return IngestResult{}, fmt.Errorf("%w: %v", ErrBusy, err)
		}
		return IngestResult{}, err
	}
	res.Accepted = len(c.msgs) - dups
	res.Duplicates = dups
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
	seen         map[string]bool
	rejected     []Rejection
	bySource     map[string]int
	// arena holds the messages: each is a slice of it, so that a body's
	// messages take a few large allocations instead of a growing buffer
	// each.
	arena []byte
}

// arenaChunk is the size of the collector's message buffers.
const arenaChunk = 256 << 10

func (c *collector) Event(e *event.Event) {
	c.n++
	if c.seen == nil {
		c.seen, c.bySource = map[string]bool{}, map[string]int{}
	}
	if c.seen[e.ID] {
		return
	}
	c.seen[e.ID] = true
	// The envelope takes far less than 1 KiB beside the raw record, but
	// should it take more, append moves the message to a buffer of its own.
	need := len(e.Raw.Raw()) + 1024
	if cap(c.arena)-len(c.arena) < need {
		c.arena = make([]byte, 0, max(arenaChunk, need))
	}
	start := len(c.arena)
	c.arena = message(e, c.now, c.arena)
	data := c.arena[start:len(c.arena):len(c.arena)]
	if len(data) > c.maxMsg {
		c.rejected = append(c.rejected, Rejection{Index: c.n - 1,
			Error: fmt.Sprintf("event %s is %d KiB, larger than the bus's %d KiB message limit", e.ID, len(data)>>10, c.maxMsg>>10)})
		return
	}
	c.size += len(data)
	c.bySource[e.Source]++
	c.msgs = append(c.msgs, bus.Msg{ID: e.ID, Subject: bus.SubjectPrefix + e.Source, Data: data})
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

// ParseMessage reads a bus message back into its event, the event's JSON
// as stored for search (a slice of data), and the time it was ingested.
func ParseMessage(data []byte) (ev *event.Event, body []byte, ingested time.Time, err error) {
	d := new(jsondoc.Doc)
	if err := d.Parse(data); err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("bus message: %w", err)
	}
	root := d.Root()
	us, ok := root.Get("ingested_at").Int()
	if !ok {
		return nil, nil, time.Time{}, errors.New(`bus message has no "ingested_at"`)
	}
	v := root.Get("event")
	if ev, err = event.FromJSON(v); err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("bus message: %w", err)
	}
	return ev, v.Raw(), time.UnixMicro(us), nil
}
