package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-sec/vigil/internal/detect"
)

// FuzzReadState feeds arbitrary bytes to the reader of serve's state files
// (the store sequence number and an evaluator's snapshot, in a file of
// version 1 or 2): it must return an error or a sequence number, never
// panic, and leave an evaluator that can be snapshotted again, empty if
// the file did not read.
func FuzzReadState(f *testing.F) {
	dir := f.TempDir()
	newEval := func() *Correlations { return NewCorrelations(&detect.Set{}, CorrelationsOptions{}) }
	var empty bytes.Buffer
	if err := newEval().Snapshot(&empty); err != nil {
		f.Fatal(err)
	}
	seed := func(write func(testing.TB, string, int64, Stateful), st Stateful) []byte {
		path := filepath.Join(dir, "seed.ckpt")
		write(f, path, 42, st)
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		return raw
	}
	for _, raw := range [][]byte{
		seed(writeStateFile, newEval()),
		seed(writeStateV1, newEval()),
		seed(writeStateFile, &bulkState{name: "bulk", size: 40_000}),
	} {
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
	}
	f.Add([]byte("VIGILSTA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "state.ckpt")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st := newEval()
		seq, err := readState(path, st)
		if err == nil && seq < 0 {
			t.Fatalf("readState = %d, nil: a negative sequence number", seq)
		}
		var snap bytes.Buffer
		if err := st.Snapshot(&snap); err != nil {
			t.Fatalf("snapshot after readState: %v", err)
		}
		if err != nil && !bytes.Equal(snap.Bytes(), empty.Bytes()) {
			t.Fatalf("readState failed (%v) but left state in the evaluator", err)
		}
	})
}
