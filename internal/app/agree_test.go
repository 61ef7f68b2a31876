package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
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
			order := slices.Clone(recs[:len(recs)-1])
			for lo := 0; lo < len(order); {
				hi := lo
				for hi < len(order) && order[hi].at.Sub(order[lo].at) < lateness/2 {
					hi++
				}
				r.Shuffle(hi-lo, func(i, j int) { order[lo+i], order[lo+j] = order[lo+j], order[lo+i] })
				lo = hi
			}
			base, tok, stop := start(t, t.TempDir(), func(c *config.Config) {
				c.Detect.CorrelationLateness = lateness
			})
			defer stop()
			for lo := 0; lo < len(order); {
				hi := min(len(order), lo+1+r.IntN(40))
				var parts []string
				for _, x := range order[lo:hi] {
					parts = append(parts, x.json)
				}
				ingestCloudTrail(t, base, tok, []byte(`{"Records":[`+strings.Join(parts, ",")+`]}`))
				lo = hi
			}
			// The closing call goes last, once everything else is stored:
			// posted while other batches are still in detection, it could
			// overtake them by more than the lateness, which makes them
			// late in serve but not in hunt, which reads everything first.
			waitStored(t, base, tok, len(order))
			ingestCloudTrail(t, base, tok, []byte(`{"Records":[`+recs[len(recs)-1].json+`]}`))
			// Matches of one principal close in time are one alert (alert
			// dedup), so compare per principal: how many matches, and the
			// base events of all of them.
			var got map[string]*principalBursts
			deadline := time.Now().Add(30 * time.Second)
			for {
				got = map[string]*principalBursts{}
				n := 0
				for _, a := range listAlerts(t, base, tok) {
					if a.Rule.Title == burstTitle {
						got[a.Principal] = got[a.Principal].add(a.Count, a.EventIDs)
						n += a.Count
					}
				}
				if n >= wantMatches || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(want) == 0 {
				t.Fatal("the generated stream has no burst; the property is not exercised")
			}
			for _, b := range got {
				b.sort()
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

// principalBursts are the burst correlation's matches on one principal.
type principalBursts struct {
	Matches int
	Events  []string // of all the matches, sorted
}

func (b *principalBursts) add(matches int, events []string) *principalBursts {
	if b == nil {
		b = &principalBursts{}
	}
	b.Matches += matches
	b.Events = append(b.Events, events...)
	return b
}

func (b *principalBursts) sort() { slices.Sort(b.Events) }

// huntBursts runs vigil hunt's evaluation (the built-in rules, with their
// correlations) over the records as one CloudTrail file, and returns the
// burst correlation's matches by principal.
func huntBursts(t *testing.T, recs []timedRecord) map[string]*principalBursts {
	t.Helper()
	files, err := detect.ReadFS(rules.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	set := detect.Load(files, detect.Options{})
	rd, err := decode.Builtin().NewReader(decode.Options{Kind: "cloudtrail"})
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, x := range recs {
		parts = append(parts, x.json)
	}
	data := []byte(`{"Records":[` + strings.Join(parts, ",") + `]}`)
	in := decode.Input{Name: "trail.json", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	out := map[string]*principalBursts{}
	hunt.Run(context.Background(), []decode.Input{in}, hunt.Options{Reader: rd, Engine: set.Engine, Correlations: set.CorrelationSet, Workers: 2},
		func(m hunt.Match) {
			if m.Correlation != nil && m.Rule.Title == burstTitle {
				p := m.Correlation.Group[0].Value
				out[p] = out[p].add(1, m.Correlation.Events)
			}
		}, func(e hunt.InputError) { t.Errorf("hunt: %v", e) })
	for _, b := range out {
		b.sort()
	}
	return out
}
