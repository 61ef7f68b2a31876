package config

import (
	"os"
	"path/filepath"
	"reflect"
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
	structured := map[string]reflect.Type{} // leaves decoded by reflection, by key
	var walk func(path string, fields []field)
	walk = func(path string, fields []field) {
		for _, f := range fields {
			full := join(path, f.key)
			if f.sub != nil {
				walk(full, f.sub)
				continue
			}
			want[full] = true
			if rv, ok := f.val.(reflectValue); ok {
				structured[full] = rv.p.Elem().Type()
			}
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
			if _, ok := f.val.(envless); ok {
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
	// The keys inside structured values: every row names one, and the
	// route and time interval keys all have a row (the receivers' own keys
	// are described in docs/receivers.md).
	for leafKey, typ := range structured {
		switch leafKey {
		case "notify.receivers":
			want[leafKey+"[].name"] = true
			for _, k := range receiverKinds() {
				want[leafKey+"[]."+k] = true
			}
		default:
			for _, k := range subKeys(leafKey, typ, map[reflect.Type]bool{}) {
				want[k] = true
			}
		}
	}
	for key := range want {
		if _, ok := rows[key]; !ok && structuredSub(key, structured) {
			t.Errorf("docs/configuration.md has no row for %s", key)
		}
	}
	for key := range rows {
		if !want[key] {
			t.Errorf("docs/configuration.md has a row for %s, which is not a key", key)
		}
	}
	for name, ev := range vars {
		if _, ok := ev.val.(envless); !ok && !strings.Contains(doc, "`"+name+"`") {
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

// render prints a value node as docs/configuration.md shows defaults:
// lists and mappings on one line, in flow style.
func render(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode:
		flow(n)
		out, err := yaml.Marshal(n)
		if err != nil {
			panic(err)
		}
		return strings.TrimSpace(string(out))
	case n.Value == "":
		return `""`
	}
	return n.Value
}

func flow(n *yaml.Node) {
	if n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		flow(c)
	}
}

// subKeys lists the keys inside a value of type t at key, a list's
// elements written as key[]; a type met again (the nested routes) is not
// listed twice.
func subKeys(key string, t reflect.Type, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		return subKeys(key+"[]", t.Elem(), seen)
	case reflect.Struct:
		if seen[t] || t == durationType {
			return nil
		}
		seen[t] = true
		var out []string
		for _, f := range fieldsOf(t) {
			k := key + "." + f.key
			out = append(out, k)
			out = append(out, subKeys(k, t.Field(f.index).Type, seen)...)
		}
		return out
	}
	return nil
}

// structuredSub reports whether key lies inside a structured value.
func structuredSub(key string, structured map[string]reflect.Type) bool {
	for k := range structured {
		if strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[]") {
			return true
		}
	}
	return false
}
