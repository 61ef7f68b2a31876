package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/state"
	"github.com/vigil-sec/vigil/internal/store"
)

// bulkPeriod is the period of the bytes a bulkState snapshot is made of.
const bulkPeriod = 251

// bulkBytes holds the pattern of bulkState snapshots, one 64 KiB block
// from any offset within a period.
var bulkBytes = func() []byte {
	p := make([]byte, 64<<10+bulkPeriod)
	for i := range p {
		p[i] = byte(i % bulkPeriod)
	}
	return p
}()

// bulkState is a Stateful whose snapshot is size bytes of a pattern
// (written 64 KiB at a time, from memory it holds once), so that a test
// can checkpoint a large state without the evaluator holding it. Restore
// checks the pattern and keeps the number of bytes it read; on error it
// keeps 0, as an evaluator left empty.
type bulkState struct {
	name     string
	size     int64
	fail     error // Snapshot returns it half-way through
	restored int64
}

var _ Stateful = (*bulkState)(nil)

func (b *bulkState) Name() string                          { return b.name }
func (b *bulkState) NewObserver(*detect.Set) Observer      { return nil }
func (b *bulkState) Feed([]any, func(*alert.Alert))        {}
func (b *bulkState) Advance(time.Time, func(*alert.Alert)) {}
func (b *bulkState) SetRules(*detect.Set) error            { return nil }

func (b *bulkState) Snapshot(w io.Writer) error {
	block := bulkBytes[:len(bulkBytes)-bulkPeriod]
	block = block[:len(block)/bulkPeriod*bulkPeriod] // whole periods
	for n := int64(0); n < b.size; {
		if b.fail != nil && n >= b.size/2 {
			return b.fail
		}
		k := min(int64(len(block)), b.size-n)
		if _, err := w.Write(block[:k]); err != nil {
			return err
		}
		n += k
	}
	return nil
}

