package state

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const magic = "TESTSTAT"

// record is what the tests write: every kind of value.
type record struct {
	U    uint64
	I    int64
	S    string
	F    float64
	B    bool
	List []string
}

func (r record) write(e *Encoder) error {
	e.Uvarint(r.U)
	e.Varint(r.I)
	e.String(r.S)
	e.Float(r.F)
	e.Bool(r.B)
	e.Uvarint(uint64(len(r.List)))
	for _, s := range r.List {
		e.String(s)
	}
	return e.Err()
}

func (r *record) read(d *Decoder, _ uint64) error {
	r.U = d.Uvarint()
	r.I = d.Varint()
	r.S = d.String()
	r.F = d.Float()
	r.B = d.Bool()
	n := d.Count("list", 1000)
	for i := 0; i < n && d.Err() == nil; i++ {
		r.List = append(r.List, d.String())
	}
	return d.Err()
}

var sample = record{U: math.MaxUint64, I: math.MinInt64, S: "héllo\x00world", F: -0.1, B: true, List: []string{"", "a", strings.Repeat("x", 300)}}

func encode(t testing.TB, r record) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, magic, 2, r.write); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := encode(t, sample)
	var got record
	var version uint64
	err := Read(bytes.NewReader(data), magic, 3, Limits{}, func(d *Decoder, v uint64) error {
		version = v
		return got.read(d, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if version != 2 {
		t.Errorf("version %d, want 2", version)
	}
	if diff := cmp.Diff(sample, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestCorrupt(t *testing.T) {
	good := encode(t, sample)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		data []byte
		lim  Limits
		max  uint64
		want string
	}{
		{"empty", nil, Limits{}, 3, "truncated"},
		{"truncated body", good[:20], Limits{}, 3, "truncated"},
		{"no checksum", good[:len(good)-4], Limits{}, 3, "truncated"},
		{"flipped bit", mutate(func(b []byte) []byte { b[12] ^= 1; return b }), Limits{}, 3, ""},
		{"bad checksum", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), Limits{}, 3, "checksum mismatch"},
		{"trailing byte", append(bytes.Clone(good), 0), Limits{}, 3, "data after the checksum"},
		{"other magic", mutate(func(b []byte) []byte { copy(b, "OTHERMAG"); return b }), Limits{}, 3, "not a"},
		{"newer version", good, Limits{}, 1, "format version 2"},
		{"version zero", mutate(func(b []byte) []byte { b[8] = 0; return b }), Limits{}, 3, "format version 0"},
		{"string over the limit", good, Limits{MaxString: 100}, 3, "exceeds the limit 100"},
		{"file over the limit", good, Limits{MaxBytes: 50}, 3, "larger than 50 bytes"},
		{"varint overflow", append([]byte(magic), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), Limits{}, 3, "overflows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got record
			err := Read(bytes.NewReader(tc.data), magic, tc.max, tc.lim, got.read)
			if err == nil {
				t.Fatal("read succeeded")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%v does not wrap ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestCountBound(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, magic, 1, func(e *Encoder) error {
		e.Uvarint(1 << 40) // a count no allocation may follow
		return e.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	err = Read(&buf, magic, 1, Limits{}, func(d *Decoder, _ uint64) error {
		n := d.Count("group", 1<<20)
		if n != 0 {
			t.Errorf("count %d let through", n)
		}
		return d.Err()
	})
	if err == nil || !strings.Contains(err.Error(), "group count 1099511627776 exceeds the limit 1048576") {
		t.Errorf("err = %v", err)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := WriteFile(path, magic, 1, sample.write); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	// A failing write leaves the previous file and no temporary file.
	boom := errors.New("boom")
	if err := WriteFile(path, magic, 1, func(*Encoder) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after a failed write, want 1", len(entries))
	}
	var got record
	if err := ReadFile(path, magic, 1, Limits{}, got.read); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sample, got); diff != "" {
		t.Errorf("file round trip (-want +got):\n%s", diff)
	}
	if err := ReadFile(filepath.Join(dir, "missing"), magic, 1, Limits{}, got.read); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := ReadFile(path, magic, 1, Limits{MaxBytes: 10}, got.read); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("oversized file: %v", err)
	}
	if err := WriteFile(path, "short", 1, sample.write); err == nil {
		t.Error("a magic of the wrong length was accepted")
	}
}

// FuzzRead decodes arbitrary bytes: it must never panic, and anything it
// accepts must encode back to the same bytes.
func FuzzRead(f *testing.F) {
	f.Add(encode(f, sample))
	f.Add(encode(f, record{}))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got record
		err := Read(bytes.NewReader(data), magic, 3, Limits{MaxBytes: 1 << 16, MaxString: 1 << 12}, got.read)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, magic, uint64(data[8]), got.write); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), data) {
			// Non-minimal varints decode but do not re-encode identically;
			// decoding the re-encoding must give the same record.
			var again record
			if err := Read(bytes.NewReader(buf.Bytes()), magic, 3, Limits{}, again.read); err != nil {
				t.Fatalf("re-encoded record does not read: %v", err)
			}
			if diff := cmp.Diff(got, again, cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })); diff != "" {
				t.Fatalf("re-encoding changed the record:\n%s", diff)
			}
		}
	})
}
