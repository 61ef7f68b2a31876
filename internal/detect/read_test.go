package detect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// TestReadFilesBoundsAndFilters checks that rule files are chosen by name
// and that a file larger than MaxFileSize is refused, not read whole.
func TestReadFilesBoundsAndFilters(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yml":          {Data: []byte("title: a")},
		"a.tests.yml":    {Data: []byte("cases: []")},
		"b/c.yaml":       {Data: []byte("title: c")},
		"notes.md":       {Data: []byte("#")},
		"d.baseline":     {Data: []byte("kind: rate")},
		"big/huge.yml":   {Data: []byte(strings.Repeat("#", MaxFileSize+1))},
		"big/other.yaml": {Data: []byte("title: o")},
	}
	files, err := ReadFiles(fsys, "b", IsRuleFile)
	if err != nil || len(files) != 1 || files[0].Name != "b/c.yaml" {
		t.Fatalf("ReadFiles(b) = %v, %v", files, err)
	}
	if _, err := ReadFiles(fsys, ".", IsRuleFile); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a file over MaxFileSize: err = %v", err)
	}
	other, err := ReadFiles(fsys, ".", func(n string) bool { return strings.HasSuffix(n, ".baseline") })
	if err != nil || len(other) != 1 || other[0].Name != "d.baseline" {
		t.Fatalf("ReadFiles(.baseline) = %v, %v", other, err)
	}

	dir := t.TempDir()
	big := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", MaxFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPaths([]string{big}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("ReadPaths of a file over MaxFileSize: err = %v", err)
	}
}
