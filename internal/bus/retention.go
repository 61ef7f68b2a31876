package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// trimLoop purges consumed messages every trimInterval, and soon after a
// publish found the stream full.
func (b *Bus) trimLoop() {
	defer b.wg.Done()
	t := time.NewTicker(trimInterval)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
		case <-b.trimKick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		if _, err := b.trim(ctx); err != nil && b.nc.IsConnected() {
			b.log.Warn("trimming consumed events failed; will retry", "err", err)
		}
		cancel()
	}
}

// kickTrim asks trimLoop for a pass now.
func (b *Bus) kickTrim() {
	select {
	case b.trimKick <- struct{}{}:
	default:
	}
}

// trim removes the messages that every consumer of the stream has
// acknowledged, and returns how many it removed. With no consumer it
// removes nothing: a message is kept until something has consumed it.
//
// The floor of a consumer is its ack floor (every message at or below it is
// acknowledged or not in its filter), or, when it has no unacknowledged
// message, the last stream sequence it has moved past. Both come from one
// consistent snapshot of the consumer; NumPending is not used because the
// server updates it asynchronously.
func (b *Bus) trim(ctx context.Context) (uint64, error) {
	si, err := b.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	last, first, before := si.State.LastSeq, si.State.FirstSeq, si.State.Msgs

	floor, holder, n := last, "", 0
	lister := b.stream.ListConsumers(ctx)
	for ci := range lister.Info() {
		n++
		f := ci.AckFloor.Stream
		if ci.NumAckPending == 0 {
			f = max(f, ci.Delivered.Stream)
		}
		if f < floor {
			floor, holder = f, ci.Name
		}
	}
	if err := lister.Err(); err != nil {
		return 0, fmt.Errorf("list consumers: %w", err)
	}
	if n == 0 || floor < first {
		b.noteRoom(si)
		b.warnIfNearlyFull(si, holder)
		return 0, nil
	}
	if err := b.stream.Purge(ctx, jetstream.WithPurgeSequence(floor+1)); err != nil {
		return 0, fmt.Errorf("purge below %d: %w", floor+1, err)
	}
	si, err = b.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	removed := before - min(before, si.State.Msgs) // approximate if publishes raced
	b.log.Debug("trimmed consumed events", "up_to_seq", floor, "messages", removed)
	b.noteRoom(si)
	b.warnIfNearlyFull(si, holder)
	return removed, nil
}

// warnIfNearlyFull logs when the stream is over 80% of MaxBytes, naming the
// consumer that holds the oldest unacknowledged message.
func (b *Bus) warnIfNearlyFull(si *jetstream.StreamInfo, holder string) {
	limit := si.Config.MaxBytes
	if limit <= 0 || si.State.Bytes*5 < uint64(limit)*4 {
		return
	}
	if holder == "" {
		holder = "(no consumer yet)"
	}
	b.log.Warn("event stream is over 80% full; publishes will fail with ErrFull when it is full",
		"bytes", si.State.Bytes, "max_bytes", limit, "slowest_consumer", holder)
}

// noteRoom clears the full flag once the stream is below 90% of its limit,
// so that ingest, which stops decoding while the bus is full, resumes with
// room for more than one batch.
func (b *Bus) noteRoom(si *jetstream.StreamInfo) {
	limit := si.Config.MaxBytes
	if limit <= 0 || si.State.Bytes*10 < uint64(limit)*9 {
		b.full.Store(false)
	}
}
