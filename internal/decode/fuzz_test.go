package decode

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-sec/vigil/internal/source"
)

// FuzzRead runs every built-in decoder, in auto mode, over arbitrary input:
// nothing may panic, and every event must carry its cloud and source.
func FuzzRead(f *testing.F) {
	samples, _ := filepath.Glob(filepath.Join("..", "source", "*", "testdata", "*"))
	for _, p := range samples {
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte("{\"k\":1}\n{\"Records\":[{}]}\n"))
	f.Add([]byte("START RequestId: 1 Version: $LATEST\nREPORT RequestId: 1\tDuration: 1 ms"))
	rd, err := Builtin().NewReader(Options{MaxDocument: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var c source.Collect
		rd.Read(bytes.NewReader(in), &c, nil)
		for _, e := range c.Events {
			if e.Cloud == "" || e.Source == "" {
				t.Fatalf("event without cloud or source: %+v", e)
			}
			e.AppendJSON(nil, true)
		}
	})
}
