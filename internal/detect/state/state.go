// Package state writes and reads the checkpoint files of stateful
// detection (correlation windows, baselines).
//
// A checkpoint is an 8-byte magic string naming what it holds, a format
// version, a body of varints, strings, floats and byte streams written
// through an Encoder, and a CRC-32C of everything before it. A stream
// (Encoder.Stream, Decoder.Stream) carries bytes of a length not known in
// advance, such as a checkpoint nested in another, without either side
// holding them in memory.
//
// Files are written crash-safely: Prepare writes a temporary file in the
// same directory, and Commit syncs it, renames it over the old file and
// syncs the directory, so a crash leaves either the old checkpoint or the
// new one, never a torn file; WriteFile does both. Read and ReadFile bound
// every length and count they decode and the total size, so a corrupt or
// hostile file gives an error wrapping ErrCorrupt, never a panic or an
// allocation larger than the limits.
package state

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
)

// ErrCorrupt is wrapped by every error about the content of a checkpoint.
var ErrCorrupt = errors.New("corrupt checkpoint")

// MagicLen is the length of a file's magic string.
const MagicLen = 8

// Limits bound what a Read may decode.
type Limits struct {
	MaxBytes  int64 // total file size; default 1 GiB
	MaxString int   // bytes per string; default 1 MiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 1 << 30
	}
	if l.MaxString <= 0 {
		l.MaxString = 1 << 20
	}
	return l
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encoder writes the body of a checkpoint. After the first write error
// every call does nothing and Err returns that error.
type Encoder struct {
	w   io.Writer
	err error
	buf [binary.MaxVarintLen64]byte
	// stream is the stream being written, if one is open: nothing else
	// may be written until it is closed.
	stream *streamWriter
}

// Uvarint writes an unsigned integer.
func (e *Encoder) Uvarint(v uint64) {
	e.write(e.buf[:binary.PutUvarint(e.buf[:], v)])
}

// Varint writes a signed integer.
func (e *Encoder) Varint(v int64) {
	e.write(e.buf[:binary.PutVarint(e.buf[:], v)])
}

// String writes a length-prefixed string.
func (e *Encoder) String(s string) {
	e.Uvarint(uint64(len(s)))
	if e.err == nil {
		_, e.err = io.WriteString(e.w, s)
	}
}

// Float writes a float64 exactly (its IEEE 754 bits).
func (e *Encoder) Float(f float64) {
	binary.LittleEndian.PutUint64(e.buf[:8], math.Float64bits(f))
	e.write(e.buf[:8])
}

// Bool writes a boolean.
func (e *Encoder) Bool(b bool) {
	if b {
		e.Uvarint(1)
	} else {
		e.Uvarint(0)
	}
}

// Err returns the first write error.
func (e *Encoder) Err() error { return e.err }

func (e *Encoder) write(p []byte) {
	if e.err == nil && e.stream != nil {
		e.err = errStreamOpen
	}
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

// Write writes a checkpoint to w: magic (MagicLen bytes), version, the body
// written by body, and the checksum.
func Write(w io.Writer, magic string, version uint64, body func(*Encoder) error) error {
	if len(magic) != MagicLen {
		return fmt.Errorf("checkpoint magic %q must be %d bytes", magic, MagicLen)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	crc := crc32.New(castagnoli)
	e := &Encoder{w: io.MultiWriter(bw, crc)}
	e.write([]byte(magic))
	e.Uvarint(version)
	if err := body(e); err != nil {
		return err
	}
	if e.err == nil && e.stream != nil {
		e.err = errStreamOpen
	}
	if e.err != nil {
		return e.err
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc.Sum32())
	if _, err := bw.Write(sum[:]); err != nil {
		return err
	}
	return bw.Flush()
}

// Decoder reads the body of a checkpoint. After the first problem every
// call returns a zero value and Err returns the problem, which wraps
// ErrCorrupt when the content is at fault.
type Decoder struct {
	r    *bufio.Reader
	crc  hash.Hash32
	lim  Limits
	read int64 // bytes consumed
	err  error
	// pend holds consumed bytes not yet added to the checksum.
	pend []byte
	// sub is the stream being read, if one is open; the next value
	// decoded closes it.
	sub *streamReader
}

// Fail records a problem with the content, if none is recorded yet.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s (at byte %d)", ErrCorrupt, fmt.Sprintf(format, args...), d.read)
	}
}

// Err returns the first problem.
func (d *Decoder) Err() error { return d.err }

