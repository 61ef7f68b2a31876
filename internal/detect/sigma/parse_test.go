package sigma

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestValidGolden parses every file in testdata/valid and compares a dump of
// the result with testdata/golden/<name>.golden.
func TestValidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no test files in testdata/valid")
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := Parse(name, data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := dump(docs)
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(name, ".yml")+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("dump mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInvalid parses every file in testdata/invalid. The leading
// "# want: file:line:col: message" comment lines list every expected error.
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("only %d invalid test files, want at least 25", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := wantErrors(data)
			if len(want) == 0 {
				t.Fatal("file has no \"# want:\" line")
			}
			_, err = Parse(name, data)
			if err == nil {
				t.Fatalf("Parse succeeded, want errors:\n%s", strings.Join(want, "\n"))
			}
			list, ok := err.(ErrorList)
			if !ok {
				t.Fatalf("Parse returned %T, want ErrorList", err)
			}
			var got []string
			for _, e := range list {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// wantErrors reads the "# want: " lines at the top of a test file.
func wantErrors(data []byte) []string {
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# want: ")
		if !ok {
			break
		}
		want = append(want, line)
	}
	return want
}
