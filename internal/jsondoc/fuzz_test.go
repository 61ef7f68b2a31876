package jsondoc

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics and agrees with encoding/json on
// every input that is valid UTF-8 and within the depth limit.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,"b",null,true,false,{"c":-1.5e3}]}`, `"\ud83d\ude00"`, `[`, `{"a":"\u00"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Doc
		err := d.Parse(in)
		var want any
		jerr := json.Unmarshal(in, &want)
		if !utf8.Valid(in) {
			return // encoding/json replaces invalid UTF-8, Parse rejects it
		}
		if _, ok := jerr.(*json.UnmarshalTypeError); ok {
			return // a number out of float64 range
		}
		if err == nil && jerr != nil {
			t.Fatalf("Parse accepted %q, encoding/json: %v", in, jerr)
		}
		if err != nil && jerr == nil {
			if se, ok := err.(*SyntaxError); ok && se.Msg == "nesting deeper than 128 levels" {
				return
			}
			t.Fatalf("Parse rejected valid %q: %v", in, err)
		}
		if err == nil {
			if got := toAny(t, d.Root()); !reflect.DeepEqual(got, want) {
				t.Fatalf("Parse(%q) = %#v, encoding/json %#v", in, got, want)
			}
			d.Root().Find("a.b.c", func(Value) bool { return true })
		}
	})
}
