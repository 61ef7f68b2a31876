package hunt

import (
	"sync"

	"github.com/vigil-sec/vigil/internal/detect/baseline"
)

// BaselineBatch is how many events a batch of the baselines holds. The
// more events a batch holds, the more of them merge into one record of a
// rule and key (see baseline.Extractor), and the fewer records are
// counted one at a time.
const BaselineBatch = 1024

// maxQueued is how many batches an input after the earliest unfinished
// one may have waiting, as many events as it may have matches waiting;
// past it its worker waits for its turn, so that an input's memory is
// bounded however long it is, as its matches are.
const maxQueued = matchBuffer / BaselineBatch

// maxSpare is how many applied batches are kept for reuse.
const maxSpare = 2 * maxQueued

// baselines counts the batches of the baselines in input order. The
// worker reading the earliest unfinished input (the head) applies each
// batch as soon as it is full, on its own goroutine, while the batch is
// still in that core's cache, and fills it again; the other workers queue
// theirs. When an input becomes the head, its worker applies what it
// queued at its next batch; the queue of an input already finished is
// applied by the worker that finishes the input before it. So each worker
// applies mostly its own batches, and none applies all of them.
type baselines struct {
	ev      *baseline.Evaluator
	mu      sync.Mutex // guards what follows and the evaluator
	turn    *sync.Cond // signalled when head moves on
	head    int        // the earliest unfinished input
	done    []bool     // by input: finished
	queue   [][]*baseline.Batch
	spare   []*baseline.Batch
	matches []baseline.Match // of buckets closed early, for MaxPending
}

func newBaselines(ev *baseline.Evaluator, inputs int) *baselines {
	b := &baselines{ev: ev, done: make([]bool, inputs), queue: make([][]*baseline.Batch, inputs)}
	b.turn = sync.NewCond(&b.mu)
	return b
}

func (b *baselines) keep(m baseline.Match) { b.matches = append(b.matches, m) }

// add counts or queues a batch of input, and returns a batch to fill
// next: the same one once counted, a spare one, or nil for a new one.
func (b *baselines) add(input int, batch *baseline.Batch) *baseline.Batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	for input != b.head && len(b.queue[input]) >= maxQueued {
		b.turn.Wait()
	}
	if input == b.head {
		b.drain(input)
		b.ev.Apply(batch, b.keep)
		return batch
	}
	b.queue[input] = append(b.queue[input], batch)
	if n := len(b.spare); n > 0 {
		s := b.spare[n-1]
		b.spare = b.spare[:n-1]
		return s
	}
	return nil
}

// finish marks input done once its last batch was added, and counts the
// queued batches of the finished inputs that become the head.
func (b *baselines) finish(input int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done[input] = true
	moved := false
	for b.head < len(b.done) && b.done[b.head] {
		b.drain(b.head)
		b.head++
		moved = true
	}
	if moved {
		b.turn.Broadcast()
	}
}

// drain counts the queued batches of input, the head.
func (b *baselines) drain(input int) {
	for _, q := range b.queue[input] {
		b.ev.Apply(q, b.keep)
		if len(b.spare) < maxSpare {
			b.spare = append(b.spare, q)
		}
	}
	b.queue[input] = nil
}
