package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-sec/vigil/internal/detect"
)

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	c := NewCorrelations(&detect.Set{}, CorrelationsOptions{})
	body, err := snapshot(c)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.ckpt")
	if err := writeState(good, 42, body); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte{}, raw...)
	flipped[len(flipped)/2] ^= 0x40
	if err := os.WriteFile(filepath.Join(dir, "flipped.ckpt"), flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "short.ckpt"), raw[:len(raw)-3], 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file    string
		wantSeq int64
		noState bool
		wantErr bool
	}{
		{"good.ckpt", 42, false, false},
		{"missing.ckpt", 0, true, true},
		{"flipped.ckpt", 0, false, true},
		{"short.ckpt", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			seq, err := readState(filepath.Join(dir, tt.file), c)
			if (err != nil) != tt.wantErr || errors.Is(err, errNoState) != tt.noState || seq != tt.wantSeq {
				t.Errorf("readState = %d, %v; want seq %d, error %v, no state %v", seq, err, tt.wantSeq, tt.wantErr, tt.noState)
			}
		})
	}
}
