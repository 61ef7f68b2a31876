package pipeline

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/event"
)

// TestBaselinesKeepNoEventMemory feeds baselines events read from bus
// messages, as the Detector does: the events' strings share the message's
// memory. Once a batch is fed, its message is overwritten. The alerts must
// be those of a run whose messages stay intact: the evaluator keeps no
// reference to an event's memory past Feed (open buckets, across batches,
// own their key values and event IDs), so the observer need not copy
// events.
func TestBaselinesKeepNoEventMemory(t *testing.T) {
	// Each batch is calls "principal action minute"; the learning period
	// is five minutes and the lateness one second, so a new call stays in
	// an open bucket until the next batch's later call closes it.
	batches := [][]string{
		{"alice ListRoles 0", "bob ListUsers 1", "alice ListRoles 2", "bob ListUsers 3"},
		{"alice ListRoles 6", "bob ListUsers 6"},
		{"alice GetSecretValue 10", "bob CreateAccessKey 10"},
		{"alice ListRoles 12", "bob PutRolePolicy 13"},
		{"alice GetSecretValue 15", "bob ListUsers 16"},
	}
	run := func(overwrite bool) []string {
		b := newTestBaselines(t)
		var got []string
		emit := func(a *alert.Alert) {
			got = append(got, fmt.Sprintf("%s %s %v", a.Principal, a.Action, a.EventIDs))
		}
		for n, calls := range batches {
			data := callMessage(t, n, calls)
			parsed, _, err := ParseMessage(data)
			if err != nil {
				t.Fatal(err)
			}
			var obs []any
			o := b.NewObserver(nil).(EventObserver)
			for _, p := range parsed {
				o.ObserveEvent(p.Event)
				obs = append(obs, o.Take())
			}
			b.Feed(obs, emit)
			if overwrite {
				copy(data, bytes.Repeat([]byte{'#'}, len(data)))
				if p := parsed[0].Event.Principal; !strings.HasPrefix(p, "#") {
					t.Fatalf("overwriting the message left the event's principal %q: the events no longer share its memory, and the test shows nothing", p)
				}
			}
		}
		b.Flush(emit)
		// The keys of one bucket come out in the order of their hashes,
		// whose seed is random per evaluator.
		slices.Sort(got)
		return got
	}
	want := run(false)
	if len(want) != 3 {
		t.Fatalf("intact messages give alerts %q; want alice's GetSecretValue, bob's CreateAccessKey and PutRolePolicy", want)
	}
	if diff := cmp.Diff(want, run(true)); diff != "" {
		t.Errorf("alerts with messages overwritten after Feed (-intact +overwritten):\n%s", diff)
	}
}

// callMessage returns a bus message, as the ingester writes it, with one
// CloudTrail event per call "principal action minute" of batch n.
func callMessage(t *testing.T, n int, calls []string) []byte {
	t.Helper()
	b := newBatch("aws.cloudtrail", t0)
	for i, c := range calls {
		f := strings.Fields(c)
		var minute int
		if _, err := fmt.Sscan(f[2], &minute); err != nil {
			t.Fatal(err)
		}
		b.add(&event.Event{Time: t0.Add(time.Duration(minute) * time.Minute), Cloud: "aws", Source: "aws.cloudtrail",
			ID: fmt.Sprintf("ev-%d-%d", n, i), Account: "111122223333", Principal: f[0], Action: f[1]})
	}
	return b.msg().Data
}
