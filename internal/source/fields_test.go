package source

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// The format packages' tests take -update; this package takes it too, with
// no effect, so that `go test ./internal/source/... -update` runs.
var _ = flag.Bool("update", false, "no effect: this package has no golden files")

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-03-05T10:16:02Z", time.Date(2024, 3, 5, 10, 16, 2, 0, time.UTC), true},
		{"2024-03-05T10:16:02.1234567Z", time.Date(2024, 3, 5, 10, 16, 2, 123456700, time.UTC), true},
		{"2024-03-05T10:16:02.123456789+02:00", time.Date(2024, 3, 5, 8, 16, 2, 123456789, time.UTC), true},
		{"2024-03-05T10:16:02-05:30", time.Date(2024, 3, 5, 15, 46, 2, 0, time.UTC), true},
		{"2024-03-05T10:16:02.5", time.Date(2024, 3, 5, 10, 16, 2, 5e8, time.UTC), true},
		{"2024-03-05T10:16:02", time.Date(2024, 3, 5, 10, 16, 2, 0, time.UTC), true},
		{"2024-03-05 10:16:02Z", time.Time{}, false},
		{"05/03/2024 10:16", time.Time{}, false},
		{"1709633762", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, ok := ParseTime(tc.in)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v, want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok && got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) is in %v, want UTC", tc.in, got.Location())
		}
	}
}

func TestTimeField(t *testing.T) {
	var d jsondoc.Doc
	if err := d.Parse([]byte(`{"ok":"2024-03-05T10:16:02+01:00","num":5,"obj":{},"bad":"yesterday","null":null}`)); err != nil {
		t.Fatal(err)
	}
	root := d.Root()
	got, err := TimeField(root.Get("ok"), "ok")
	if want := time.Date(2024, 3, 5, 9, 16, 2, 0, time.UTC); err != nil || !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("TimeField(ok) = %v, %v, want %v", got, err, want)
	}
	for _, tc := range []struct{ name, want string }{
		{"missing", `missing "missing"`},
		{"num", `"num" is a number, want a string`},
		{"obj", `"obj" is an object, want a string`},
		{"null", `"null" is null, want a string`},
		{"bad", `"bad" is not an RFC 3339 time: "yesterday"`},
	} {
		got, err := TimeField(root.Get(tc.name), tc.name)
		if err == nil || err.Error() != tc.want || !got.IsZero() {
			t.Errorf("TimeField(%s) = %v, %v, want error %q", tc.name, got, err, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	long := strings.Repeat("a", 70)
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"East US", `"East US"`},
		{`say "hi"` + "\n", `"say \"hi\"\n"`},
		{"\xff", `"\xff"`},
		{strings.Repeat("a", 64), `"` + strings.Repeat("a", 64) + `"`},
		{long, `"` + strings.Repeat("a", 64) + `"…`},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestAKind(t *testing.T) {
	for k, want := range map[jsondoc.Kind]string{
		jsondoc.Object:  "an object",
		jsondoc.Array:   "an array",
		jsondoc.String:  "a string",
		jsondoc.Number:  "a number",
		jsondoc.True:    "true",
		jsondoc.False:   "false",
		jsondoc.Null:    "null",
		jsondoc.Missing: "missing",
	} {
		if got := AKind(k); got != want {
			t.Errorf("AKind(%v) = %q, want %q", k, got, want)
		}
	}
}

func TestJoinWhere(t *testing.T) {
	for _, tc := range []struct{ where, path, want string }{
		{"", "", ""},
		{"", "records[2]", "records[2]"},
		{"line 7", "", "line 7"},
		{"line 7", "records[2]", "line 7.records[2]"},
		{"line 7", "[2]", "line 7[2]"},
		{"body.records[1]", "message.data", "body.records[1].message.data"},
	} {
		if got := JoinWhere(tc.where, tc.path); got != tc.want {
			t.Errorf("JoinWhere(%q, %q) = %q, want %q", tc.where, tc.path, got, tc.want)
		}
	}
}

func TestAt(t *testing.T) {
	for _, tc := range []struct {
		where string
		i     int
		want  string
	}{
		{"", -1, ""},
		{"", 3, "[3]"},
		{"records", -1, "records"},
		{"records", 0, "records[0]"},
		{"line 2.logEvents", 15, "line 2.logEvents[15]"},
	} {
		if got := At(tc.where, tc.i); got != tc.want {
			t.Errorf("At(%q, %d) = %q, want %q", tc.where, tc.i, got, tc.want)
		}
	}
}

func TestLocation(t *testing.T) {
	for _, tc := range []struct {
		loc  Location
		want string
	}{
		{Location{Index: -1}, ""},
		{Location{Where: "line 3", Index: -1}, "line 3"},
		{Location{Index: 0}, "[0]"},
		{Location{Where: "line 3", Index: 4}, "line 3[4]"},
		{Location{Path: "records", Index: 12}, "records[12]"},
		{Location{Where: "line 3", Path: "entries", Index: 1}, "line 3.entries[1]"},
	} {
		if got := tc.loc.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.loc, got, tc.want)
		}
	}
}
