package sigma

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const miniRule = `title: Mini
logsource:
    product: aws
detection:
    selection:
        eventName: CreateUser
    condition: selection
`

func parseErr(t *testing.T, lim Limits, src string) string {
	t.Helper()
	_, err := ParseWithLimits("t.yml", []byte(src), lim)
	if err == nil {
		t.Fatalf("no error for:\n%s", src)
	}
	return err.Error()
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		lim  Limits
		src  string
		want string
	}{
		{"file size", Limits{MaxFileSize: 10}, miniRule, "t.yml:1:1: file is too large: 121 bytes (limit 10)"},
		{"documents", Limits{MaxDocuments: 2}, miniRule + "---\n" + miniRule + "---\n" + miniRule,
			"t.yml:16:1: too many YAML documents in one file (limit 2)"},
		{"values", Limits{MaxValues: 2}, strings.Replace(miniRule, "CreateUser", "[a, b, c]", 1),
			"t.yml:6:20: search identifier \"selection\", field \"eventName\": too many values (3, limit 2)"},
		{"items", Limits{MaxItems: 1}, strings.Replace(miniRule, "eventName: CreateUser", "a: 1\n        b: 2", 1),
			"t.yml:7:9: too many items in one detection (limit 1)"},
		{"identifiers", Limits{MaxIdentifiers: 1}, strings.Replace(miniRule, "    condition", "    other:\n        a: 1\n    condition", 1),
			"t.yml:7:5: too many search identifiers in detection (limit 1)"},
		{"regex", Limits{MaxRegexLength: 4}, strings.Replace(miniRule, "eventName: CreateUser", "eventName|re: abcde", 1),
			"regular expression is too long: 5 bytes (limit 4)"},
		{"nodes", Limits{MaxNodes: 10}, miniRule, "t.yml:6:9: document has more than 10 YAML nodes"},
		{"depth", Limits{MaxDepth: 3}, miniRule, "t.yml:6:9: YAML nesting is too deep (limit 3 levels)"},
		{"condition", Limits{MaxConditionLength: 5}, miniRule, "condition is too long: 9 bytes (limit 5)"},
		{"alternatives", Limits{MaxAlternatives: 4}, strings.Replace(miniRule, "eventName: CreateUser", "cmd|windash|contains: -x", 1),
			"windash expands the value into more than 4 alternatives"},
		{"expanded bytes", Limits{MaxExpandedBytes: 8}, strings.Replace(miniRule, "eventName: CreateUser", "cmd|windash|contains: -abc", 1),
			"the file's values expand beyond 8 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseErr(t, tt.lim, tt.src); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestMaxErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("title: Many\nlogsource:\n    product: aws\ndetection:\n    selection:\n")
	for i := range 20 {
		fmt.Fprintf(&b, "        f%d|bogus: x\n", i)
	}
	b.WriteString("    condition: selection\n")
	_, err := ParseWithLimits("t.yml", []byte(b.String()), Limits{MaxErrors: 5})
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %T", err)
	}
	if len(list) != 6 || !strings.Contains(list[5].Msg, "too many errors") {
		t.Errorf("got %d errors:\n%v", len(list), err)
	}
}

func TestParseKeepsValidDocuments(t *testing.T) {
	src := miniRule + "---\n" + strings.Replace(miniRule, "Mini", "Broken\nlevel: nope", 1) + "---\n" +
		strings.Replace(miniRule, "title: Mini", "title: Third\nname: third", 1)
	docs, err := Parse("t.yml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `t.yml:10:8: invalid level "nope"`) {
		t.Fatalf("err = %v", err)
	}
	if len(docs) != 2 || docs[0].Meta().Title != "Mini" || docs[1].Meta().Name != "third" {
		t.Fatalf("docs = %v", docs)
	}
	var target *Error
	if !errors.As(err, &target) || target.Line != 10 || target.Col != 8 {
		t.Errorf("errors.As: %v", target)
	}
}

