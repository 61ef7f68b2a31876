package state

import (
	"bufio"
	"errors"
	"io"
)

// A stream carries bytes whose length is not known when writing starts,
// such as a checkpoint nested in another, without the writer or the reader
// holding them in memory. It is written in chunks, each a uvarint length
// and that many bytes, and ends with a chunk of length 0. The chunks
// delimit it, so a reader that reads ahead through a buffer of its own
// (as Read does) gets io.EOF at the end of the stream and never consumes
// what follows it; and every byte of it goes through the checksum of the
// checkpoint that holds it.
//
// A length-prefixed string (Encoder.String) can be read as a stream too,
// with Decoder.StringReader, when it may be too large to hold in memory.

// streamChunk is the most bytes a stream buffers before it writes a chunk.
const streamChunk = 32 << 10

var (
	errStreamOpen   = errors.New("checkpoint value written while a stream is open: close the stream first")
	errStreamClosed = errors.New("checkpoint stream written or read after it was closed")
)

// Stream returns a writer of a stream that Decoder.Stream reads back. Close
// ends the stream; until then nothing else may be encoded, and after it
// the writer accepts nothing. A write error is also the Encoder's error.
func (e *Encoder) Stream() io.WriteCloser {
	s := &streamWriter{e: e}
	if e.err == nil && e.stream != nil {
		e.err = errStreamOpen
	}
	if e.err != nil {
		s.closed = true
		return s
	}
	s.bw = bufio.NewWriterSize(chunkWriter{s}, streamChunk)
	e.stream = s
	return s
}

type streamWriter struct {
	e      *Encoder
	bw     *bufio.Writer
	closed bool
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if s.e.err != nil {
		return 0, s.e.err
	}
	if s.closed {
		return 0, errStreamClosed
	}
	return s.bw.Write(p)
}

// Close writes what is buffered and the end of the stream.
func (s *streamWriter) Close() error {
	if s.closed {
		return s.e.err
	}
	s.closed = true
	err := s.bw.Flush()
	s.e.stream = nil
	if err != nil {
		return err
	}
	s.e.Uvarint(0)
	return s.e.err
}

// chunkWriter writes each write of the stream's buffer as one chunk.
type chunkWriter struct{ s *streamWriter }

func (c chunkWriter) Write(p []byte) (int, error) {
	e := c.s.e
	if len(p) == 0 {
		return 0, e.err
	}
	e.stream = nil // the stream's own bytes
	e.Uvarint(uint64(len(p)))
	e.write(p)
	e.stream = c.s
	if e.err != nil {
		return 0, e.err
	}
	return len(p), nil
}

// Stream returns a reader of a stream written by Encoder.Stream. It
// returns io.EOF at the end of the stream, and an error wrapping
// ErrCorrupt if the stream is malformed, truncated or runs past
// Limits.MaxBytes. The next value decoded closes the stream (as does the
// end of the body); it must have been read to its end by then, or the
// checkpoint is corrupt, since it held more than its reader understood.
func (d *Decoder) Stream() io.Reader {
	return d.openStream(&streamReader{d: d, chunked: true})
}

// StringReader returns a reader of a string written by Encoder.String,
// for a string that may be too large to hold in memory: its length is
// bounded by Limits.MaxBytes only, not Limits.MaxString. Like a Stream, it
// must be read to its end before the next value is decoded.
func (d *Decoder) StringReader() io.Reader {
	n := d.Uvarint()
	if d.err == nil && n > uint64(d.lim.MaxBytes-d.read) {
		d.Fail("string of %d bytes runs past the size limit", n)
	}
	if d.err != nil {
		return &streamReader{d: d, done: true}
	}
	return d.openStream(&streamReader{d: d, left: int64(n)})
}

func (d *Decoder) openStream(s *streamReader) io.Reader {
	if d.sub != nil {
		d.closeStream()
	}
	if d.err != nil {
		s.done = true
		return s
	}
	d.sub = s
	return s
}

// closeStream ends the open stream, which must have been read to its
// end.
func (d *Decoder) closeStream() {
	s := d.sub
	d.sub = nil
	if s.done || d.err != nil {
		return
	}
	s.done = true
	if s.left > 0 {
		d.Fail("stream not read to its end (%d more bytes)", s.left)
		return
	}
	if s.chunked {
		if n := d.Uvarint(); d.err == nil && n != 0 {
			d.Fail("stream not read to its end (%d more bytes)", n)
		}
	}
}

// streamReader reads a stream, or a string as one, from a Decoder.
type streamReader struct {
	d       *Decoder
	chunked bool  // a stream, not a string
	left    int64 // bytes left in the current chunk or the string
	done    bool  // at its end, or closed
}

func (s *streamReader) Read(p []byte) (int, error) {
	d := s.d
	if d.err != nil {
		return 0, d.err
	}
	if d.sub != s {
		if s.done {
			return 0, io.EOF
		}
		return 0, errStreamClosed
	}
	for s.left == 0 {
		if !s.chunked {
			s.done = true
			d.sub = nil
			return 0, io.EOF
		}
		d.sub = nil // the stream's own bytes
		n := d.Uvarint()
		d.sub = s
		switch {
		case d.err != nil:
			return 0, d.err
		case n == 0:
			s.done = true
			d.sub = nil
			return 0, io.EOF
		case n > uint64(d.lim.MaxBytes-d.read):
			d.Fail("stream chunk of %d bytes runs past the size limit", n)
			return 0, d.err
		}
		s.left = int64(n)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := d.r.Read(p)
	d.read += int64(n)
	s.left -= int64(n)
	d.sum(p[:n])
	if err != nil {
		d.ioFail(err)
		return n, d.err
	}
	return n, nil
}
