package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/source"
)

// collect gathers decoded events.
type collect struct {
	t      *testing.T
	events []*event.Event
}

func (c *collect) Event(e *event.Event)         { c.events = append(c.events, e) }
func (c *collect) Fail(err *source.RecordError) { c.t.Errorf("record did not decode: %v", err) }
func (c *collect) Note(string)                  {}
func (c *collect) ids() (ids []string) {
	for _, e := range c.events {
		ids = append(ids, e.ID)
	}
	return ids
}

func decodeCloudTrail(t *testing.T, data []byte) *collect {
	t.Helper()
	rd, err := decode.Builtin().NewReader(decode.Options{Kind: "cloudtrail"})
	if err != nil {
		t.Fatal(err)
	}
	c := &collect{t: t}
	if err := rd.Read(bytes.NewReader(data), c, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCloudTrailStream checks that stream files decode, that event IDs are
// unique across files and that event times are the ones asked for.
func TestCloudTrailStream(t *testing.T) {
	s := NewCloudTrailStream(50, 2, 1)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	var buf []byte
	for f := uint32(0); f < 5; f++ {
		var extra []byte
		if f == 3 {
			extra = append(RareRecord(7, start), ',')
			extra = append(extra, StopLoggingRecord("bench-marker", 9, start)...)
		}
		buf = s.AppendFile(buf[:0], f, start.Add(time.Duration(f)*time.Hour), 2*time.Second, extra)
		c := decodeCloudTrail(t, buf)
		want := 50 + len(bytes.Split(extra, []byte(`{"eventVersion"`))) - 1
		if len(c.events) != want {
			t.Fatalf("file %d: %d events, want %d", f, len(c.events), want)
		}
		for i, e := range c.events[:50] {
			if want := start.Add(time.Duration(f)*time.Hour + time.Duration(i)*2*time.Second); !e.Time.Equal(want) {
				t.Fatalf("file %d record %d at %s, want %s", f, i, e.Time, want)
			}
		}
		for _, id := range c.ids() {
			if seen[id] {
				t.Fatalf("event ID %s repeats", id)
			}
			seen[id] = true
		}
		if f == 3 {
			rare, stop := c.events[50], c.events[51]
			if rare.Principal != "arn:aws:iam::444455556666:user/contractor-007" || rare.Account != RareAccount || rare.SourceIP != "192.0.2.8" {
				t.Errorf("rare record decoded as %+v", rare)
			}
			if stop.Action != "StopLogging" || !strings.HasSuffix(stop.Principal, ":user/bench-marker") {
				t.Errorf("StopLogging record decoded as %+v", stop)
			}
		}
	}
}