func TestDocumentShapes(t *testing.T) {
	tests := []struct{ src, want string }{
		{"", "t.yml:1:1: file contains no YAML document"},
		{"- a\n- b\n", "t.yml:1:1: a Sigma document must be a mapping, got a list"},
		{"title: x\n", "t.yml:1:1: document is not a Sigma rule, filter or correlation"},
		{"title: x\ndetection: {}\ncorrelation: {}\n", "t.yml:2:1: document mixes detection and correlation"},
		{"title: x\nlogsource: {product: aws}\ndetection: []\n", "t.yml:3:12: detection must be a mapping of search identifiers and a condition, got a list"},
		{"title: x\nlogsource: {product: aws}\ndetection: {sel: {a: 1}}\n", "t.yml:3:12: detection has no condition"},
		{"title: x\nlogsource: {}\ndetection: {sel: {a: 1}, condition: sel}\n", "t.yml:2:12: logsource must set at least one of category, product, service"},
		{"title: x\nlogsource: {product: AWS}\ndetection: {sel: {a: 1}, condition: sel}\n", `t.yml:2:22: logsource product "AWS" must be lower case`},
		{"Title: x\nlogsource: {product: aws}\ndetection: {sel: {a: 1}, condition: sel}\n", `t.yml:1:1: unknown attribute "Title": attribute names are case-sensitive, use "title"`},
		{"title: x\nlogsource: {product: aws}\ndetection: {sel: {a: {b: 1}}, condition: sel}\n", `value must be a scalar or a list of scalars, got a mapping`},
		{"title: x\nlogsource: {product: aws}\ndetection: {sel: [a, {b: 1}], condition: sel}\n", `mixes mappings and plain values`},
		{"title: x\nlogsource: {product: aws}\ndetection: {sel: [], condition: sel}\n", `search identifier "sel" is an empty list`},
		{"title: x\nlogsource: {product: aws}\ndetection: {sel: {a: []}, condition: sel}\n", `empty list of values`},
		{"title: x\nlogsource: {product: aws}\ndetection: {sel: {a: !!binary aGk=}, condition: sel}\n", `unsupported YAML tag !!binary`},
		{"title: x\nlogsource: {product: aws}\ndetection: {sel: {a: 1}, condition: [sel, 1]}\n", `condition must be a string, got a number`},
		{"title: x\nlogsource: {product: aws}\ndetection: {sel: {a: 1}, condition: []}\n", `condition list is empty`},
		{"title: x\nmodified: 2020-01-01\ndate: 2021-01-01\nlogsource: {product: aws}\ndetection: {sel: {a: 1}, condition: sel}\n", `t.yml:3:7: modified date 2020-01-01 is before creation date 2021-01-01`},
		{"title: x\nlevel: high\nlogsource: {product: aws}\nfilter: {rules: [a], selection: {a: 1}, condition: selection}\n", `t.yml:2:1: a filter has no level`},
		{"title: x\nlogsource: {product: aws}\nfilter: {rules: any, selection: {a: 1}, condition: selection}\n", `"any" is not supported by Sigma v2.1`},
		{"title: x\nlogsource: {product: aws}\nfilter: {rules: [a], sel: {a: 1}, condition: sel}\n", `filter has no selection`},
		{"title: x\nrelated: [{id: 5f0f3e6a-1c2b-4d7e-9a8b-0c1d2e3f4a5b, type: obsoletes}]\nlogsource: {product: aws}\ndetection: {sel: {a: 1}, condition: sel}\n", `invalid related type "obsoletes"`},
		{"x: &a {a: 1}\ntitle: x\nlogsource: {product: aws}\ndetection: {sel: {<<: *a, b: 2}, condition: sel}\n", `t.yml:4:19: YAML merge keys (<<) are not supported`},
	}
	for _, tt := range tests {
		_, err := Parse("t.yml", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tt.src, err, tt.want)
		}
	}
}

