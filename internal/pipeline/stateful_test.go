package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/state"
)

// TestStateFile reads state files of both versions, whole and damaged:
// a damaged file is an error that says why, and leaves the evaluator
// empty, even when the damage shows only after the evaluator took in the
// snapshot.
func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	const size = 100_000 // several chunks
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeStateFile(t, filepath.Join(dir, "good.ckpt"), 42, &bulkState{name: "bulk", size: size})
	writeStateV1(t, filepath.Join(dir, "v1.ckpt"), 41, &bulkState{name: "bulk", size: size})
	writeStateFile(t, filepath.Join(dir, "foreign.ckpt"), 40, NewCorrelations(&detect.Set{}, CorrelationsOptions{}))
	raw, err := os.ReadFile(filepath.Join(dir, "good.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	damage := func(f func(b []byte) []byte) []byte { return f(slices.Clone(raw)) }
	write("flipped.ckpt", damage(func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }))
	write("bad-checksum.ckpt", damage(func(b []byte) []byte { b[len(b)-1] ^= 0x40; return b }))
	write("short.ckpt", raw[:len(raw)-3])
	write("cut-in-snapshot.ckpt", raw[:len(raw)/2])
	write("trailing.ckpt", append(slices.Clone(raw), 0))
	write("newer.ckpt", damage(func(b []byte) []byte { b[state.MagicLen] = stateVersion + 1; return b }))
	tests := []struct {
		file     string
		wantSeq  int64
		wantSize int64  // bytes restored
		wantErr  string // "" for none
		corrupt  bool   // the error wraps state.ErrCorrupt
	}{
		{"good.ckpt", 42, size, "", false},
		{"v1.ckpt", 41, size, "", false},
		{"missing.ckpt", 0, 0, "no checkpoint", false},
		{"flipped.ckpt", 0, 0, "checksum mismatch", true},
		// The evaluator reads the whole snapshot; then the checksum fails.
		{"bad-checksum.ckpt", 0, 0, "checksum mismatch", true},
		{"short.ckpt", 0, 0, "truncated", true},
		{"cut-in-snapshot.ckpt", 0, 0, "truncated", true},
		{"trailing.ckpt", 0, 0, "data after the checksum", true},
		{"newer.ckpt", 0, 0, "format version 3", true},
		// A whole file whose snapshot is not the evaluator's.
		{"foreign.ckpt", 0, 0, "restoring bulk: snapshot differs from its pattern", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			st := &bulkState{name: "bulk", restored: -1}
			seq, err := readState(filepath.Join(dir, tt.file), st)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("readState error %v, want one that says %q", err, tt.wantErr)
			}
			if errors.Is(err, state.ErrCorrupt) != tt.corrupt {
				t.Errorf("error %v wraps state.ErrCorrupt: %v, want %v", err, !tt.corrupt, tt.corrupt)
			}
			if errors.Is(err, errNoState) != (tt.file == "missing.ckpt") {
				t.Errorf("error %v: wraps errNoState %v", err, !errors.Is(err, errNoState))
			}
			if err != nil && !strings.Contains(err.Error(), tt.file) {
				t.Errorf("error %v does not name the file", err)
			}
			if seq != tt.wantSeq {
				t.Errorf("seq %d, want %d", seq, tt.wantSeq)
			}
			if st.restored != tt.wantSize {
				t.Errorf("evaluator holds %d bytes, want %d", st.restored, tt.wantSize)
			}
		})
	}
}

// TestCorrelationAlertOwnsIDs checks that a correlation alert lists the
// match's first event IDs in copies of its own: a match's IDs share memory
// with the correlator's other matches, which an alert waiting to be sent
// must not keep alive.
func TestCorrelationAlertOwnsIDs(t *testing.T) {
	var all strings.Builder
	var ids []string
	for i := 0; i < alert.MaxEventRefs+5; i++ {
		fmt.Fprintf(&all, "%08x-0000-4000-8000-%012x", i, i)
	}
	shared := all.String()
	for i := 0; i < alert.MaxEventRefs+5; i++ {
		ids = append(ids, shared[36*i:36*(i+1)])
	}
	m := &detect.CorrelationMatch{
		Correlation: &detect.Correlation{Rule: &detect.Rule{ID: "c1", Title: "Burst", Level: "high"}},
		Group:       []detect.GroupValue{{Field: "userIdentity.arn", Value: "arn:aws:iam::111122223333:user/alice"}},
		Time:        time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), Events: ids,
	}
	a := CorrelationAlert(m, m.Time)
	if !slices.Equal(a.EventIDs, ids[:alert.MaxEventRefs]) {
		t.Fatalf("alert lists %q, want the match's first %d IDs", a.EventIDs, alert.MaxEventRefs)
	}
	for i, id := range a.EventIDs {
		if unsafe.StringData(id) == unsafe.StringData(ids[i]) {
			t.Fatalf("event ID %d shares the match's memory", i)
		}
	}
}
