package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Msg is one message to publish.
type Msg struct {
	// ID identifies the message for deduplication; it becomes the
	// Nats-Msg-Id header. Derive it from the content (such as the IDs of
	// the events the message carries) so that a retried publish is
	// recognized. Required.
	ID string
	// Subject is under "events.", such as "events.aws.cloudtrail".
	Subject string
	// Data is the payload, at most the server's max_payload (1 MiB by
	// default).
	Data []byte
	// Duplicate is set by Publish when JetStream already had a message
	// with this ID within the duplicate window and dropped this one.
	Duplicate bool
}

// Publish stores msgs and returns when every one of them is acknowledged by
// JetStream, which makes them durable (see the package doc for what that
// survives). It publishes asynchronously, then waits for all the
// acknowledgements. duplicates counts messages JetStream already had under
// the same ID within the duplicate window; they are not stored or delivered
// again.
//
// On error some messages may have been stored. The caller retries the whole
// batch, which is safe because of ID deduplication. The error wraps ErrFull
// when the stream is full, ErrUnavailable when the server cannot be reached,
// or ctx's error.
func (b *Bus) Publish(ctx context.Context, msgs []Msg) (duplicates int, err error) {
	for i, m := range msgs {
		if m.ID == "" {
			return 0, fmt.Errorf("bus: publish: message %d (subject %q) has no ID", i, m.Subject)
		}
		if !strings.HasPrefix(m.Subject, SubjectPrefix) || len(m.Subject) == len(SubjectPrefix) {
			return 0, fmt.Errorf("bus: publish: message %d (ID %q) has subject %q; subjects must start with %q", i, m.ID, m.Subject, SubjectPrefix)
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}

	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := b.publishAsync(ctx, m)
		if err != nil {
			return 0, b.publishError(err)
		}
		futures = append(futures, f)
	}

	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				msgs[i].Duplicate = true
				duplicates++
			}
		case err := <-f.Err():
			return duplicates, b.publishError(err)
		case <-ctx.Done():
			return duplicates, fmt.Errorf("bus: publish: waiting for acknowledgements: %w", ctx.Err())
		}
	}
	return duplicates, nil
}

// publishAsync sends one message, waiting while too many acknowledgements
// are outstanding on the connection (concurrent Publish calls share it).
func (b *Bus) publishAsync(ctx context.Context, m Msg) (jetstream.PubAckFuture, error) {
	for {
		nm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: make(nats.Header, 1)}
		f, err := b.js.PublishMsgAsync(nm, jetstream.WithMsgID(m.ID))
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-b.js.PublishAsyncComplete():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// publishError classifies an error from an asynchronous publish.
func (b *Bus) publishError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("bus: publish: %w", err)
	}
	if isFull(err) {
		b.full.Store(true)
		b.kickTrim()
		return fmt.Errorf("%w (max_bytes %d): %w; retry once consumers catch up, or raise bus max_bytes", ErrFull, b.opts.MaxBytes, err)
	}
	return b.unavailable("publish", err)
}

// isFull reports whether err is JetStream refusing a message for lack of
// space: the stream's own limit under discard-new, or the server's.
func isFull(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case 10002, // account resources exceeded
		10023, // insufficient resources
		10047: // storage resources exceeded
		return true
	case 10077: // store failed: {err}
		d := apiErr.Description
		return strings.Contains(d, "maximum bytes exceeded") || strings.Contains(d, "maximum messages exceeded")
	}
	return false
}
