package baseline_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/event"
)

// addFiles adds every file matching pattern below testdata and the pack
// to the seed corpus.
func addFiles(f *testing.F, pattern string) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "invalid", pattern))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	_ = fs.WalkDir(packFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if ok, _ := filepath.Match(pattern, p); ok {
				data, _ := fs.ReadFile(packFS(), p)
				f.Add(data)
			}
		}
		return nil
	})
}

// FuzzParse parses arbitrary rule files: never a panic, every problem
// positioned, and a rule that parses can be evaluated.
func FuzzParse(f *testing.F) {
	addFiles(f, "*.baseline")
	f.Add([]byte(fullRule))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := baseline.Parse("fuzz.baseline", data)
		if err != nil {
			for _, line := range bytes.Split([]byte(err.Error()), []byte("\n")) {
				if !bytes.HasPrefix(line, []byte("fuzz.baseline:")) {
					t.Fatalf("error without position: %q", line)
				}
			}
		}
		if len(rules) == 0 {
			return
		}
		seen := map[string]bool{}
		var distinct []*baseline.Rule
		for _, r := range rules {
			if !seen[r.ID] {
				seen[r.ID] = true
				distinct = append(distinct, r)
			}
		}
		e, err := baseline.New(distinct, baseline.Options{Geo: baseline.Geo{ASN: noGeo, Country: noGeo}})
		if err != nil {
			t.Fatalf("a parsed rule does not compile: %v", err)
		}
		for i := 0; i < 3; i++ {
			e.Observe(&event.Event{Time: t0.Add(time.Duration(i) * time.Hour), Source: "aws.cloudtrail", Principal: "p", Action: "a",
				Function: "f", Account: "1", Region: "r", SourceIP: "198.51.100.1", ID: "x"}, nil)
		}
		e.Flush(nil)
	})
}

func noGeo(netip.Addr) (string, bool) { return "", false }

// FuzzParseSuite parses arbitrary test case files: never a panic.
func FuzzParseSuite(f *testing.F) {
	addFiles(f, "*.tests.baseline")
	f.Add([]byte("cases:\n  - name: x\n    streams: [{start: 2026-03-02T00:00:00Z, duration: 2m, per_minute: 1, event: {source: s}}]\n    want: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := baseline.ParseSuite("fuzz.tests.baseline", data)
		if err != nil {
			return
		}
		n := 0
		for i := range s.Cases {
			n += len(s.Cases[i].Events())
			if n > 2_000_000*len(s.Cases) {
				t.Fatalf("the cases generate %d events", n)
			}
		}
	})
}

// frame wraps a checkpoint body in the magic, version 2 and a valid
// checksum, so that fuzzing reaches the decoder behind the checksum.
func frame(body []byte) []byte {
	b := append([]byte("VIGILBSL"), 2)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// FuzzRestore restores arbitrary checkpoint bodies: never a panic, the
// evaluator empty after an error, and a state that is accepted keeps
// working and survives another round trip.
func FuzzRestore(f *testing.F) {
	rules, geo := packRules(f)
	evs := traffic(f)
	e := mustNew(f, rules, baseline.Options{Geo: geo})
	for _, ev := range evs[:20_000] {
		e.Observe(ev, nil)
	}
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	body := buf.Bytes()[9 : buf.Len()-4]
	f.Add(body)
	f.Add(body[:len(body)/2])
	f.Add([]byte{})
	small := mustRules(f, apiRule)
	es := mustNew(f, small, baseline.Options{})
	for i := 0; i < 200; i++ {
		es.Observe(&event.Event{Time: t0.Add(time.Duration(i) * 17 * time.Second), Source: "aws.cloudtrail", Principal: string(rune('a' + i%5)), ID: "e"}, nil)
	}
	buf.Reset()
	if err := es.Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes()[9 : buf.Len()-4])
	more := evs[20_000:20_500]
	f.Fuzz(func(t *testing.T, body []byte) {
		e := mustNew(t, rules, baseline.Options{Geo: geo, MaxKeys: 64, MaxPending: 256})
		if err := e.Restore(bytes.NewReader(frame(body))); err != nil {
			if st := e.Stats(); st.Keys != 0 || st.Pending != 0 || st.Combinations != 0 {
				t.Fatalf("state left after a failed restore: %+v", st)
			}
			return
		}
		for _, ev := range more {
			e.Observe(ev, nil)
		}
		var out bytes.Buffer
		if err := e.Snapshot(&out); err != nil {
			t.Fatal(err)
		}
		e2 := mustNew(t, rules, baseline.Options{Geo: geo, MaxKeys: 64, MaxPending: 256})
		if err := e2.Restore(&out); err != nil {
			t.Fatalf("a snapshot of a restored state does not restore: %v", err)
		}
		e.Flush(nil)
	})
}

// TestFuzzSeeds keeps the checkpoint seeds of FuzzRestore in
// testdata/fuzz in the current format (go test -update rewrites them), and
// checks that they restore.
func TestFuzzSeeds(t *testing.T) {
	e := mustNew(t, mustRules(t, apiRule+"---\nid: fs\ntitle: FS\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [action]\nkey_learning: 1h\n"), baseline.Options{HashSeed: 1})
	for i := 0; i < 300; i++ {
		e.Observe(&event.Event{Time: t0.Add(time.Duration(i) * 23 * time.Second), Source: "aws.cloudtrail",
			Principal: string(rune('a' + i%4)), Action: string(rune('k' + i%3)), ID: "e" + string(rune('0'+i%10))}, nil)
	}
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	body := buf.Bytes()[9 : buf.Len()-4]
	dir := filepath.Join("testdata", "fuzz", "FuzzRestore")
	seeds := map[string][]byte{"small": body, "truncated": body[:len(body)*2/3]}
	for name, data := range seeds {
		path := filepath.Join(dir, name)
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if string(got) != want {
			t.Errorf("%s is out of date: run go test -update", path)
		}
	}
	e2 := mustNew(t, e.Rules(), baseline.Options{})
	if err := e2.Restore(bytes.NewReader(frame(body))); err != nil {
		t.Errorf("the small seed does not restore: %v", err)
	}
}
