package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/hunt"
	"github.com/vigil-sec/vigil/rules"
)

// TestHuntAndServeAgree is a property test: for random streams of refused
// calls by a few principals, the burst correlation's matches in vigil hunt
// (one file, read at once) and in vigil serve (the same events posted in
// random batches, out of order within the correlation lateness) are the
// same: the same principals and the same base events.
func TestHuntAndServeAgree(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if testing.Short() {
		seeds = seeds[:1]
	}
	const lateness = 10 * time.Minute
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			t0 := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
			// Two principals refused about nine times per five minutes each
			// for 40 minutes, so that some windows reach ten and some do
			// not.
			var recs []timedRecord
			for i := range 150 {
				p := fmt.Sprintf("arn:aws:iam::111122223333:user/u%d", r.IntN(2))
				at := t0.Add(time.Duration(r.IntN(2400)) * time.Second)
				id := fmt.Sprintf("7c1e2d3f-4a5b-4c6d-8e9f-%012d", i)
				recs = append(recs, timedRecord{at, deniedRecord(id, p, at)})
			}
			sort.Slice(recs, func(i, j int) bool { return recs[i].at.Before(recs[j].at) })
			// A last call a day later closes every window, in both.
			tick := t0.Add(26 * time.Hour)
			recs = append(recs, timedRecord{tick, deniedRecord("7c1e2d3f-4a5b-4c6d-8e9f-999999999999", "arn:aws:iam::111122223333:user/tick", tick)})

			want := huntBursts(t, recs)
			wantMatches := 0
			for _, b := range want {
				wantMatches += b.Matches
			}

			// Serve: shuffle within blocks spanning less than the
			// lateness, and post in batches of 1 to 40.
			base, tok, stop := start(t, t.TempDir(), func(c *config.Config) {
				c.Detect.CorrelationLateness = lateness
			})
			defer stop()
			postShuffled(t, r, base, tok, recs, lateness)
			// Matches of one principal close in time are one alert (alert
			// dedup), so compare per principal: how many matches, and the
			// base events of all of them.
			got := alertMatches(t, base, tok, burstTitle, wantMatches, func(a fullAlert) string { return a.Principal })
			if len(want) == 0 {
				t.Fatal("the generated stream has no burst; the property is not exercised")
			}
			checkMetricLines(t, base, tok, "vigil_correlation_late_total 0", "vigil_correlation_forced_total 0", "vigil_correlation_stale_total 0", fmt.Sprintf("vigil_correlation_matches_total %d", wantMatches))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("serve's burst alerts differ from hunt's matches (-hunt +serve):\n%s", diff)
			}
		})
	}
}

// timedRecord is a CloudTrail record and its event time.
type timedRecord struct {
	at   time.Time
	json string
}

// keyMatches are the matches of one rule on one key (a correlation's
// group, a baseline's key values).
type keyMatches struct {
	Matches int
	Events  []string // of all the matches, sorted
}

func (b *keyMatches) add(matches int, events []string) *keyMatches {
	if b == nil {
		b = &keyMatches{}
	}
	b.Matches += matches
	b.Events = append(b.Events, events...)
	return b
}

func (b *keyMatches) sort() { slices.Sort(b.Events) }

