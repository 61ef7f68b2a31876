package hunt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
)

const stopRule = `title: Trail stopped
id: 4a3e1f0b-9c1d-4e7a-8b2c-5d6e7f8a9b0c
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventName: StopLogging
  condition: sel
`

const lowRule = `title: Any read
id: 4a3e1f0b-9c1d-4e7a-8b2c-5d6e7f8a9b0d
level: low
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventName|startswith: Get
  condition: sel
`

func record(name string, i int) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","eventTime":"2026-11-20T10:00:%02dZ","eventSource":"cloudtrail.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","eventID":"00000000-0000-4000-8000-%012d"}`, i%60, name, i)
}

func input(name string, lines ...string) decode.Input {
	data := []byte(strings.Join(lines, "\n"))
	return decode.Input{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

func TestRunOrderAndStats(t *testing.T) {
	set := detect.Load([]detect.File{{Name: "stop.yml", Data: []byte(stopRule)}, {Name: "low.yml", Data: []byte(lowRule)}}, detect.Options{})
	if len(set.Failed) > 0 {
		t.Fatal(set.Failed)
	}
	rd, err := decode.Builtin().NewReader(decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var inputs []decode.Input
	for f := 0; f < 12; f++ {
		var lines []string
		for i := 0; i < 50; i++ {
			name := "DescribeTrails"
			if i == f {
				name = "StopLogging"
			}
			if i == 49 {
				name = "GetTrail"
			}
			lines = append(lines, record(name, f*100+i))
		}
		if f == 5 {
			lines[10] = `{"eventVersion":`
		}
		inputs = append(inputs, input(fmt.Sprintf("file%02d", f), lines...))
	}
	inputs = append(inputs, input("broken", "{not json"))
	inputs = append(inputs, decode.Input{Name: "unopenable", Open: func() (io.ReadCloser, error) { return nil, errors.New("permission denied") }})

	for _, workers := range []int{1, 2, 4} {
		var got []string
		var errs []string
		st := Run(context.Background(), inputs, Options{
			Reader: rd, Engine: set.Engine, Workers: workers,
			Keep: func(r *detect.Rule) bool { return r.Level == "high" },
		}, func(m Match) { got = append(got, fmt.Sprintf("%s:%d", m.Input, m.Record)) }, func(e InputError) { errs = append(errs, e.Input) })
		var want []string
		for f := 0; f < 12; f++ {
			// StopLogging is record f+1; file05's bad record (line 11)
			// comes after it.
			want = append(want, fmt.Sprintf("file%02d:%d", f, f+1))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("workers=%d: matches %v, want %v", workers, got, want)
		}
		if st.Events != 12*50-1 || st.BadRecords != 1 || st.FailedInputs != 2 || st.Inputs != 14 {
			t.Errorf("workers=%d: stats %+v", workers, st)
		}
		if len(errs) != 3 {
			t.Errorf("workers=%d: reported %v, want the bad record and two unreadable inputs", workers, errs)
		}
		total := 0
		for r, n := range st.Matches {
			if r.Level != "high" {
				t.Errorf("a filtered-out rule was counted: %s", r.Title)
			}
			total += n
		}
		if total != 12 {
			t.Errorf("workers=%d: %d matches counted, want 12", workers, total)
		}
	}
}

func TestRunCancelled(t *testing.T) {
	set := detect.Load([]detect.File{{Name: "stop.yml", Data: []byte(stopRule)}}, detect.Options{})
	rd, _ := decode.Builtin().NewReader(decode.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st := Run(ctx, []decode.Input{input("a", record("StopLogging", 1))}, Options{Reader: rd, Engine: set.Engine}, func(Match) {
		t.Error("a cancelled hunt emitted a match")
	}, func(InputError) {})
	if st.Events != 0 {
		t.Errorf("a cancelled hunt read %d events", st.Events)
	}
}

const burstRules = `title: Denied
id: 4a3e1f0b-9c1d-4e7a-8b2c-5d6e7f8a9b10
name: denied_call
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    errorCode: AccessDenied
  condition: sel
---
title: Denied burst
id: 4a3e1f0b-9c1d-4e7a-8b2c-5d6e7f8a9b11
level: high
correlation:
  type: event_count
  rules: [denied_call]
  group-by: [userIdentity.arn]
  timespan: 1m
  condition: {gte: 3}
`

// deniedRecord is a refused call by user at second s after 10:00.
func deniedRecord(user string, s, id int) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","eventTime":"2026-11-20T10:%02d:%02dZ","eventSource":"iam.amazonaws.com","eventName":"ListRoles","errorCode":"AccessDenied","awsRegion":"us-east-1","userIdentity":{"arn":%q},"eventID":"00000000-0000-4000-8000-%012d"}`,
		s/60, s%60, user, id)
}

// TestCorrelations checks that hunt evaluates correlations over all inputs
// in event time, whatever the order of the inputs and the number of
// workers, and that referenced rules report nothing of their own.
func TestCorrelations(t *testing.T) {
	set := detect.Load([]detect.File{{Name: "burst.yml", Data: []byte(burstRules)}, {Name: "stop.yml", Data: []byte(stopRule)}}, detect.Options{})
	if len(set.Failed) > 0 {
		t.Fatal(set.Failed)
	}
	rd, err := decode.Builtin().NewReader(decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// alice's three refusals within a minute are split over three files
	// whose order is not the events' order; bob's are too far apart.
	inputs := []decode.Input{
		input("c", deniedRecord("alice", 50, 3), deniedRecord("bob", 200, 13), record("StopLogging", 99)),
		input("a", deniedRecord("alice", 10, 1), deniedRecord("bob", 0, 11)),
		input("b", deniedRecord("alice", 30, 2), deniedRecord("bob", 100, 12)),
	}
	var want []string
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}} {
		for _, workers := range []int{1, 2, 3} {
			var ins []decode.Input
			for _, i := range order {
				ins = append(ins, inputs[i])
			}
			var got []string
			st := Run(context.Background(), ins, Options{Reader: rd, Engine: set.Engine, Correlations: set.CorrelationSet, Workers: workers},
				func(m Match) {
					if m.Correlation == nil {
						got = append(got, "event "+m.Rule.Title)
						return
					}
					c := m.Correlation
					got = append(got, fmt.Sprintf("correlation %s %s=%s %d %v", m.Rule.Title, c.Group[0].Field, c.Group[0].Value, c.Count, c.Events))
				}, func(e InputError) { t.Errorf("%s: %v", e.Input, e.Err) })
			if want == nil {
				want = got
				if len(got) != 2 || got[1] != "correlation Denied burst userIdentity.arn=alice 3 [00000000-0000-4000-8000-000000000001 00000000-0000-4000-8000-000000000002 00000000-0000-4000-8000-000000000003]" {
					t.Fatalf("matches %q", got)
				}
			}
			// Single-event matches come in input order, so compare the
			// correlation matches, which must not depend on it.
			if got[len(got)-1] != want[len(want)-1] || len(got) != len(want) {
				t.Errorf("order %v, %d workers: %q, want %q", order, workers, got, want)
			}
			if st.Matches[set.Correlations[0].Rule] != 1 || st.Correlator.Late != 0 {
				t.Errorf("stats %+v", st)
			}
		}
	}
	// Keep filters correlation matches by the correlation's level.
	var n int
	Run(context.Background(), inputs, Options{Reader: rd, Engine: set.Engine, Correlations: set.CorrelationSet,
		Keep: func(r *detect.Rule) bool { return r.Level == "critical" }}, func(Match) { n++ }, func(InputError) {})
	if n != 0 {
		t.Errorf("Keep let %d matches through", n)
	}
}

const newActionRule = `id: 7c1f0b2a-4e5d-4c3b-9a8f-1e2d3c4b5a60
title: New action for a principal
kind: first_seen
events: [{source: aws.cloudtrail}]
key: [principal]
new: [action]
learning: 0s
`

// actionRecord is a call of action by user at second s after 10:00.
func actionRecord(user, action string, s, id int) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","eventTime":"2026-11-20T10:%02d:%02dZ","eventSource":"iam.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","userIdentity":{"type":"IAMUser","arn":%q},"eventID":"00000000-0000-4000-8000-%012d"}`,
		s/60, s%60, action, user, id)
}

