package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/good")

// TestGood parses every file in testdata/good, compares Redacted() with the
// golden file next to it, and checks that the printed config parses back to
// the same config.
func TestGood(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse("vigil.yaml", data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := cfg.Redacted()
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Redacted() differs from %s (-want +got):\n%s", golden, diff)
			}
			assertRoundTrip(t, cfg)
		})
	}
}

// assertRoundTrip checks that Redacted() of cfg parses back to cfg, but
// for the values of secrets, which print as <secret>.
func assertRoundTrip(t *testing.T, cfg *Config) {
	t.Helper()
	printed := cfg.Redacted()
	again, err := decodeOnly("printed.yaml", []byte(printed))
	if err != nil {
		t.Fatalf("the printed config does not parse: %v\n%s", err, printed)
	}
	if diff := cmp.Diff(cfg, again, secretsSet); diff != "" {
		t.Errorf("the printed config parses to a different config (-want +got):\n%s", diff)
	}
}

// secretsSet compares secrets by whether they are set: Redacted hides
// their values.
var secretsSet = cmp.Comparer(func(a, b Secret) bool { return (a == "") == (b == "") })

// decodeOnly decodes a config file without validating it: a printed
// config has <secret> where a receiver may want a URL.
func decodeOnly(name string, data []byte) (*Config, error) {
	cfg := Default()
	l := newLoader(name)
	l.readSecret = func(path string) (Secret, error) { return "", fmt.Errorf("no secret files here (%s)", path) }
	l.decodeFile(cfg, data)
	return cfg, l.result()
}

// TestBad parses every file in testdata/bad. Each starts with one or more
// "# want: <substring>" lines; the load must fail with exactly that many
// problems, each containing its substring, in order. A "# grow-to: N" line
// pads the file with comments to N bytes.
func TestBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) < 15 {
		t.Fatalf("want at least 15 bad files, have %d: %v", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			wants, grow := directives(t, data)
			if grow > 0 {
				data = pad(data, grow)
			}
			_, err = Parse("vigil.yaml", data)
			if err == nil {
				t.Fatalf("Parse succeeded; want %q", wants)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not Errors: %v", err, err)
			}
			if len(errs) != len(wants) {
				t.Fatalf("got %d problems, want %d:\n%v\nwant:\n%s", len(errs), len(wants), err, strings.Join(wants, "\n"))
			}
			for i, want := range wants {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("problem %d:\n got: %s\nwant: …%s…", i+1, errs[i], want)
				}
			}
			if lines := strings.Split(err.Error(), "\n"); len(lines) != len(wants) {
				t.Errorf("Error() has %d lines, want one per problem:\n%v", len(lines), err)
			}
		})
	}
}

// directives reads the leading "# want:" and "# grow-to:" lines of a bad file.
func directives(t *testing.T, data []byte) (wants []string, grow int) {
	for line := range strings.SplitSeq(string(data), "\n") {
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			wants = append(wants, w)
			continue
		}
		if g, ok := strings.CutPrefix(line, "# grow-to: "); ok {
			n, err := strconv.Atoi(g)
			if err != nil {
				t.Fatalf("bad grow-to line %q", line)
			}
			grow = n
			continue
		}
		break
	}
	if len(wants) == 0 {
		t.Fatal("the file does not start with a # want: line")
	}
	return wants, grow
}

// pad appends comment lines to data until it is n bytes long.
func pad(data []byte, n int) []byte {
	buf := bytes.NewBuffer(data)
	line := "# " + strings.Repeat("padding ", 9) + "\n"
	for buf.Len()+len(line) <= n {
		buf.WriteString(line)
	}
	for buf.Len() < n-1 {
		buf.WriteString("#")
	}
	buf.WriteString("\n")
	return buf.Bytes()
}
