package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-sec/vigil/internal/detect"
)

// FuzzReadState feeds arbitrary bytes to the reader of serve's state files
// (the store sequence number and an evaluator's snapshot): it must return
// an error or a sequence number, never panic, and leave an evaluator that
// can be snapshotted again.
func FuzzReadState(f *testing.F) {
	c := NewCorrelations(&detect.Set{}, CorrelationsOptions{})
	body, err := snapshot(c)
	if err != nil {
		f.Fatal(err)
	}
	good := filepath.Join(f.TempDir(), "good.ckpt")
	if err := writeState(good, 42, body); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add([]byte("VIGILSTA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "state.ckpt")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st := NewCorrelations(&detect.Set{}, CorrelationsOptions{})
		seq, err := readState(path, st)
		if err == nil && seq < 0 {
			t.Fatalf("readState = %d, nil: a negative sequence number", seq)
		}
		if _, err := snapshot(st); err != nil {
			t.Fatalf("snapshot after readState: %v", err)
		}
	})
}