func (b *bulkState) Restore(r io.Reader) error {
	b.restored = 0
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		at := int(n % bulkPeriod)
		if !bytes.Equal(buf[:k], bulkBytes[at:at+k]) {
			return fmt.Errorf("snapshot differs from its pattern in bytes %d to %d", n, n+int64(k))
		}
		n += int64(k)
		if err == io.EOF {
			b.restored = n
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// writeStateFile checkpoints st to path as Checkpoint does.
func writeStateFile(t testing.TB, path string, seq int64, st Stateful) {
	t.Helper()
	p, err := prepareState(path, seq, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
}

// writeStateV1 writes a state file of version 1, as releases before
// version 2 did: the sequence number and the snapshot as one string.
func writeStateV1(t testing.TB, path string, seq int64, st Stateful) {
	t.Helper()
	var snap bytes.Buffer
	if err := st.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	err := state.WriteFile(path, stateMagic, 1, func(e *state.Encoder) error {
		e.Uvarint(uint64(seq))
		e.String(snap.String())
		return e.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStateFileUpgrade restores baselines that learned from a state file
// of version 1, and checks that what they learned survives the upgrade
// and the next checkpoint, of version 2.
func TestStateFileUpgrade(t *testing.T) {
	dir := t.TempDir()
	learned := newTestBaselines(t)
	if got := feedCalls(learned, 0, "alice ListRoles", "alice ListRoles", "alice ListRoles", "alice ListRoles", "alice ListRoles", "alice ListRoles", "alice ListRoles"); len(got) != 0 {
		t.Fatalf("alerts while learning: %v", got)
	}
	v1 := filepath.Join(dir, "v1.ckpt")
	writeStateV1(t, v1, 7, learned)
	restored := newTestBaselines(t)
	seq, err := readState(v1, restored)
	if err != nil || seq != 7 {
		t.Fatalf("readState of a version 1 file = %d, %v; want 7", seq, err)
	}
	v2 := filepath.Join(dir, "v2.ckpt")
	writeStateFile(t, v2, 8, restored)
	if raw, err := os.ReadFile(v2); err != nil || raw[state.MagicLen] != stateVersion {
		t.Fatalf("the next checkpoint is not of version %d: %v", stateVersion, err)
	}
	again := newTestBaselines(t)
	if seq, err := readState(v2, again); err != nil || seq != 8 {
		t.Fatalf("readState of the version 2 file = %d, %v; want 8", seq, err)
	}
	// A learned rule fires on a new action; one learning anew does not.
	got := feedCalls(again, 10, "alice ListRoles", "alice GetSecretValue", "bob ListUsers", "bob ListUsers")
	if diff := cmp.Diff([]string{"alice GetSecretValue"}, got); diff != "" {
		t.Errorf("alerts after the upgrade (-want +got):\n%s", diff)
	}
}

// newStateDetector returns a detector, on an empty store, checkpointing
// the evaluators sts to dir.
func newStateDetector(t *testing.T, dir string, sts ...Stateful) *Detector {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return NewDetector(nil, db, detect.Load(nil, detect.Options{}), DetectorOptions{Stateful: sts, StateDir: dir})
}

// TestCheckpointMemory checkpoints and restores an evaluator whose state
// is 64 MiB: neither may hold a copy of it in memory, so each allocates a
// small fraction of its size.
func TestCheckpointMemory(t *testing.T) {
	const size = 64 << 20
	dir := t.TempDir()
	st := &bulkState{name: "bulk", size: size}
	d := newStateDetector(t, dir, st)
	if err := d.Restore(context.Background()); err != nil { // checkpoints once
		t.Fatal(err)
	}
	var ckpt, restore uint64
	ckpt = measureAlloc(t, func() {
		if err := d.Checkpoint(); err != nil {
			t.Fatal(err)
		}
	})
	path := filepath.Join(dir, "bulk.ckpt")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() < size {
		t.Fatalf("checkpoint of %d bytes for a %d-byte state", info.Size(), size)
	}
	back := &bulkState{name: "bulk"}
	restore = measureAlloc(t, func() {
		if _, err := readState(path, back); err != nil {
			t.Fatal(err)
		}
	})
	if back.restored != size {
		t.Errorf("restored %d bytes, want %d", back.restored, size)
	}
	t.Logf("%d MiB state, %d-byte file: Checkpoint allocated %d KiB, readState %d KiB", size>>20, info.Size(), ckpt>>10, restore>>10)
	const limit = 8 << 20
	if ckpt > limit {
		t.Errorf("Checkpoint of a %d-byte state allocated %d bytes, more than %d: it holds a copy of the state", size, ckpt, limit)
	}
	if restore > limit {
		t.Errorf("readState of a %d-byte state allocated %d bytes, more than %d: it holds a copy of the state", size, restore, limit)
	}
}

// measureAlloc returns the bytes the process allocated while f ran.
func measureAlloc(t *testing.T, f func()) uint64 {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestCheckpointFailure checks that an evaluator whose snapshot fails
// half-way keeps its previous checkpoint, whole, while the others are
// written; and that Restore removes what a stop in mid-checkpoint leaves.
func TestCheckpointFailure(t *testing.T) {
	dir := t.TempDir()
	good := &bulkState{name: "good", size: 100}
	bad := &bulkState{name: "bad", size: 3 << 20}
	d := newStateDetector(t, dir, good, bad)
	// A temporary file of a checkpoint that a stop interrupted.
	if err := os.WriteFile(filepath.Join(dir, "bad.ckpt.tmp-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	onlyCheckpoints := func(when string) {
		t.Helper()
		want := []string{filepath.Join(dir, "bad.ckpt"), filepath.Join(dir, "good.ckpt")}
		if got, err := filepath.Glob(filepath.Join(dir, "*")); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s the state directory holds %v (%v), want %v", when, got, err, want)
		}
	}
	onlyCheckpoints("after Restore")
	boom := errors.New("boom")
	bad.fail = boom
	good.size = 200
	if err := d.Checkpoint(); !errors.Is(err, boom) {
		t.Errorf("Checkpoint = %v, want boom", err)
	}
	onlyCheckpoints("after a failed checkpoint")
	for _, tt := range []struct {
		name string
		want int64
	}{{"good", 200}, {"bad", 3 << 20}} {
		back := &bulkState{}
		if _, err := readState(filepath.Join(dir, tt.name+".ckpt"), back); err != nil || back.restored != tt.want {
			t.Errorf("%s.ckpt restores %d bytes, %v; want %d", tt.name, back.restored, err, tt.want)
		}
	}
}
