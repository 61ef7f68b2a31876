package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testLogger sends the bus's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// openBus opens an embedded Bus on dir and closes it when the test ends.
func openBus(t testing.TB, opts Options) *Bus {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	b, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// makeMsgs returns n messages with IDs prefix-0000.. and payloads of size
// bytes.
func makeMsgs(prefix string, n, size int) []Msg {
	msgs := make([]Msg, n)
	for i := range msgs {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		data := []byte(strings.Repeat("x", max(0, size-len(id))) + id)
		msgs[i] = Msg{ID: id, Subject: "events.aws.cloudtrail", Data: data}
	}
	return msgs
}

func ids(ds []Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func msgIDs(ms []Msg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// collect consumes with consumer name until it has at least n deliveries,
// then stops and returns them in delivery order.
func collect(t *testing.T, b *Bus, name string, batch, n int) []Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []Delivery
	err := b.Consume(ctx, name, batch, func(_ context.Context, ds []Delivery) error {
		got = append(got, ds...)
		if len(got) >= n {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if len(got) < n {
		t.Fatalf("consumed %d messages before the deadline, want %d", len(got), n)
	}
	return got
}

// assertNothingMore checks that consumer name has nothing left to deliver.
func assertNothingMore(t *testing.T, b *Bus, name string) {
	t.Helper()
	lag, err := b.Lag(context.Background(), name)
	if err != nil {
		t.Fatalf("Lag: %v", err)
	}
	if lag != 0 {
		t.Errorf("Lag(%q) = %d after consuming everything, want 0", name, lag)
	}
}

func TestReopenDeliversOnceInOrder(t *testing.T) {
	dir := t.TempDir()
	msgs := makeMsgs("ev", 120, 200)

	b := openBus(t, Options{Dir: dir})
	for _, part := range [][]Msg{msgs[:50], msgs[50:]} {
		dups, err := b.Publish(context.Background(), part)
		if err != nil || dups != 0 {
			t.Fatalf("Publish = %d, %v; want 0, nil", dups, err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b = openBus(t, Options{Dir: dir})
	got := collect(t, b, "detect", 32, len(msgs))
	if diff := cmp.Diff(msgIDs(msgs), ids(got)); diff != "" {
		t.Errorf("delivered IDs differ (-published +delivered):\n%s", diff)
	}
	for i, d := range got {
		if d.Redelivered {
			t.Errorf("delivery %d (%s) is marked redelivered", i, d.ID)
		}
		if i > 0 && d.Seq <= got[i-1].Seq {
			t.Errorf("delivery %d has seq %d after %d", i, d.Seq, got[i-1].Seq)
		}
		if d.Subject != msgs[i].Subject || string(d.Data) != string(msgs[i].Data) {
			t.Errorf("delivery %d = %q %q, want %q %q", i, d.Subject, d.Data, msgs[i].Subject, msgs[i].Data)
		}
	}
	assertNothingMore(t, b, "detect")
}

func TestDuplicatesAreNotDeliveredAgain(t *testing.T) {
	b := openBus(t, Options{Dir: t.TempDir()})
	ctx := context.Background()
	msgs := makeMsgs("dup", 20, 100)

	if dups, err := b.Publish(ctx, msgs[:10]); err != nil || dups != 0 {
		t.Fatalf("first Publish = %d, %v; want 0, nil", dups, err)
	}
	// A retried batch: the first half was stored before, the second is new.
	dups, err := b.Publish(ctx, msgs)
	if err != nil || dups != 10 {
		t.Fatalf("retried Publish = %d, %v; want 10, nil", dups, err)
	}
	got := collect(t, b, "detect", 50, len(msgs))
	if diff := cmp.Diff(msgIDs(msgs), ids(got)); diff != "" {
		t.Errorf("delivered IDs differ (-want +got):\n%s", diff)
	}
	assertNothingMore(t, b, "detect")
}

func TestHandlerErrorRedelivers(t *testing.T) {
	b := openBus(t, Options{Dir: t.TempDir()})
	msgs := makeMsgs("retry", 5, 100)
	if _, err := b.Publish(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var calls int
	var first, second []Delivery
	err := b.Consume(ctx, "detect", 10, func(_ context.Context, ds []Delivery) error {
		calls++
		if calls == 1 {
			first = append(first, ds...)
			return errors.New("rule store unavailable")
		}
		second = append(second, ds...)
		if len(second) >= len(msgs) {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if len(first) == 0 {
		t.Fatal("handler never called")
	}
	for _, d := range first {
		if d.Redelivered {
			t.Errorf("first delivery of %s marked redelivered", d.ID)
		}
	}
	if diff := cmp.Diff(msgIDs(msgs), ids(second)); diff != "" {
		t.Errorf("after the failure, delivered IDs differ (-want +got):\n%s", diff)
	}
	failed := map[string]bool{}
	for _, d := range first {
		failed[d.ID] = true
	}
	for _, d := range second {
		if d.Redelivered != failed[d.ID] {
			t.Errorf("%s: Redelivered = %v, want %v", d.ID, d.Redelivered, failed[d.ID])
		}
	}
	assertNothingMore(t, b, "detect")
}

func TestUnackedComeBackAfterCrash(t *testing.T) {
	dir := t.TempDir()
	msgs := makeMsgs("crash", 10, 100)

	b, err := Open(context.Background(), Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	b.ackWait = 2 * time.Second
	if _, err := b.Publish(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	received := make(chan int, 1)
	release := make(chan struct{})
	consumeErr := make(chan error, 1)
	go func() {
		consumeErr <- b.Consume(context.Background(), "detect", len(msgs), func(_ context.Context, ds []Delivery) error {
			received <- len(ds)
			<-release // the process "dies" while handling
			return nil
		})
	}()
	select {
	case <-received:
	case <-time.After(10 * time.Second):
		t.Fatal("no batch delivered")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	close(release)
	if err := <-consumeErr; !errors.Is(err, ErrUnavailable) {
		t.Errorf("Consume after Close = %v, want ErrUnavailable", err)
	}

	b = openBus(t, Options{Dir: dir})
	b.ackWait = 2 * time.Second
	got := collect(t, b, "detect", len(msgs), len(msgs))
	if diff := cmp.Diff(msgIDs(msgs), ids(got)); diff != "" {
		t.Errorf("redelivered IDs differ (-want +got):\n%s", diff)
	}
	for _, d := range got {
		if !d.Redelivered {
			t.Errorf("%s: Redelivered = false after a crash", d.ID)
		}
	}
	assertNothingMore(t, b, "detect")
}

func TestFullStreamRefusesNewAndKeepsAcknowledged(t *testing.T) {
	b := openBus(t, Options{Dir: t.TempDir(), MaxBytes: 64 << 10})
	ctx := context.Background()

	var acked []string
	var fullErr error
	for i := 0; i < 200 && fullErr == nil; i++ {
		batch := makeMsgs(fmt.Sprintf("b%03d", i), 10, 1000)
		if _, err := b.Publish(ctx, batch); err != nil {
			fullErr = err
			break
		}
		acked = append(acked, msgIDs(batch)...)
	}
	if !errors.Is(fullErr, ErrFull) {
		t.Fatalf("publishing past MaxBytes: err = %v, want ErrFull", fullErr)
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the stream was full")
	}
	if !b.Full() {
		t.Error("Full() = false after a publish found the stream full")
	}

	got := collect(t, b, "detect", 100, len(acked))
	seen := map[string]bool{}
	for _, d := range got {
		seen[d.ID] = true
	}
	for _, id := range acked {
		if !seen[id] {
			t.Errorf("acknowledged message %s is missing", id)
		}
	}

	// Once consumed, trimming makes room again.
	removed, err := b.trim(ctx)
	if err != nil || removed == 0 {
		t.Fatalf("trim = %d, %v; want > 0, nil", removed, err)
	}
	if b.Full() {
		t.Error("Full() = true after a trim emptied the stream")
	}
	if _, err := b.Publish(ctx, makeMsgs("after", 10, 1000)); err != nil {
		t.Errorf("Publish after trim: %v", err)
	}
}

func TestTrimKeepsWhatAnyConsumerStillNeeds(t *testing.T) {
	b := openBus(t, Options{Dir: t.TempDir()})
	ctx := context.Background()
	msgs := makeMsgs("t", 30, 100)
	if _, err := b.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	assertRemoved := func(want uint64) {
		t.Helper()
		if removed, err := b.trim(ctx); err != nil || removed != want {
			t.Fatalf("trim = %d, %v; want %d, nil", removed, err, want)
		}
	}

	assertRemoved(0) // no consumer yet: everything is kept
	collect(t, b, "detect", 100, len(msgs))

	// "store" exists but has acknowledged nothing: its handler fails once
	// and it stops.
	cctx, cancel := context.WithCancel(ctx)
	err := b.Consume(cctx, "store", 10, func(context.Context, []Delivery) error {
		cancel()
		return errors.New("database down")
	})
	if err != nil {
		t.Fatal(err)
	}
	assertRemoved(0)

	collect(t, b, "store", 100, len(msgs))
	assertRemoved(uint64(len(msgs)))
	assertNothingMore(t, b, "detect")
	assertNothingMore(t, b, "store")
}

func TestLag(t *testing.T) {
	b := openBus(t, Options{Dir: t.TempDir()})
	ctx := context.Background()
	if _, err := b.Publish(ctx, makeMsgs("lag", 10, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lag(ctx, "nobody"); err == nil {
		t.Error("Lag of a missing consumer: err = nil")
	}

	// Handle one batch of 4, then stop.
	cctx, cancel := context.WithCancel(ctx)
	handled := 0
	err := b.Consume(cctx, "detect", 4, func(_ context.Context, ds []Delivery) error {
		handled += len(ds)
		cancel()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if handled == 0 || handled > 4 {
		t.Fatalf("handled %d messages, want 1..4", handled)
	}
	lag, err := b.Lag(ctx, "detect")
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(10 - handled); lag != want {
		t.Errorf("Lag = %d, want %d", lag, want)
	}

	if _, err := b.Publish(ctx, makeMsgs("more", 5, 100)); err != nil {
		t.Fatal(err)
	}
	// The server counts new messages asynchronously: wait for it.
	want := uint64(15 - handled)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		lag, err = b.Lag(ctx, "detect")
		if err != nil {
			t.Fatal(err)
		}
		if lag == want || time.Now().After(deadline) {
			break
		}
	}
	if lag != want {
		t.Errorf("Lag after 5 more = %d, want %d", lag, want)
	}
	collect(t, b, "detect", 100, 15-handled)
	assertNothingMore(t, b, "detect")
}

func TestConsumeStopsOnCancel(t *testing.T) {
	b := openBus(t, Options{Dir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(ctx, "detect", 100, func(context.Context, []Delivery) error { return nil })
	}()
	time.Sleep(200 * time.Millisecond) // let it block waiting for messages
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Consume after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Consume did not return within 5s of cancellation")
	}
}

func TestCancelHandsBackPrefetched(t *testing.T) {
	b := openBus(t, Options{Dir: t.TempDir()})
	ctx := context.Background()
	msgs := makeMsgs("hb", 40, 100)
	if _, err := b.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	// Stop after one batch of 10, with more prefetched; a restart must get
	// the rest at once, not after the ack wait.
	cctx, cancel := context.WithCancel(ctx)
	var first []Delivery
	if err := b.Consume(cctx, "detect", 10, func(_ context.Context, ds []Delivery) error {
		first = append(first, ds...)
		cancel()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rest := collect(t, b, "detect", 10, len(msgs)-len(first))
	if waited := time.Since(start); waited > b.ackWait/2 {
		t.Errorf("remaining messages took %s, as if waiting for the ack wait", waited)
	}
	got := append(first, rest...)
	seen := map[string]int{}
	for _, d := range got {
		seen[d.ID]++
	}
	for _, m := range msgs {
		if seen[m.ID] != 1 {
			t.Errorf("%s delivered %d times, want 1", m.ID, seen[m.ID])
		}
	}
}

func TestPublishRejectsBadMessages(t *testing.T) {
	b := openBus(t, Options{Dir: t.TempDir()})
	tests := []struct {
		name string
		msg  Msg
		want string
	}{
		{"no ID", Msg{Subject: "events.aws.cloudtrail", Data: []byte("{}")}, "has no ID"},
		{"outside events", Msg{ID: "1", Subject: "alerts.x", Data: []byte("{}")}, `must start with "events."`},
		{"bare prefix", Msg{ID: "1", Subject: "events.", Data: []byte("{}")}, `must start with "events."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Publish(context.Background(), []Msg{tt.msg})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Publish = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if dups, err := b.Publish(context.Background(), nil); err != nil || dups != 0 {
		t.Errorf("Publish(nil) = %d, %v; want 0, nil", dups, err)
	}
}

func TestPublishAfterCloseIsUnavailable(t *testing.T) {
	b, err := Open(context.Background(), Options{Dir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Ready() {
		t.Error("Ready() = false on an open bus")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b.Ready() {
		t.Error("Ready() = true after Close")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err = b.Publish(context.Background(), makeMsgs("late", 1, 10))
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Publish after Close = %v, want ErrUnavailable", err)
	}
}

func TestDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	openBus(t, Options{Dir: dir})
	_, err := Open(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second Open on the same Dir = %v, want an in-use error", err)
	}
}

func TestDirIsPrivate(t *testing.T) {
	dir := t.TempDir() + "/bus"
	openBus(t, Options{Dir: dir})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("storage directory mode = %o, want 700", perm)
	}
}

func TestOpenNeedsDirOrURL(t *testing.T) {
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Error("Open with neither Dir nor URL succeeded")
	}
}

func TestOpenUnreachableURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	_, err := Open(ctx, Options{URL: "nats://vigil:s3cret@127.0.0.1:1"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://u:p@a:4222,nats://b:4222", "nats://redacted@a:4222,nats://b:4222"},
		{"nats://token@a:4222", "nats://redacted@a:4222"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNakDelay(t *testing.T) {
	tests := []struct {
		delivered uint64
		want      time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{7, time.Minute}, {1000, time.Minute},
	}
	for _, tt := range tests {
		if got := nakDelay(tt.delivered); got != tt.want {
			t.Errorf("nakDelay(%d) = %s, want %s", tt.delivered, got, tt.want)
		}
	}
}

func TestConcurrentPublishers(t *testing.T) {
	b := openBus(t, Options{Dir: t.TempDir()})
	const publishers, batches, size = 4, 5, 500
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				if _, err := b.Publish(context.Background(), makeMsgs(fmt.Sprintf("p%d-b%d", p, i), size, 100)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lag, err := b.Lag(context.Background(), "fresh")
	if err == nil {
		t.Fatalf("Lag of a consumer never created = %d, nil", lag)
	}
	got := collect(t, b, "detect", 500, publishers*batches*size)
	if len(got) != publishers*batches*size {
		t.Errorf("got %d messages, want %d", len(got), publishers*batches*size)
	}
}
