package azure

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// decoders are the decoders of this package, in the order auto-detection
// would try them.
var decoders = []source.Decoder{Decoder, EventGridDecoder}

// sampleFiles lists the sample inputs in dir: every file but
// documentation.
func sampleFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".md") || strings.HasPrefix(name, ".") {
			continue
		}
		files = append(files, filepath.Join(dir, name))
	}
	return files
}

// documents splits a sample file into JSON documents: one per line for
// JSON Lines, the whole file otherwise. Gzip files are decompressed.
func documents(t testing.TB, path string) (docs [][]byte, wheres []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = source.Gunzip(b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	name := strings.TrimSuffix(path, ".gz")
	if !strings.HasSuffix(name, ".jsonl") && !strings.HasSuffix(name, ".ndjson") {
		return [][]byte{b}, []string{""}
	}
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		docs = append(docs, line)
		wheres = append(wheres, "line "+strconv.Itoa(i+1))
	}
	return docs, wheres
}

// decodeSample decodes every document of a sample with the decoder that
// detects it, checks the invariants of every event, and renders events,
// failures and notes as JSON lines.
func decodeSample(t *testing.T, path string) []byte {
	t.Helper()
	var out []byte
	docs, wheres := documents(t, path)
	for i, b := range docs {
		d := new(jsondoc.Doc)
		if err := d.Parse(b); err != nil {
			t.Errorf("%s %s: %v", path, wheres[i], err)
			continue
		}
		root := d.Root()
		var found []source.Decoder
		for _, dec := range decoders {
			if dec.Detect(root) {
				found = append(found, dec)
			}
		}
		if len(found) != 1 {
			t.Errorf("%s %s: detected by %d decoders of this package, want 1", path, wheres[i], len(found))
			if len(found) == 0 {
				continue
			}
		}
		var c source.Collect
		if err := found[0].Decode(root, wheres[i], &c); err != nil {
			t.Errorf("%s %s: %v", path, wheres[i], err)
			continue
		}
		for _, e := range c.Events {
			checkEvent(t, path, e)
			out = e.AppendJSON(out, false)
			out = append(out, '\n')
		}
		for _, f := range c.Errors {
			out = append(out, `{"fail":`...)
			out = jsondoc.AppendString(out, f.Error())
			out = append(out, "}\n"...)
		}
		for _, n := range c.Notes {
			out = append(out, `{"note":`...)
			out = jsondoc.AppendString(out, n)
			out = append(out, "}\n"...)
		}
	}
	return out
}

// TestGolden decodes every sample in testdata and compares the result with
// testdata/golden/<sample>.jsonl.
func TestGolden(t *testing.T) {
	for _, path := range sampleFiles(t, "testdata") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got := decodeSample(t, path)
			golden := filepath.Join("testdata", "golden", filepath.Base(path)+".jsonl")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")); diff != "" {
				t.Errorf("%s differs from %s (-want +got):\n%s", path, golden, diff)
			}
		})
	}
}

// TestDetectOtherFormats checks that this package claims none of the
// samples of the other source packages.
func TestDetectOtherFormats(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("..", "*", "testdata"))
	for _, dir := range dirs {
		if filepath.Base(filepath.Dir(dir)) == "azure" {
			continue
		}
		for _, path := range sampleFiles(t, dir) {
			docs, wheres := documents(t, path)
			for i, b := range docs {
				var d jsondoc.Doc
				if d.Parse(b) != nil {
					continue
				}
				for _, dec := range decoders {
					if dec.Detect(d.Root()) {
						t.Errorf("%s detects %s %s", dec.Kind, path, wheres[i])
					}
				}
			}
		}
	}
}