// TestBaselines checks that hunt evaluates baselines over all inputs, in
// batches read by the workers, with the same matches whatever the order of
// the inputs and the number of workers, after the other matches; and that
// a hunt cancelled while it runs returns.
func TestBaselines(t *testing.T) {
	rules, err := baseline.Parse("new.baseline", []byte(newActionRule))
	if err != nil {
		t.Fatal(err)
	}
	set := detect.Load([]detect.File{{Name: "stop.yml", Data: []byte(stopRule)}}, detect.Options{})
	rd, _ := decode.Builtin().NewReader(decode.Options{})
	// Three inputs of 700 calls each over 50 minutes: users u0..u4 call
	// ListRoles all along and a few new actions now and then.
	var inputs []decode.Input
	for in := 0; in < 3; in++ {
		var lines []string
		for i := 0; i < 700; i++ {
			id := in*1000 + i
			action := "ListRoles"
			if i%97 == 0 {
				action = fmt.Sprintf("Action%d_%d", in, i/97)
			}
			if i == 350 {
				action = "StopLogging"
			}
			lines = append(lines, actionRecord(fmt.Sprintf("u%d", i%5), action, (in*700+i)*3000/2100, id))
		}
		inputs = append(inputs, input(fmt.Sprintf("in%d", in), lines...))
	}
	run := func(ctx context.Context, inputs []decode.Input, workers int, emit func(Match)) Stats {
		ev, err := baseline.New(rules, baseline.Options{Lateness: baseline.Unbounded, HashSeed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return Run(ctx, inputs, Options{Reader: rd, Engine: set.Engine, Workers: workers, Baselines: ev}, emit, func(e InputError) { t.Error(e.Err) })
	}
	summary := func(inputs []decode.Input, workers int) (single int, base []string) {
		run(context.Background(), inputs, workers, func(m Match) {
			if m.Baseline == nil {
				if base != nil {
					t.Error("a single-event match came after a baseline match")
				}
				single++
				return
			}
			k := m.Baseline.Key
			base = append(base, fmt.Sprintf("%s=%s %s=%s at %s", k[0].Field, k[0].Value, k[1].Field, k[1].Value, m.Baseline.Time.Format("15:04:05")))
		})
		return single, base
	}
	wantSingle, want := summary(inputs, 1)
	// Every user's ListRoles, the 8 new actions of each input and u0's
	// StopLogging, once.
	if wantSingle != 3 || len(want) != 5+3*8+1 {
		t.Fatalf("%d single-event matches, %d baseline matches: %v", wantSingle, len(want), want)
	}
	reversed := []decode.Input{inputs[2], inputs[1], inputs[0]}
	for _, workers := range []int{2, 3} {
		for _, ins := range [][]decode.Input{inputs, reversed} {
			single, got := summary(ins, workers)
			if diff := cmp.Diff(want, got); diff != "" || single != wantSingle {
				t.Errorf("%d workers, inputs %s first: %d single-event matches; baseline matches (-want +got):\n%s", workers, ins[0].Name, single, diff)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	many := slices.Repeat(inputs, 20)
	done := make(chan Stats)
	go func() { done <- run(ctx, many, 2, func(Match) { cancel() }) }()
	select {
	case st := <-done:
		if st.Events >= int64(len(many)*700) {
			t.Errorf("a hunt cancelled at its first match read all %d events", st.Events)
		}
	case <-time.After(time.Minute):
		t.Fatal("a hunt cancelled while it ran did not return")
	}
}

// TestBaselinesInInputOrder checks that the baselines count the events of
// all inputs in input order whatever the number of workers, also when
// workers ahead of the earliest unfinished input have to wait for their
// turn: with MaxPending low, buckets close early at points that depend on
// that order, and so do the matches and counters.
func TestBaselinesInInputOrder(t *testing.T) {
	rules, err := baseline.Parse("new.baseline", []byte(newActionRule))
	if err != nil {
		t.Fatal(err)
	}
	set := detect.Load(nil, detect.Options{})
	rd, _ := decode.Builtin().NewReader(decode.Options{})
	var inputs []decode.Input
	id := 0
	for in, n := range []int{9000, 300, 6000, 5000, 1} {
		var lines []string
		for i := 0; i < n; i++ {
			id++
			lines = append(lines, actionRecord(fmt.Sprintf("u%d", (i*7+in)%40), fmt.Sprintf("A%d", (i*13+in*5)%60), (i*3600/max(n, 1)+in*17)%3600, id))
		}
		inputs = append(inputs, input(fmt.Sprintf("in%d", in), lines...))
	}
	run := func(inputs []decode.Input, workers int) ([]string, baseline.Stats) {
		ev, err := baseline.New(rules, baseline.Options{Lateness: baseline.Unbounded, MaxPending: 500, HashSeed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		st := Run(context.Background(), inputs, Options{Reader: rd, Engine: set.Engine, Workers: workers, Baselines: ev}, func(m Match) {
			if b := m.Baseline; b != nil {
				got = append(got, fmt.Sprintf("%s %s %s %d %v", b.Key[0].Value, b.Key[1].Value, b.Time.Format("15:04"), b.Events, b.EventIDs))
			}
		}, func(e InputError) { t.Error(e.Err) })
		st.Baseline.Bytes = 0 // arenas fill in another order
		return got, st.Baseline
	}
	want, wantStats := run(inputs, 1)
	if wantStats.Forced == 0 || len(want) == 0 {
		t.Fatalf("the reference closes no bucket early (%+v) or finds nothing (%d matches)", wantStats, len(want))
	}
	for _, workers := range []int{2, 3, 5} {
		// The first input opens only once the third is opened, so that
		// the workers after it queue their batches, finish inputs and
		// fill a queue while it runs.
		held := slices.Clone(inputs)
		opened := make(chan struct{})
		open0, open2 := inputs[0].Open, inputs[2].Open
		held[0].Open = func() (io.ReadCloser, error) { <-opened; return open0() }
		held[2].Open = func() (io.ReadCloser, error) { close(opened); return open2() }
		for _, ins := range [][]decode.Input{inputs, held} {
			got, st := run(ins, workers)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%d workers: matches (-one worker +more):\n%s", workers, diff)
			}
			if st != wantStats {
				t.Errorf("%d workers: stats %+v, want %+v", workers, st, wantStats)
			}
		}
	}
}