// huntBursts runs vigil hunt's evaluation (the built-in rules, with their
// correlations) over the records as one CloudTrail file, and returns the
// burst correlation's matches by principal.
func huntBursts(t *testing.T, recs []timedRecord) map[string]*keyMatches {
	t.Helper()
	files, err := detect.ReadFS(rules.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	set := detect.Load(files, detect.Options{})
	return huntTrail(t, recs, hunt.Options{Engine: set.Engine, Correlations: set.CorrelationSet}, func(m hunt.Match) (string, []string, bool) {
		if m.Correlation == nil || m.Rule.Title != burstTitle {
			return "", nil, false
		}
		return m.Correlation.Group[0].Value, m.Correlation.Events, true
	})
}

// huntTrail runs hunt.Run with opts over the records as one CloudTrail
// file, and returns the matches that match keeps, by the key it gives.
func huntTrail(t *testing.T, recs []timedRecord, opts hunt.Options, match func(hunt.Match) (key string, events []string, keep bool)) map[string]*keyMatches {
	t.Helper()
	rd, err := decode.Builtin().NewReader(decode.Options{Kind: "cloudtrail"})
	if err != nil {
		t.Fatal(err)
	}
	data := trailFile(recs)
	in := decode.Input{Name: "trail.json", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	opts.Reader, opts.Workers = rd, 2
	out := map[string]*keyMatches{}
	hunt.Run(context.Background(), []decode.Input{in}, opts, func(m hunt.Match) {
		if k, events, keep := match(m); keep {
			out[k] = out[k].add(1, events)
		}
	}, func(e hunt.InputError) { t.Errorf("hunt: %v", e) })
	for _, b := range out {
		b.sort()
	}
	return out
}

// trailFile returns the records as one CloudTrail file.
func trailFile(recs []timedRecord) []byte {
	var parts []string
	for _, x := range recs {
		parts = append(parts, x.json)
	}
	return []byte(`{"Records":[` + strings.Join(parts, ",") + `]}`)
}

// postShuffled posts recs, sorted by time, to the server at base as
// serve's input may arrive: all but the last shuffled within blocks
// spanning less than half the lateness, in batches of 1 to 40; then the
// last, the call that closes what is open, once everything else is stored.
// Posted while other batches are still in detection, it could overtake
// them by more than the lateness, which makes them late in serve but not
// in hunt, which reads everything first.
func postShuffled(t *testing.T, r *rand.Rand, base, tok string, recs []timedRecord, lateness time.Duration) {
	t.Helper()
	order := shuffledWithin(r, recs[:len(recs)-1], lateness/2)
	for lo := 0; lo < len(order); {
		hi := min(len(order), lo+1+r.IntN(40))
		ingestCloudTrail(t, base, tok, trailFile(order[lo:hi]))
		lo = hi
	}
	waitStored(t, base, tok, len(order))
	ingestCloudTrail(t, base, tok, trailFile(recs[len(recs)-1:]))
}

// shuffledWithin returns recs, in time order, shuffled within runs that
// span less than d.
func shuffledWithin(r *rand.Rand, recs []timedRecord, d time.Duration) []timedRecord {
	order := slices.Clone(recs)
	for lo := 0; lo < len(order); {
		hi := lo
		for hi < len(order) && order[hi].at.Sub(order[lo].at) < d {
			hi++
		}
		r.Shuffle(hi-lo, func(i, j int) { order[lo+i], order[lo+j] = order[lo+j], order[lo+i] })
		lo = hi
	}
	return order
}

// TestHuntAndServeAgreeOnBaselines is the same property for a first_seen
// baseline (testdata/new_action.baseline: a principal calls an action it
// never called, once ten minutes of event time have taught the rule): for
// random streams of calls by a few principals, the matches of vigil hunt
// and the alerts of vigil serve (random batches, out of order within the
// baseline lateness) are on the same principals and actions, with the
// same first events.
func TestHuntAndServeAgreeOnBaselines(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if testing.Short() {
		seeds = seeds[:1]
	}
	const lateness = 10 * time.Minute
	ruleFile := filepath.Join("testdata", "new_action.baseline")
	actions := []string{"ListRoles", "GetUser", "ListBuckets", "GetSecretValue", "CreateAccessKey", "PutRolePolicy"}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 11))
			t0 := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
			// Three principals call for an hour: two actions in the first
			// eight minutes, then six, so that some combinations are first
			// seen while the rule learns (no match), some just after it
			// (where the order of arrival could matter) and some later.
			var recs []timedRecord
			for i := range 200 {
				p := fmt.Sprintf("arn:aws:iam::111122223333:user/u%d", r.IntN(3))
				sec := r.IntN(3600)
				n := len(actions)
				if sec < 480 {
					n = 2
				}
				at := t0.Add(time.Duration(sec) * time.Second)
				id := fmt.Sprintf("5d2e3f4a-6b7c-4d8e-9f0a-%012d", i)
				recs = append(recs, timedRecord{at, callRecord(id, p, actions[r.IntN(n)], at)})
			}
			sort.Slice(recs, func(i, j int) bool { return recs[i].at.Before(recs[j].at) })
			// A last call a day later closes every bucket in serve; its
			// own bucket stays open there (hunt closes it at the end of
			// the input), so its principal is left out of the comparison.
			tick := t0.Add(26 * time.Hour)
			const ticker = "arn:aws:iam::111122223333:user/tick"
			recs = append(recs, timedRecord{tick, callRecord("5d2e3f4a-6b7c-4d8e-9f0a-999999999999", ticker, "ListUsers", tick)})

			// The hunt reads the calls out of order too, within an hour.
			want := huntFirstSeen(t, append(shuffledWithin(r, recs[:len(recs)-1], time.Hour), recs[len(recs)-1]), ruleFile)
			delete(want, ticker+" ListUsers")
			wantMatches := 0
			for _, b := range want {
				wantMatches += b.Matches
			}
			if len(want) == 0 {
				t.Fatal("the generated stream has no new action after learning; the property is not exercised")
			}

			base, tok, stop := start(t, t.TempDir(), func(c *config.Config) {
				c.Detect.Builtin = false
				c.Detect.BaselineRules = []string{ruleFile}
				c.Detect.BaselineLateness = lateness
			})
			defer stop()
			postShuffled(t, r, base, tok, recs, lateness)
			// Matches of one key close in time are one alert (alert
			// dedup), so compare per principal and action.
			got := alertMatches(t, base, tok, newActionTitle, wantMatches, func(a fullAlert) string { return a.Principal + " " + a.Action })
			checkMetricLines(t, base, tok, "vigil_baseline_late_total 0", "vigil_baseline_forced_total 0", fmt.Sprintf("vigil_baseline_matches_total %d", wantMatches))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("serve's baseline alerts differ from hunt's matches (-hunt +serve):\n%s", diff)
			}
		})
	}
}

