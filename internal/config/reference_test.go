package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestReference checks docs/configuration.md against the schema: every key has a
// row whose default and environment variable are right, every row is a key,
// and the complete file at the end is what Default().Redacted() prints.
func TestReference(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	rows := map[string][]string{} // key -> cells
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[strings.Trim(cells[0], "`")] = cells
	}

	vars := envVars(Default().schema())
	want := map[string]bool{}
	var walk func(path string, fields []field)
	walk = func(path string, fields []field) {
		for _, f := range fields {
			full := join(path, f.key)
			if f.sub != nil {
				walk(full, f.sub)
				continue
			}
			want[full] = true
			cells, ok := rows[full]
			if !ok {
				t.Errorf("docs/configuration.md has no row for %s", full)
				continue
			}
			if len(cells) != 4 {
				t.Errorf("row %s has %d cells, want 4", full, len(cells))
				continue
			}
			if got, want := cells[1], "`"+render(f.val.node())+"`"; got != want {
				t.Errorf("docs/configuration.md: default of %s is %s, want %s", full, got, want)
			}
			env := "`" + envName(full) + "`"
			if full == "detect.placeholders" {
				env = "—"
			}
			if cells[2] != env {
				t.Errorf("docs/configuration.md: variable of %s is %s, want %s", full, cells[2], env)
			}
			if _, ok := f.val.(secretValue); ok {
				want[full+"_file"] = true
				if c := rows[full+"_file"]; len(c) < 3 || c[2] != "`"+envName(full)+"_FILE`" {
					t.Errorf("docs/configuration.md: no row for %s_file with %s_FILE", full, envName(full))
				}
			}
		}
	}
	walk("", Default().schema())
	for key := range rows {
		if !want[key] {
			t.Errorf("docs/configuration.md has a row for %s, which is not a key", key)
		}
	}
	for name := range vars {
		if name != "VIGIL_DETECT_PLACEHOLDERS" && !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/configuration.md does not name %s", name)
		}
	}
	const fence = "## A complete file\n\n```yaml\n"
	i := strings.Index(doc, fence)
	if i < 0 {
		t.Fatal("docs/configuration.md has no complete file")
	}
	file := doc[i+len(fence):]
	file = file[:strings.Index(file, "```")]
	if got := Default().Redacted(); file != got {
		t.Errorf("the complete file in docs/configuration.md is not Default().Redacted():\n%s", got)
	}
}

// render prints a value node as docs/configuration.md shows defaults.
func render(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode && len(n.Content) == 0:
		return "[]"
	case n.Kind == yaml.MappingNode && len(n.Content) == 0:
		return "{}"
	case n.Value == "":
		return `""`
	}
	return n.Value
}
