package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// defaultAckWait is how long a delivered message may stay unacknowledged
	// before JetStream redelivers it. Consume keeps a running handler's
	// messages alive with progress acks, so this only matters after a crash:
	// the messages a dead process held come back after at most this long.
	defaultAckWait = 10 * time.Second

	// batchLinger is how long Consume waits, after a batch's first message,
	// for more messages to fill the batch. It bounds the added latency;
	// it can be short because a message already carries a batch of events.
	batchLinger = 5 * time.Millisecond

	// nakDelayMin and nakDelayMax bound the redelivery delay after a handler
	// error; the delay doubles with each delivery of the batch's first message.
	nakDelayMin = time.Second
	nakDelayMax = time.Minute

	// ackConcurrency bounds the acknowledgements in flight for one batch.
	ackConcurrency = 64

	// maxBatch bounds Consume's batch argument.
	maxBatch = 10000
)

// Delivery is one message handed to a Consume handler.
type Delivery struct {
	Subject string
	Data    []byte
	// ID is the message ID given to Publish (the Nats-Msg-Id header).
	ID string
	// Redelivered is true when this consumer received the message before
	// and did not acknowledge it (handler error, crash, or timeout).
	Redelivered bool
	// Seq is the message's sequence number in the stream; it increases in
	// publish order.
	Seq uint64
}

// Consume runs the durable pull consumer name on the stream until ctx is
// done, then returns nil. Several processes may consume the same name; they
// share the messages as a work queue. Use the same batch everywhere for one
// name, since the consumer's configuration is updated to match.
//
// Consume takes up to batch messages at a time (waiting at most 5 ms after
// the first for the batch to fill) and calls handle. If handle returns nil,
// every message of the batch is acknowledged and Consume waits for
// JetStream to confirm each acknowledgement before it takes the next batch,
// so a message is never acknowledged before its handler succeeded, and
// after a crash everything not yet confirmed is redelivered. If handle
// returns an error, the batch is negatively acknowledged and redelivered
// after a delay that starts at one second and doubles per delivery up to
// one minute. Delivery is therefore at least once, in stream order except
// for redeliveries.
//
// The consumer acknowledges explicitly, with an ack wait of 60 seconds
// (renewed while handle runs) and at most 4*batch messages delivered but
// unacknowledged across all processes: each process holds up to 2*batch
// (one batch in handle, one prefetched), so two processes can work at full
// speed, and memory stays bounded however far behind the consumer is.
//
// Consume returns an error that wraps ErrUnavailable if the Bus is closed
// or the connection is lost for good.
func (b *Bus) Consume(ctx context.Context, name string, batch int, handle func(ctx context.Context, ds []Delivery) error) error {
	if batch <= 0 || batch > maxBatch {
		return fmt.Errorf("bus: consume %q: batch %d is out of range 1..%d", name, batch, maxBatch)
	}
	cons, err := b.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "Vigil consumer " + name,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.ackWait,
		MaxDeliver:    -1,
		MaxAckPending: 4 * batch,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return b.unavailable(fmt.Sprintf("consume %q: create consumer", name), err)
	}
	it, err := cons.Messages(
		jetstream.PullMaxMessages(batch),
		jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		return b.unavailable(fmt.Sprintf("consume %q: subscribe", name), err)
	}
	log := b.log.With("consumer", name)
	defer b.stopIterator(it, log)

	msgs := make([]jetstream.Msg, 0, batch)
	ds := make([]Delivery, 0, batch)
	for ctx.Err() == nil {
		msgs = msgs[:0]
		first, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return b.unavailable(fmt.Sprintf("consume %q", name), err)
		}
		msgs = append(msgs, first)
		deadline := time.Now().Add(batchLinger)
		for len(msgs) < batch {
			wait := time.Until(deadline)
			if wait <= 0 {
				break
			}
			m, err := it.Next(jetstream.NextMaxWait(wait))
			if err != nil {
				break // timeout, or a closed iterator that the next round reports
			}
			msgs = append(msgs, m)
		}

		ds = ds[:0]
		var firstDelivered uint64
		for i, m := range msgs {
			d := Delivery{Subject: m.Subject(), Data: m.Data(), ID: m.Headers().Get(jetstream.MsgIDHeader)}
			if md, err := m.Metadata(); err == nil {
				d.Seq = md.Sequence.Stream
				d.Redelivered = md.NumDelivered > 1
				if i == 0 {
					firstDelivered = md.NumDelivered
				}
			}
			ds = append(ds, d)
		}

		herr := b.runHandler(ctx, handle, ds, msgs)
		if herr == nil {
			if err := ackAll(ctx, msgs); err != nil {
				// The messages come back after the ack wait: at least once.
				log.Warn("acknowledgement not confirmed; the batch will be redelivered", "messages", len(msgs), "err", err)
			}
			continue
		}
		if ctx.Err() != nil {
			// Shutting down: hand the batch back at once, for another process
			// or the next start.
			nakAll(msgs, 0)
			return nil
		}
		delay := nakDelay(firstDelivered)
		log.Error("handler failed; batch will be redelivered", "messages", len(msgs), "first_seq", ds[0].Seq, "retry_in", delay, "err", herr)
		nakAll(msgs, delay)
	}
	return nil
}

