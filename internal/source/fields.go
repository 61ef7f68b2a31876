package source

import (
	"fmt"
	"strconv"
	"time"

	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// zonelessLayout is RFC 3339 without a zone, as some logs and `aws logs
// tail` write their timestamps.
const zonelessLayout = "2006-01-02T15:04:05.999999999"

// ParseTime parses an RFC 3339 timestamp with up to nine fractional digits
// and returns it in UTC. A timestamp without a zone is taken as UTC.
func ParseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(zonelessLayout, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// TimeField parses v, the value of the member called name, as ParseTime
// does. Its error says what is wrong for a user to read: the member is
// missing, is not a string, or is not an RFC 3339 time.
func TimeField(v jsondoc.Value, name string) (time.Time, error) {
	if v.Kind() != jsondoc.String {
		if !v.Exists() {
			return time.Time{}, fmt.Errorf("missing %q", name)
		}
		return time.Time{}, fmt.Errorf("%q is %s, want a string", name, AKind(v.Kind()))
	}
	s := v.Str()
	if t, ok := ParseTime(s); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time: %s", name, Quote(s))
}

// maxQuoted is how many bytes of a value Quote keeps.
const maxQuoted = 64

// Quote quotes s in Go syntax for an error message. A value longer than 64
// bytes is cut, and an ellipsis after the closing quote says so, which keeps
// the message on one readable line.
func Quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "…"
	}
	return strconv.Quote(s)
}

// AKind names a JSON kind with its article, for messages such as `"records"
// is an object, want an array`: "an object", "an array", "a string",
// "a number", and "null", "true", "false" and "missing" bare.
func AKind(k jsondoc.Kind) string {
	switch k {
	case jsondoc.Object, jsondoc.Array:
		return "an " + k.String()
	case jsondoc.Null, jsondoc.True, jsondoc.False, jsondoc.Missing:
		return k.String()
	}
	return "a " + k.String()
}

// JoinWhere joins the location of a document, such as "line 7", and a path
// inside it, such as "records[2]" or "[2]", into the location a
// RecordError names: "line 7.records[2]", "line 7[2]". Either part may be
// empty.
func JoinWhere(where, path string) string {
	switch {
	case where == "":
		return path
	case path == "":
		return where
	case path[0] == '[':
		return where + path
	}
	return where + "." + path
}

// At returns the location of element i of the list at where: where[i], or
// where itself when i is negative.
func At(where string, i int) string {
	if i < 0 {
		return where
	}
	return where + "[" + strconv.Itoa(i) + "]"
}

// Location is where a record is, kept in parts so that decoders build the
// string only for a record that fails.
type Location struct {
	Where string // the document's location, such as "line 7", or ""
	Path  string // the record list's path in the document, such as "records", or ""
	Index int    // the record's index in the list, or -1 for a document that is one record
}

// String returns the location as a RecordError names it, such as
// "line 7.records[2]".
func (l Location) String() string {
	return JoinWhere(l.Where, At(l.Path, l.Index))
}
