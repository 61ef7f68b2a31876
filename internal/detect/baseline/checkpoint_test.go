package baseline_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/detect/baseline/baselinetest"
	"github.com/vigil-sec/vigil/internal/detect/state"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/geoip"
	"github.com/vigil-sec/vigil/internal/geoip/geoiptest"
)

// TestRestart checkpoints to a file mid-stream, restores into a new
// evaluator as a restarted server would, and continues: the matches are
// those of an uninterrupted run, before and after the restart.
func TestRestart(t *testing.T) {
	rules, geo := packRules(t)
	evs := traffic(t)
	opts := baseline.Options{Geo: geo}
	ref := summarize(runAll(mustNew(t, rules, opts), evs))
	for _, cut := range []float64{0.3, 0.97} {
		path := filepath.Join(t.TempDir(), "baselines.state")
		var got []baseline.Match
		e := mustNew(t, rules, opts)
		n := int(float64(len(evs)) * cut)
		for _, ev := range evs[:n] {
			e.Observe(ev, collect(&got))
		}
		if err := e.Checkpoint(path); err != nil {
			t.Fatal(err)
		}
		before := e.Stats()
		e = mustNew(t, rules, opts)
		if err := e.LoadCheckpoint(path); err != nil {
			t.Fatal(err)
		}
		after := e.Stats()
		if after.Keys != before.Keys || after.Combinations != before.Combinations || after.Pending != before.Pending ||
			after.Profiles != before.Profiles || after.Entities != before.Entities {
			t.Errorf("cut %.2f: state before %+v, after restore %+v", cut, before, after)
		}
		for _, ev := range evs[n:] {
			e.Observe(ev, collect(&got))
		}
		e.Flush(collect(&got))
		if diff := gocmp.Diff(ref, summarize(got)); diff != "" {
			t.Errorf("cut %.2f: restarted run differs (-uninterrupted +restarted):\n%s", cut, diff)
		}
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("checkpoint file: %v, %v", info, err)
		}
	}
}