// alertMatches polls serve's alerts of the rule titled title until they
// count want matches, or for 30 seconds, and returns their matches by the
// key of each alert.
func alertMatches(t *testing.T, base, token, title string, want int, key func(fullAlert) string) map[string]*keyMatches {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]*keyMatches{}
		n := 0
		for _, a := range listAlerts(t, base, token) {
			if a.Rule.Title == title {
				k := key(a)
				got[k] = got[k].add(a.Count, a.EventIDs)
				n += a.Count
			}
		}
		if n >= want || time.Now().After(deadline) {
			for _, b := range got {
				b.sort()
			}
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// huntFirstSeen runs vigil hunt's evaluation of the baseline rule in
// ruleFile alone over the records as one CloudTrail file, and returns its
// matches by their key values ("principal action").
func huntFirstSeen(t *testing.T, recs []timedRecord, ruleFile string) map[string]*keyMatches {
	t.Helper()
	bset, err := LoadBaselines([]string{ruleFile}, true, baseline.Geo{})
	if err != nil {
		t.Fatal(err)
	}
	if len(bset.Rules) != 1 || len(bset.Failed) > 0 || len(bset.Inactive) > 0 {
		t.Fatalf("%s: %d rules, failed %v, inactive %v; want one active rule", ruleFile, len(bset.Rules), bset.Failed, bset.Inactive)
	}
	ev, err := baseline.New(bset.Rules, baseline.Options{Lateness: baseline.Unbounded})
	if err != nil {
		t.Fatal(err)
	}
	set := detect.Load(nil, detect.Options{})
	return huntTrail(t, recs, hunt.Options{Engine: set.Engine, Baselines: ev}, func(m hunt.Match) (string, []string, bool) {
		if m.Baseline == nil {
			t.Errorf("hunt matched %q, which is no baseline", m.Rule.Title)
			return "", nil, false
		}
		var vals []string
		for _, kv := range m.Baseline.Key {
			vals = append(vals, kv.Value)
		}
		return strings.Join(vals, " "), m.Baseline.EventIDs, true
	})
}