func TestCorrelationErrors(t *testing.T) {
	base := "title: c\ncorrelation:\n    type: %s\n    rules: [a, b]\n    group-by: [u]\n    timespan: %s\n%s"
	tests := []struct{ typ, span, extra, want string }{
		{"event_count", "5m", "", "event_count correlation has no condition"},
		{"event_count", "5m", "    condition: {gte: 1.5}\n", "condition gte takes a non-negative integer, got 1.5"},
		{"event_count", "5m", "    condition: {gte: -1}\n", "non-negative integer"},
		{"event_count", "5m", "    condition: {gt: 1, gte: 2}\n", "cannot combine gt and gte"},
		{"event_count", "5m", "    condition: {eq: 1, lt: 2}\n", "cannot combine eq and lt"},
		{"event_count", "5m", "    condition: {gte: 3, lt: 3}\n", "leave an empty range"},
		{"event_count", "5m", "    condition: {above: 3}\n", `unknown correlation condition "above"`},
		{"event_count", "5m", "    condition: {field: x, gte: 3}\n", "event_count correlation does not use a field"},
		{"event_count", "5m", "    condition: {}\n", "correlation condition has no comparison"},
		{"event_count", "5m", "    condition: {gte: ten}\n", "correlation condition gte takes a number, got a string"},
		{"value_sum", "5m", "    condition: {field: [a, b], gte: 3}\n", "value_sum correlation aggregates a single field"},
		{"temporal", "0m", "", "timespan must be greater than zero"},
		{"temporal", "5M", "", `unknown unit "M"`},
		{"temporal", "5", "", "timespan 5 has no unit"},
		{"temporal", "m5", "", `invalid timespan "m5"`},
		{"temporal", "99999999999999d", "", "is too large"},
		{"temporal", "5m", "    ordered: true\n", `"ordered" is not part of Sigma v2.1`},
		{"temporal", "5m", "    aliases: {ip: {c: src}}\n", `alias "ip" refers to rule "c", which is not in the correlation's rules`},
		{"temporal", "5m", "    generate: maybe\n", "generate must be true or false"},
	}
	for _, tt := range tests {
		src := fmt.Sprintf(base, tt.typ, tt.span, tt.extra)
		_, err := Parse("t.yml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s/%s/%q: got %v, want %q", tt.typ, tt.span, tt.extra, err, tt.want)
		}
	}
	// group-by and timespan are mandatory.
	_, err := Parse("t.yml", []byte("title: c\ncorrelation:\n    type: temporal\n    rules: [a, b]\n"))
	if err == nil || !strings.Contains(err.Error(), "correlation has no group-by") || !strings.Contains(err.Error(), "correlation has no timespan") {
		t.Errorf("missing attributes: %v", err)
	}
}

func TestRepresentation(t *testing.T) {
	src := `title: R
logsource: {product: aws}
detection:
    kw: [a, b]
    sel:
        - f|contains|all: [x, y]
        - g: 5
    condition: kw or sel
`
	docs, err := Parse("t.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := docs[0].(*Rule)
	if !ok || r.Kind() != "rule" {
		t.Fatalf("got %T", docs[0])
	}
	d := r.Detection
	if i, ok := d.Lookup("sel"); !ok || i != 1 {
		t.Errorf("Lookup(sel) = %d, %v", i, ok)
	}
	if _, ok := d.Lookup("nope"); ok {
		t.Error("Lookup(nope) succeeded")
	}
	kw := d.Identifiers[0].Branches[0].Items[0]
	if kw.Field != "" || kw.Match != MatchContains || len(kw.Values) != 2 {
		t.Errorf("keyword item = %+v", kw)
	}
	sel := d.Identifiers[1]
	if len(sel.Branches) != 2 || !sel.Branches[0].Items[0].All || sel.Branches[1].Items[0].Values[0].Kind != KindNumber {
		t.Errorf("sel = %+v", sel)
	}
	or, ok := d.Conditions[0].Expr.(*OrExpr)
	if !ok || or.Args[1].(*IdentExpr).Index != 1 || or.String() != "(kw or sel)" {
		t.Errorf("condition = %v", d.Conditions[0].Expr)
	}
}