// runHandler calls handle while renewing the batch's ack wait, so a slow
// handler does not cause redelivery of messages it is still working on.
func (b *Bus) runHandler(ctx context.Context, handle func(context.Context, []Delivery) error, ds []Delivery, msgs []jetstream.Msg) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(b.ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress() // a lost progress ack only risks a redelivery
				}
			}
		}
	}()
	defer wg.Wait()
	defer close(stop)
	return handle(ctx, ds)
}

// stopIterator ends the pull subscription and hands back the messages it had
// prefetched, so that they are redelivered now rather than after the ack
// wait.
func (b *Bus) stopIterator(it jetstream.MessagesContext, log *slog.Logger) {
	it.Drain()
	handedBack := 0
	for {
		m, err := it.Next(jetstream.NextMaxWait(time.Second))
		if err != nil {
			break
		}
		_ = m.Nak()
		handedBack++
	}
	if handedBack > 0 {
		log.Debug("handed back prefetched messages", "messages", handedBack)
	}
}

// ackAll acknowledges msgs and waits until JetStream confirms each
// acknowledgement. It runs even when ctx is done: the handler succeeded.
func ackAll(ctx context.Context, msgs []jetstream.Msg) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, ackConcurrency)
	)
	for _, m := range msgs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := m.DoubleAck(actx); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// nakAll asks for redelivery of msgs after delay (at once if zero).
func nakAll(msgs []jetstream.Msg, delay time.Duration) {
	for _, m := range msgs {
		if delay > 0 {
			_ = m.NakWithDelay(delay)
		} else {
			_ = m.Nak()
		}
	}
}

// nakDelay is the redelivery delay after the delivered-th failed delivery.
func nakDelay(delivered uint64) time.Duration {
	d := nakDelayMin
	for i := uint64(1); i < delivered && d < nakDelayMax; i++ {
		d *= 2
	}
	return min(d, nakDelayMax)
}

// Lag returns how many messages the consumer has not yet finished: those not
// delivered yet plus those delivered but not acknowledged. It is a snapshot
// for metrics and readiness: the server counts new messages asynchronously,
// so it may trail the latest publishes by a moment. The error wraps
// jetstream.ErrConsumerNotFound for a consumer that was never created.
func (b *Bus) Lag(ctx context.Context, consumer string) (pending uint64, err error) {
	c, err := b.stream.Consumer(ctx, consumer)
	if err != nil {
		return 0, b.unavailable(fmt.Sprintf("lag of consumer %q", consumer), err)
	}
	info := c.CachedInfo()
	return info.NumPending + uint64(info.NumAckPending), nil
}
