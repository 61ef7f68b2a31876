package state

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// pattern returns n bytes that differ from one offset to the next.
func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

// writeStream writes data to a stream in writes of size step (all at once
// if 0), then the string "after".
func writeStream(data []byte, step int) func(*Encoder) error {
	return func(e *Encoder) error {
		e.Uvarint(7)
		w := e.Stream()
		for rest := data; len(rest) > 0; {
			n := len(rest)
			if step > 0 {
				n = min(n, step)
			}
			if _, err := w.Write(rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			return err
		}
		e.String("after")
		return e.Err()
	}
}

func TestStreamRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		size int
		step int
	}{
		{"empty", 0, 0},
		{"one byte", 1, 0},
		{"one chunk", streamChunk, 0},
		{"one write of many chunks", 5*streamChunk + 3, 0},
		{"small writes", 3*streamChunk + 11, 100},
		{"writes larger than a chunk", 4*streamChunk + 5, streamChunk + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := pattern(tt.size)
			var buf bytes.Buffer
			if err := Write(&buf, magic, 1, writeStream(want, tt.step)); err != nil {
				t.Fatal(err)
			}
			if overhead := buf.Len() - tt.size; overhead > 40+tt.size/streamChunk*4 {
				t.Errorf("%d bytes written for a stream of %d: %d bytes of framing", buf.Len(), tt.size, overhead)
			}
			var got []byte
			var after string
			err := Read(&buf, magic, 1, Limits{}, func(d *Decoder, _ uint64) error {
				if n := d.Uvarint(); n != 7 {
					d.Fail("read %d before the stream", n)
				}
				var err error
				if got, err = io.ReadAll(d.Stream()); err != nil {
					return err
				}
				after = d.String()
				return d.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("stream read back as %d bytes that differ from the %d written", len(got), len(want))
			}
			if after != "after" {
				t.Errorf("value after the stream read as %q", after)
			}
		})
	}
}

