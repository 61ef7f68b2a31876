package decode

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// TestNativeAliases checks the contract the rule engine relies on: for the
// native fields it reads from the envelope, every decoded event carries
// the record's value unchanged.
func TestNativeAliases(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "source", "*", "testdata", "*"))
	examples, _ := filepath.Glob(filepath.Join("..", "..", "examples", "logs", "*", "*"))
	rd, err := Builtin().NewReader(Options{})
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]int{}
	for _, f := range append(files, examples...) {
		in, err := os.Open(f)
		if err != nil || filepath.Ext(f) == ".md" {
			continue
		}
		var c source.Collect
		rd.Read(in, &c, nil)
		in.Close()
		for _, ev := range c.Events {
			for path, env := range detect.NativeAliases()[ev.Source] {
				var native string
				present := false
				ev.Raw.Find(path, func(v jsondoc.Value) bool {
					native, present = v.Str(), true
					return false
				})
				got, _ := ev.Envelope(env)
				if present && native != got || !present && got != "" {
					t.Errorf("%s: event %s: %s is %q but vigil.%s is %q", f, ev.ID, path, native, env, got)
				}
				checked[ev.Source]++
			}
		}
	}
	for src := range detect.NativeAliases() {
		if checked[src] == 0 {
			t.Errorf("no %s sample checked", src)
		}
	}
}
