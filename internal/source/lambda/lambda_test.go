package lambda

import (
	"bytes"
	"errors"
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

var update = flag.Bool("update", false, "rewrite testdata/golden files")

// decodeFile decodes a sample as the decode command does: one JSON
// document, JSON Lines, or else text lines.
func decodeFile(t *testing.T, b []byte) *source.Collect {
	t.Helper()
	b, err := source.Gunzip(b)
	if err != nil {
		t.Fatal(err)
	}
	c := new(source.Collect)
	var d jsondoc.Doc
	err = d.Parse(b)
	switch {
	case err == nil:
		if !Detect(d.Root()) {
			c.Notes = append(c.Notes, "Detect: false")
		}
		if err := Decode(d.Root(), "", c); err != nil {
			c.Errors = append(c.Errors, &source.RecordError{Err: err})
		}
	case errors.Is(err, jsondoc.ErrTrailing):
		for i, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			where := "line " + strconv.Itoa(i+1)
			d := new(jsondoc.Doc)
			if err := d.Parse(line); err != nil {
				c.Errors = append(c.Errors, &source.RecordError{Where: where, Err: err})
				continue
			}
			if !Detect(d.Root()) {
				c.Notes = append(c.Notes, where+": Detect: false")
			}
			if err := Decode(d.Root(), where, c); err != nil {
				c.Errors = append(c.Errors, &source.RecordError{Where: where, Err: err})
			}
		}
	default:
		for i, line := range bytes.Split(b, []byte("\n")) {
			if err := DecodeText(line, "line "+strconv.Itoa(i+1), c); err != nil {
				c.Errors = append(c.Errors, &source.RecordError{Where: "line " + strconv.Itoa(i+1), Err: err})
			}
		}
	}
	return c
}

func golden(c *source.Collect) []byte {
	var out []byte
	for _, e := range c.Events {
		out = e.AppendJSON(out, true)
		out = append(out, '\n')
	}
	for _, e := range c.Errors {
		out = append(out, `{"error":`...)
		out = jsondoc.AppendString(out, e.Error())
		out = append(out, "}\n"...)
	}
	for _, n := range c.Notes {
		out = append(out, `{"note":`...)
		out = jsondoc.AppendString(out, n)
		out = append(out, "}\n"...)
	}
	return out
}

func TestGolden(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".md") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			c := decodeFile(t, b)
			for _, e := range c.Events {
				if e.Cloud != "aws" || e.Source != "aws.lambda" || e.ID == "" || e.Action == "" || !e.Raw.Exists() {
					t.Errorf("incomplete event %s", e.AppendJSON(nil, true))
				}
			}
			got := golden(c)
			path := filepath.Join("testdata", "golden", name+".jsonl")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("decode differs from %s (-want +got):\n%s", path, diff)
			}
		})
	}
}