// TestNestedCheckpoint streams a checkpoint inside another, as serve's
// state files do. Read reads the inner one through a buffer that reads
// ahead; the stream must end it exactly, leaving the outer checkpoint's
// next value and checksum.
func TestNestedCheckpoint(t *testing.T) {
	inner := sample
	inner.S = strings.Repeat("w", 200<<10) // past Read's buffer
	var buf bytes.Buffer
	err := Write(&buf, "OUTERMAG", 1, func(e *Encoder) error {
		w := e.Stream()
		if err := Write(w, magic, 1, inner.write); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		e.Uvarint(99)
		return e.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	var got record
	var next uint64
	err = Read(&buf, "OUTERMAG", 1, Limits{}, func(d *Decoder, _ uint64) error {
		if err := Read(d.Stream(), magic, 1, Limits{}, got.read); err != nil {
			return err
		}
		next = d.Uvarint()
		return d.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inner, got); diff != "" {
		t.Errorf("nested checkpoint (-want +got):\n%s", diff)
	}
	if next != 99 {
		t.Errorf("value after the nested checkpoint read as %d, want 99", next)
	}
}

func TestStringReader(t *testing.T) {
	want := string(pattern(3 << 20))
	var buf bytes.Buffer
	if err := Write(&buf, magic, 1, func(e *Encoder) error { e.String(want); e.Uvarint(5); return e.Err() }); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	read := func(lim Limits, n int) (string, uint64, error) {
		var got []byte
		var next uint64
		err := Read(bytes.NewReader(data), magic, 1, lim, func(d *Decoder, _ uint64) error {
			var err error
			if got, err = io.ReadAll(io.LimitReader(d.StringReader(), int64(n))); err != nil {
				return err
			}
			next = d.Uvarint()
			return d.Err()
		})
		return string(got), next, err
	}
	// The string is longer than MaxString: read as a stream, it is never
	// held whole by the decoder.
	got, next, err := read(Limits{MaxString: 1 << 10}, len(want))
	if err != nil {
		t.Fatal(err)
	}
	if got != want || next != 5 {
		t.Errorf("read %d bytes (equal: %v) then %d; want the %d bytes written then 5", len(got), got == want, next, len(want))
	}
	if _, _, err := read(Limits{MaxBytes: 1 << 20}, len(want)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "runs past the size limit") {
		t.Errorf("string longer than MaxBytes: %v", err)
	}
	if _, _, err := read(Limits{}, 100); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not read to its end") {
		t.Errorf("string read in part: %v", err)
	}
}

func TestStreamCorrupt(t *testing.T) {
	good := func() []byte {
		var buf bytes.Buffer
		if err := Write(&buf, magic, 1, writeStream(pattern(2*streamChunk+10), 0)); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	readAll := func(d *Decoder) error {
		d.Uvarint()
		if _, err := io.Copy(io.Discard, d.Stream()); err != nil {
			return err
		}
		_ = d.String()
		return d.Err()
	}
	// The stream is one chunk of 65546 bytes (a write larger than the
	// writer's buffer is a chunk of its own), after the magic, the version
	// and the body's first value (7): 10 bytes.
	tests := []struct {
		name string
		data []byte
		lim  Limits
		body func(d *Decoder) error
		want string
	}{
		{"truncated in a chunk", good()[:1000], Limits{}, readAll, "truncated"},
		{"truncated before the end", good()[:len(good())-11], Limits{}, readAll, "truncated"},
		{"chunk past the size limit", good(), Limits{MaxBytes: streamChunk}, readAll, "stream chunk of 65546 bytes runs past the size limit"},
		{"chunk length overflows", func() []byte {
			b := good()[:10]
			return append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
		}(), Limits{}, readAll, "overflows"},
		{"flipped data byte", func() []byte { b := good(); b[100] ^= 1; return b }(), Limits{}, readAll, "checksum mismatch"},
		{"stream read in part", good(), Limits{}, func(d *Decoder) error {
			d.Uvarint()
			if _, err := io.ReadFull(d.Stream(), make([]byte, 100)); err != nil {
				return err
			}
			_ = d.String()
			return d.Err()
		}, "stream not read to its end (65446 more bytes)"},
		{"stream read to the end of its data, not past it", good(), Limits{}, func(d *Decoder) error {
			d.Uvarint()
			if _, err := io.ReadFull(d.Stream(), make([]byte, 2*streamChunk+10)); err != nil {
				return err
			}
			_ = d.String()
			return d.Err()
		}, ""},
		{"stream left open at the end of the body", good(), Limits{}, func(d *Decoder) error {
			d.Uvarint()
			d.Stream()
			return d.Err()
		}, "stream not read to its end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Read(bytes.NewReader(tt.data), magic, 1, tt.lim, func(d *Decoder, _ uint64) error { return tt.body(d) })
			if tt.want == "" {
				if err != nil {
					t.Errorf("Read = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read = %v; want an error wrapping ErrCorrupt that says %q", err, tt.want)
			}
		})
	}
}

// TestStreamMisuse checks that a stream used out of turn is an error, on
// both sides, rather than a checkpoint that does not read back.
func TestStreamMisuse(t *testing.T) {
	tests := []struct {
		name string
		body func(e *Encoder) error
		want error
	}{
		{"value written while a stream is open", func(e *Encoder) error {
			e.Stream()
			e.Uvarint(1)
			return e.Err()
		}, errStreamOpen},
		{"stream left open", func(e *Encoder) error {
			w := e.Stream()
			_, err := w.Write([]byte("x"))
			return err
		}, errStreamOpen},
		{"two streams open", func(e *Encoder) error {
			e.Stream()
			e.Stream()
			return e.Err()
		}, errStreamOpen},
		{"write after close", func(e *Encoder) error {
			w := e.Stream()
			w.Close()
			_, err := w.Write([]byte("x"))
			return err
		}, errStreamClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Write(io.Discard, magic, 1, tt.body); !errors.Is(err, tt.want) {
				t.Errorf("Write = %v, want %v", err, tt.want)
			}
		})
	}
	var buf bytes.Buffer
	if err := Write(&buf, magic, 1, writeStream([]byte("data"), 0)); err != nil {
		t.Fatal(err)
	}
	err := Read(&buf, magic, 1, Limits{}, func(d *Decoder, _ uint64) error {
		d.Uvarint()
		s := d.Stream()
		io.ReadAll(s)
		_ = d.String()
		if _, err := s.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("read of a stream read to its end and closed = %v, want io.EOF", err)
		}
		return d.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStreamMemory checks that a stream is neither held by the writer nor
// by the reader: moving 64 MiB through one allocates a small fraction of
// that.
func TestStreamMemory(t *testing.T) {
	const size = 64 << 20
	block := pattern(64 << 10)
	var file bytes.Buffer
	file.Grow(size + 1<<20)
	alloc := measureAlloc(func() {
		err := Write(&file, magic, 1, func(e *Encoder) error {
			w := e.Stream()
			for n := 0; n < size; n += len(block) {
				if _, err := w.Write(block); err != nil {
					return err
				}
			}
			return w.Close()
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if alloc > 1<<20 {
		t.Errorf("writing a %d-byte stream allocated %d bytes", size, alloc)
	}
	var got int64
	alloc = measureAlloc(func() {
		err := Read(&file, magic, 1, Limits{}, func(d *Decoder, _ uint64) error {
			var err error
			got, err = io.CopyBuffer(io.Discard, d.Stream(), make([]byte, 32<<10))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if got != size {
		t.Errorf("read %d bytes back, want %d", got, size)
	}
	if alloc > 1<<20 {
		t.Errorf("reading a %d-byte stream allocated %d bytes", size, alloc)
	}
	t.Logf("a %d MiB stream: %d bytes allocated to read it", size>>20, alloc)
}

// measureAlloc returns the bytes allocated while f runs.
func measureAlloc(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// FuzzReadStream decodes arbitrary bytes as a checkpoint holding a stream
// and a string read as a stream: it must never panic, and what it accepts
// must encode back to a checkpoint that reads the same.
func FuzzReadStream(f *testing.F) {
	encodeStreams := func(a, b []byte) []byte {
		var buf bytes.Buffer
		err := Write(&buf, magic, 1, func(e *Encoder) error {
			w := e.Stream()
			w.Write(a)
			w.Close()
			e.String(string(b))
			return e.Err()
		})
		if err != nil {
			f.Fatal(err)
		}
		return buf.Bytes()
	}
	f.Add(encodeStreams(nil, nil))
	f.Add(encodeStreams([]byte("stream"), []byte("string")))
	f.Add(encodeStreams(pattern(streamChunk+1), pattern(300)))
	lim := Limits{MaxBytes: 1 << 17, MaxString: 1 << 8}
	decode := func(data []byte) (a, b []byte, err error) {
		err = Read(bytes.NewReader(data), magic, 1, lim, func(d *Decoder, _ uint64) error {
			var err error
			if a, err = io.ReadAll(d.Stream()); err != nil {
				return err
			}
			if b, err = io.ReadAll(d.StringReader()); err != nil {
				return err
			}
			return d.Err()
		})
		return a, b, err
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b, err := decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		a2, b2, err := decode(encodeStreams(a, b))
		if err != nil {
			t.Fatalf("re-encoded streams do not read: %v", err)
		}
		if !bytes.Equal(a, a2) || !bytes.Equal(b, b2) {
			t.Fatal("re-encoding changed the streams")
		}
	})
}
