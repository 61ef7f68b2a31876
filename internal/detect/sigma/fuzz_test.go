package sigma

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// addFileSeeds adds every YAML file of the test data as a seed.
func addFileSeeds(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

func FuzzParse(f *testing.F) {
	addFileSeeds(f)
	f.Add([]byte(miniRule))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("title: t\nlogsource: {product: p}\ndetection: {s: {f|windash|base64offset|contains: '-a/b'}, condition: s}\n"))
	f.Add([]byte("title: t\nlogsource: {product: p}\ndetection: {s: {'|all': [a, b]}, condition: 'not (s)'}\n"))
	f.Add([]byte("title: t\ncorrelation: {type: value_count, rules: [a], group-by: [g], timespan: 1h, condition: {field: f, gt: 1}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.yml"
		docs, err := Parse(name, data)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is %T %v, want a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.File != name || e.Line < 1 || e.Col < 1 || e.Msg == "" {
					t.Fatalf("malformed error %#v", e)
				}
			}
		}
		if len(docs) > DefaultLimits.MaxDocuments {
			t.Fatalf("%d documents", len(docs))
		}
		for _, d := range docs {
			checkDocument(t, d)
		}
		_ = dump(docs)
	})
}

// checkDocument verifies the invariants of a successfully parsed document.
func checkDocument(t *testing.T, d Document) {
	t.Helper()
	var det *Detection
	switch d := d.(type) {
	case *Rule:
		det = d.Detection
	case *Filter:
		det = d.Detection
		if len(d.Rules) == 0 {
			t.Fatal("filter without rules")
		}
	case *Correlation:
		if len(d.Rules) == 0 || d.Timespan <= 0 {
			t.Fatalf("correlation %+v", d)
		}
		return
	default:
		t.Fatalf("unknown document %T", d)
	}
	if det == nil || len(det.Identifiers) == 0 || len(det.Conditions) == 0 {
		t.Fatalf("incomplete detection %+v", det)
	}
	for _, id := range det.Identifiers {
		for _, b := range id.Branches {
			for _, it := range b.Items {
				if len(it.Values) == 0 {
					t.Fatalf("item %q without values", it.Field)
				}
				for _, v := range it.Values {
					if v.Kind == KindString && len(v.Patterns) == 0 {
						t.Fatalf("string value %q without patterns", v.Raw)
					}
					for _, p := range v.Patterns {
						again, err := parsePattern(p.String(), p.HasPlaceholders())
						if err != nil || len(again) != len(p) {
							t.Fatalf("pattern %q does not round-trip: %v %v", p.String(), again, err)
						}
						for i := range p {
							if again[i] != p[i] {
								t.Fatalf("pattern %q does not round-trip: %v", p.String(), again)
							}
						}
					}
				}
			}
		}
	}
	for _, c := range det.Conditions {
		checkExpr(t, c.Expr, len(det.Identifiers))
	}
}

func checkExpr(t *testing.T, e Expr, n int) {
	t.Helper()
	switch e := e.(type) {
	case *OrExpr:
		for _, a := range e.Args {
			checkExpr(t, a, n)
		}
	case *AndExpr:
		for _, a := range e.Args {
			checkExpr(t, a, n)
		}
	case *NotExpr:
		checkExpr(t, e.X, n)
	case *IdentExpr:
		if e.Index < 0 || e.Index >= n {
			t.Fatalf("identifier %q index %d out of range", e.Name, e.Index)
		}
	case *OfExpr:
		if len(e.Indices) == 0 || (!e.All && (e.Count < 1 || e.Count > len(e.Indices))) {
			t.Fatalf("bad of-expression %+v", e)
		}
		for _, i := range e.Indices {
			if i < 0 || i >= n {
				t.Fatalf("index %d out of range", i)
			}
		}
	default:
		t.Fatalf("unknown expression %T", e)
	}
}

func FuzzCondition(f *testing.F) {
	for _, s := range []string{
		"selection", "selection and not filter", "1 of selection* or all of them",
		"(selection or filter) and not (keywords and _hidden)", "2 of *", "not not selection",
		"selection | count() > 5", "((((selection))))", "all of filter_*", "", ")", "1 of",
		"sélection and nöt", "selection\tand\u00a0filter",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseCondition(src, condNames)
		if err != nil {
			var ce *ConditionError
			if !errors.As(err, &ce) || ce.Col < 1 || ce.Msg == "" {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		checkExpr(t, e, len(condNames))
		again, err := ParseCondition(e.String(), condNames)
		if err != nil {
			t.Fatalf("String() %q of %q does not reparse: %v", e.String(), src, err)
		}
		if exprTree(again) != exprTree(e) {
			t.Fatalf("round trip of %q: %s != %s", src, exprTree(again), exprTree(e))
		}
	})
}

// FuzzItem builds a rule around one "key: value" item so that the fuzzer
// explores modifier chains and value transformations directly.
func FuzzItem(f *testing.F) {
	for _, s := range [][2]string{
		{"f|windash|contains", "-a /b"}, {"f|wide|base64offset|contains", "Invoke-"},
		{"f|re|i", "^a.*b$"}, {"f|cidr", "10.0.0.0/8"}, {"f|expand", `\%a%b%`},
		{"f|hour|gte", "3"}, {"f", `a\\*b\*c?`}, {"|all", "x"}, {"f|fieldref|neq", "g"},
		{"f|base64", "x"}, {"f|utf16|contains", "é😀"}, {"f|exists", "true"},
	} {
		f.Add(s[0], s[1], false)
		f.Add(s[0], s[1], true)
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	f.Fuzz(func(t *testing.T, key, value string, list bool) {
		if !utf8.ValidString(key) || !utf8.ValidString(value) || strings.ContainsAny(key+value, "\r\n\x00") {
			return
		}
		val := quote(value)
		if list {
			val = "[" + quote(value) + ", " + quote(value+"x") + "]"
		}
		src := "title: t\nlogsource: {product: p}\ndetection:\n    sel:\n        " + quote(key) + ": " + val + "\n    condition: sel\n"
		docs, err := Parse("item.yml", []byte(src))
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T", err)
			}
			for _, e := range list {
				if e.Line < 1 || e.Col < 1 {
					t.Fatalf("bad position %v", e)
				}
			}
			return
		}
		for _, d := range docs {
			checkDocument(t, d)
		}
	})
}
