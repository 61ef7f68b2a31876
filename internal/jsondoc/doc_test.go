package jsondoc

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// toAny converts a Value to the shape encoding/json produces, so the two
// parsers can be compared.
func toAny(t testing.TB, v Value) any {
	t.Helper()
	switch v.Kind() {
	case Null:
		return nil
	case True:
		return true
	case False:
		return false
	case Number:
		f, ok := v.Float()
		if !ok {
			t.Fatalf("number %q does not parse", v.Raw())
		}
		return f
	case String:
		return v.Str()
	case Array:
		out := []any{}
		v.Elements(func(_ int, e Value) bool { out = append(out, toAny(t, e)); return true })
		return out
	case Object:
		out := map[string]any{}
		v.Members(func(k string, e Value) bool { out[k] = toAny(t, e); return true })
		return out
	}
	t.Fatalf("unexpected kind %v", v.Kind())
	return nil
}

func TestParseMatchesEncodingJSON(t *testing.T) {
	inputs := []string{
		`{}`, `[]`, `null`, `true`, `false`, `0`, `-0.5e+10`, `"x"`,
		` {"a": [1, 2, {"b": null}], "c": "d\"e\\f\/g\u00e9\ud83d\ude00", "e": -12.5E-3} `,
		`{"Records":[{"eventName":"CreateFunction20150331","requestParameters":{"functionName":"f"}}]}`,
		`"bad surrogate \ud800 end"`,
		`["\u0000\b\f\n\r\t"]`,
	}
	for _, in := range inputs {
		var want any
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", in, err)
		}
		var d Doc
		if err := d.Parse([]byte(in)); err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if got := toAny(t, d.Root()); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %#v, want %#v", in, got, want)
		}
		if got := strings.TrimSpace(string(d.Root().Raw())); got != strings.TrimSpace(in) {
			t.Errorf("Raw() = %q, want %q", got, in)
		}
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	cases := []struct {
		in, want string
	}{
		{"", "empty input"},
		{"   ", "empty input"},
		{`{"a":1`, "unexpected end of input in object"},
		{`{"a" 1}`, "expected ':'"},
		{`{a:1}`, "expected a string key"},
		{`[1,]`, "unexpected character"},
		{`[1 2]`, "expected ',' or ']'"},
		{`"abc`, "unterminated string"},
		{`"a\x"`, `invalid escape \x`},
		{`"\u12"`, `invalid \u escape`},
		{"\"a\nb\"", "control character"},
		{"\"\xff\xfe\"", "invalid UTF-8"},
		{`01`, "data after the end"},
		{`-`, "invalid number"},
		{`1.`, "no digits after '.'"},
		{`1e`, "no digits in exponent"},
		{`tru`, "invalid literal"},
		{`{} {}`, "data after the end"},
		{deep, "nesting deeper than 128 levels"},
	}
	for _, c := range cases {
		var d Doc
		err := d.Parse([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error = %v, want it to mention %q", c.in, err, c.want)
		}
		if d.Root().Exists() {
			t.Errorf("Parse(%q) failed but Root exists", c.in)
		}
	}
	var d Doc
	if err := d.Parse([]byte("{}\n{}")); !errors.Is(err, ErrTrailing) {
		t.Errorf("JSON Lines input: error %v does not wrap ErrTrailing", err)
	}
}

func TestLimits(t *testing.T) {
	var d Doc
	d.SetLimits(Limits{MaxDepth: 2, MaxNodes: 4})
	if err := d.Parse([]byte(`[[1]]`)); err != nil {
		t.Fatalf("depth 2: %v", err)
	}
	if err := d.Parse([]byte(`[[[1]]]`)); err == nil {
		t.Error("depth 3 accepted with MaxDepth 2")
	}
	if err := d.Parse([]byte(`[1,2,3,4]`)); err == nil || !strings.Contains(err.Error(), "more than 4 values") {
		t.Errorf("5 values with MaxNodes 4: %v", err)
	}
}

func TestFind(t *testing.T) {
	src := `{
		"userIdentity": {"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:role/r"}}},
		"resources": [{"ARN": "a1"}, {"ARN": "a2", "tags": ["x", ["y"]]}, {"other": 1}],
		"labels": {"compute.googleapis.com/resource_name": "vm1", "k.v": {"w": 3}},
		"nul": null,
		"esc\u0061ped": "yes"
	}`
	var d Doc
	if err := d.Parse([]byte(src)); err != nil {
		t.Fatal(err)
	}
	collect := func(path string) []string {
		var out []string
		d.Root().Find(path, func(v Value) bool { out = append(out, v.Kind().String()+":"+v.Str()); return true })
		return out
	}
	cases := []struct {
		path string
		want []string
	}{
		{"userIdentity.sessionContext.sessionIssuer.arn", []string{"string:arn:aws:iam::1:role/r"}},
		{"userIdentity.type", []string{"string:AssumedRole"}},
		{"resources.ARN", []string{"string:a1", "string:a2"}},
		{"resources.tags", []string{"string:x", "string:y"}},
		{"labels.compute.googleapis.com/resource_name", []string{"string:vm1"}},
		{"labels.k.v.w", []string{"number:3"}},
		{"nul", []string{"null:null"}},
		{"escaped", []string{"string:yes"}},
		{"userIdentity.missing", nil},
		{"userIdentity.type.deeper", nil},
		{"userIdentity.typ", nil},
	}
	for _, c := range cases {
		if got := collect(c.path); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Find(%q) = %q, want %q", c.path, got, c.want)
		}
	}
	if got := d.Root().First("resources.ARN").Str(); got != "a1" {
		t.Errorf("First = %q", got)
	}
	if got := d.Root().Path("userIdentity", "sessionContext", "sessionIssuer", "arn").Str(); got != "arn:aws:iam::1:role/r" {
		t.Errorf("Path = %q", got)
	}
	if got := d.Root().Get("resources").Index(1).Get("ARN").Str(); got != "a2" {
		t.Errorf("Index = %q", got)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t ctl\x01", "é😀", "bad\xffutf8", "\u2028"} {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, out, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Errorf("round trip of %q = %q", s, back)
		}
	}
}