// TestCheckpointDamaged gives LoadCheckpoint missing, truncated, corrupt
// and foreign files: each is a clear error (or, for a missing file, none),
// never a panic, and the evaluator is left empty and working.
func TestCheckpointDamaged(t *testing.T) {
	rules, geo := packRules(t)
	evs := traffic(t)[:40_000]
	e := mustNew(t, rules, baseline.Options{Geo: geo})
	for _, ev := range evs {
		e.Observe(ev, nil)
	}
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	future := bytes.Clone(good)
	future[8] = 9 // the version, right after the magic
	older := bytes.Clone(good)
	older[8] = 1
	older = binary.LittleEndian.AppendUint32(older[:len(older)-4], crc32.Checksum(older[:len(older)-4], crc32.MakeTable(crc32.Castagnoli)))
	dir := t.TempDir()
	tests := []struct {
		name string
		data []byte // nil: no file
		want string // "" for no error
	}{
		{"missing", nil, ""},
		{"empty", []byte{}, "truncated"},
		{"truncated", good[:len(good)/3], "truncated"},
		{"one byte short", good[:len(good)-1], "truncated"},
		{"bit flipped", flipped, "corrupt checkpoint"},
		{"newer version", future, "format version 9"},
		{"older version", older, "format version 1 was written by an earlier version"},
		{"another file", []byte("VIGILCOR\x01rest of a correlation checkpoint"), "not a \"VIGILBSL\" checkpoint"},
		{"trailing data", append(bytes.Clone(good), 0), "data after the checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if tt.data != nil {
				if err := os.WriteFile(path, tt.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			e := mustNew(t, rules, baseline.Options{Geo: geo, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			err := e.LoadCheckpoint(path)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("LoadCheckpoint: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path)):
				t.Fatalf("LoadCheckpoint: err = %v, want it to name the file and say %q", err, tt.want)
			case tt.want != "" && !errors.Is(err, state.ErrCorrupt):
				t.Errorf("error does not wrap state.ErrCorrupt: %v", err)
			case tt.want != "" && !strings.Contains(logs.String(), "level=WARN"):
				t.Errorf("no warning logged: %q", logs.String())
			}
			if st := e.Stats(); st.Keys != 0 || st.Combinations != 0 || st.Pending != 0 {
				t.Errorf("state left after a failed restore: %+v", st)
			}
			for _, ev := range evs[:1000] {
				e.Observe(ev, nil)
			}
			if e.Stats().Pending == 0 {
				t.Error("the evaluator does not work after the failed restore")
			}
		})
	}
}

// TestRestoreAcrossRuleChanges keeps the state of rules whose counting is
// unchanged (a new threshold is fine) and drops the rest.
func TestRestoreAcrossRuleChanges(t *testing.T) {
	src := apiRule + "---\nid: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\n"
	e := mustNew(t, mustRules(t, src), baseline.Options{})
	for i := 0; i < 100; i++ {
		e.Observe(&event.Event{Time: t0.Add(time.Duration(i) * time.Minute), Source: "aws.cloudtrail", Principal: "p", Action: "a", ID: "x"}, nil)
	}
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	changed := mustRules(t, strings.Replace(src, "zscore: 4", "zscore: 6", 1)+"except: [{action: b}]\n")
	var logs bytes.Buffer
	e = mustNew(t, changed, baseline.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := e.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Keys != 1 || st.Combinations != 0 {
		t.Errorf("after restore: %+v, want the rate key kept and the first_seen state dropped", st)
	}
	if !strings.Contains(logs.String(), "rules=1") {
		t.Errorf("the dropped rule is not logged: %q", logs.String())
	}
}

// TestMaybeCheckpoint checks checkpoint timing against the injected clock.
func TestMaybeCheckpoint(t *testing.T) {
	clock := baselinetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e := mustNew(t, mustRules(t, apiRule), baseline.Options{Clock: clock.Now, CheckpointInterval: 5 * time.Minute})
	path := filepath.Join(t.TempDir(), "state")
	steps := []struct {
		advance time.Duration
		wrote   bool
	}{{0, false}, {4 * time.Minute, false}, {time.Minute, true}, {time.Minute, false}, {5 * time.Minute, true}}
	for i, s := range steps {
		clock.Advance(s.advance)
		wrote, err := e.MaybeCheckpoint(path)
		if err != nil || wrote != s.wrote {
			t.Errorf("step %d: wrote %v, %v; want %v", i, wrote, err, s.wrote)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
	if _, err := e.MaybeCheckpoint(filepath.Join(t.TempDir(), "no", "such", "dir", "state")); err != nil {
		t.Errorf("a checkpoint not yet due tried to write: %v", err)
	}
	clock.Advance(time.Hour)
	if _, err := e.MaybeCheckpoint(filepath.Join(t.TempDir(), "no", "such", "dir", "state")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

// TestGeoIPDatabase runs the built-in ASN and country baselines on a real
// MaxMind-format database.
func TestGeoIPDatabase(t *testing.T) {
	path := geoiptest.Write(t, t.TempDir(), "GeoLite2-Test", []geoiptest.Network{
		{CIDR: "198.51.100.0/24", ASN: 64500, Country: "US"},
		{CIDR: "203.0.113.0/24", ASN: 64511, Country: "NL"},
	})
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, err := baseline.ReadFS(packFS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	set := baseline.Load(files, baseline.Geo{ASN: db.ASN, Country: db.Country})
	var geoRules []*baseline.Rule
	for _, r := range set.Rules {
		if strings.Contains(r.Name, "asn") || strings.Contains(r.Name, "country") {
			geoRules = append(geoRules, r)
		}
	}
	if len(geoRules) != 2 || len(set.Inactive) != 0 {
		t.Fatalf("geo rules %d, inactive %v", len(geoRules), set.Inactive)
	}
	e := mustNew(t, geoRules, baseline.Options{Geo: baseline.Geo{ASN: db.ASN, Country: db.Country}})
	var evs []*event.Event
	for m := 0; m < 8*24*60; m += 10 {
		evs = append(evs, &event.Event{Time: t0.Add(time.Duration(m) * time.Minute), Source: "aws.cloudtrail", Principal: "p", SourceIP: "198.51.100.10", ID: "a"})
	}
	evs = append(evs, &event.Event{Time: t0.Add(8 * 24 * time.Hour), Source: "aws.cloudtrail", Principal: "p", SourceIP: "203.0.113.9", ID: "new"})
	var keys []string
	for _, m := range runAll(e, evs) {
		keys = append(keys, m.Key[1].Field+"="+m.Key[1].Value)
	}
	if diff := gocmp.Diff([]string{"asn=AS64511", "country=NL"}, keys); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
	// Without a database the same rules do not load as active.
	set = baseline.Load(files, baseline.Geo{ASN: db.ASN})
	if len(set.Inactive) != 1 || !strings.Contains(set.Inactive[0].Reason, "countries") {
		t.Errorf("with an ASN database only: inactive %+v", set.Inactive)
	}
}