// Offset returns the number of bytes consumed so far.
func (d *Decoder) Offset() int64 { return d.read }

func (d *Decoder) ioFail(err error) {
	if d.err != nil {
		return
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		d.Fail("truncated")
		return
	}
	d.err = err
}

// sum adds consumed bytes to the checksum: short runs are gathered in
// pend first, since the checksum is cheaper over longer runs, and a long
// run goes to the checksum directly, never through a copy.
func (d *Decoder) sum(p []byte) {
	if len(d.pend)+len(p) < pendSize {
		d.pend = append(d.pend, p...)
		return
	}
	d.crc.Write(d.pend)
	d.pend = d.pend[:0]
	d.crc.Write(p)
}

const pendSize = 4096

func (d *Decoder) readByte() byte {
	if d.sub != nil {
		d.closeStream()
	}
	if d.err != nil {
		return 0
	}
	if d.read >= d.lim.MaxBytes {
		d.Fail("larger than %d bytes", d.lim.MaxBytes)
		return 0
	}
	b, err := d.r.ReadByte()
	if err != nil {
		d.ioFail(err)
		return 0
	}
	d.read++
	d.pend = append(d.pend, b)
	if len(d.pend) == pendSize {
		d.crc.Write(d.pend)
		d.pend = d.pend[:0]
	}
	return b
}

// Uvarint reads an unsigned integer.
func (d *Decoder) Uvarint() uint64 {
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b := d.readByte()
		if d.err != nil {
			return 0
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<s
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	d.Fail("integer overflows 64 bits")
	return 0
}

// Varint reads a signed integer.
func (d *Decoder) Varint() int64 {
	ux := d.Uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// Count reads a count and fails if it exceeds max, so that a corrupt count
// never sizes an allocation.
func (d *Decoder) Count(what string, max int) int {
	n := d.Uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(max) {
		d.Fail("%s count %d exceeds the limit %d", what, n, max)
		return 0
	}
	return int(n)
}

// Bytes reads a length-prefixed string as bytes.
func (d *Decoder) Bytes() []byte {
	n := d.Uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(d.lim.MaxString) {
		d.Fail("string of %d bytes exceeds the limit %d", n, d.lim.MaxString)
		return nil
	}
	if int64(n) > d.lim.MaxBytes-d.read {
		d.Fail("string of %d bytes runs past the size limit", n)
		return nil
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(d.r, p); err != nil {
		d.ioFail(err)
		return nil
	}
	d.read += int64(n)
	d.sum(p)
	return p
}

// String reads a length-prefixed string.
func (d *Decoder) String() string { return string(d.Bytes()) }

// Float reads a float64 written by Encoder.Float.
func (d *Decoder) Float() float64 {
	var b [8]byte
	for i := range b {
		b[i] = d.readByte()
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
}

// Bool reads a boolean.
func (d *Decoder) Bool() bool {
	switch d.Uvarint() {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail("boolean out of range")
	return false
}

// Read reads a checkpoint written by Write with the same magic. body is
// called with the decoder and the file's version, which is at most
// maxVersion; it must read the whole body. The checksum is verified after
// body returns, so body must not publish what it decoded before Read
// returns nil.
func Read(r io.Reader, magic string, maxVersion uint64, lim Limits, body func(d *Decoder, version uint64) error) error {
	lim = lim.withDefaults()
	d := &Decoder{r: bufio.NewReaderSize(r, 64<<10), crc: crc32.New(castagnoli), lim: lim, pend: make([]byte, 0, pendSize)}
	var m [MagicLen]byte
	for i := range m {
		m[i] = d.readByte()
	}
	if d.err != nil {
		return d.err
	}
	if string(m[:]) != magic {
		return fmt.Errorf("%w: not a %q checkpoint (magic %q)", ErrCorrupt, magic, m[:])
	}
	version := d.Uvarint()
	if d.err != nil {
		return d.err
	}
	if version == 0 || version > maxVersion {
		return fmt.Errorf("%w: format version %d is not one this build reads (1 to %d); it was written by another version of Vigil",
			ErrCorrupt, version, maxVersion)
	}
	if err := body(d, version); err != nil {
		return err
	}
	if d.sub != nil {
		d.closeStream()
	}
	if d.err != nil {
		return d.err
	}
	d.crc.Write(d.pend)
	want := d.crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(d.r, sum[:]); err != nil {
		d.ioFail(err)
		return d.err
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != want {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: data after the checksum", ErrCorrupt)
	}
	return nil
}
