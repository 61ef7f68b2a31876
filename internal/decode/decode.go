// Package decode reads log input — files, directories, standard input,
// request bodies — undoes gzip, splits it into JSON documents, JSON Lines or
// text lines, recognizes the format and hands each piece to the format's
// decoder. Every read is bounded.
package decode

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// Auto is the kind that recognizes the format of each document.
const Auto = "auto"

// DefaultMaxDocument bounds one JSON document or one line: a whole S3
// delivery file, one request body, one line of JSON Lines.
const DefaultMaxDocument = 256 << 20

// Registry is an ordered set of decoders. In auto mode the first decoder
// whose Detect accepts a document decodes it, so wrappers (Firehose,
// Pub/Sub, Event Grid) come before the formats they carry.
type Registry struct {
	decoders []source.Decoder
}

// NewRegistry returns a registry of the given decoders, in detection order.
func NewRegistry(decoders ...source.Decoder) *Registry {
	return &Registry{decoders: decoders}
}

// Kinds lists the kinds users can name, plus Auto.
func (r *Registry) Kinds() []string {
	out := []string{Auto}
	for _, d := range r.decoders {
		out = append(out, d.Kind)
	}
	return out
}

// Has reports whether kind is Auto or a registered kind.
func (r *Registry) Has(kind string) bool {
	return slices.Contains(r.Kinds(), kind)
}

func (r *Registry) lookup(kind string) *source.Decoder {
	for i := range r.decoders {
		if r.decoders[i].Kind == kind {
			return &r.decoders[i]
		}
	}
	return nil
}

// Options control one Reader.
type Options struct {
	Kind        string // a registered kind, or Auto ("" means Auto)
	MaxDocument int    // bound on one document or line; 0 means DefaultMaxDocument
}

// Reader decodes inputs with one registry and one set of options. It is
// safe for concurrent use.
type Reader struct {
	reg  *Registry
	opts Options
	bufs sync.Pool // *buffers, reused from one Read to the next
}

// buffers are the memory one Read parses into. Events point into them, which
// is why a Sink may use an event only until its Event method returns.
type buffers struct {
	doc  jsondoc.Doc
	line []byte
}

// NewReader returns a Reader, or an error naming the valid kinds when the
// kind is not known.
func (r *Registry) NewReader(opts Options) (*Reader, error) {
	if opts.Kind == "" {
		opts.Kind = Auto
	}
	if !r.Has(opts.Kind) {
		return nil, fmt.Errorf("unknown source kind %q: use one of %s", opts.Kind, strings.Join(r.Kinds(), ", "))
	}
	if opts.MaxDocument <= 0 {
		opts.MaxDocument = DefaultMaxDocument
	}
	return &Reader{reg: r, opts: opts}, nil
}

// errStopped ends reading when the caller's stop function says so.
var errStopped = errors.New("stopped")

// Read decodes everything in in. Bad records are reported to sink and
// reading goes on; the error returned means the input as a whole could not
// be read: it is empty, truncated gzip, not JSON at all, or not the format
// asked for. stop, if not nil, is asked between documents and lines
// whether to give up.
func (rd *Reader) Read(in io.Reader, sink source.Sink, stop func() bool) error {
	hint := sizeHint(in)
	br := bufio.NewReaderSize(in, 64<<10)
	if magic, _ := br.Peek(2); source.IsGzip(magic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("invalid gzip data: %w", err)
		}
		br = bufio.NewReaderSize(gzipErrors{zr}, 64<<10)
		hint *= 8 // a typical compression ratio of JSON logs
	}
	buf, _ := rd.bufs.Get().(*buffers)
	if buf == nil {
		buf = new(buffers)
		buf.doc.SetLimits(jsondoc.Limits{MaxDepth: source.MaxDepth})
	}
	defer rd.bufs.Put(buf)
	f := framer{rd: rd, br: br, sink: sink, stop: stop, hint: hint, buf: buf}
	err := f.run()
	if errors.Is(err, errStopped) {
		return nil
	}
	return err
}

// sizeHint returns the size of in when it is known: a file, or an
// in-memory reader.
func sizeHint(in io.Reader) int {
	switch r := in.(type) {
	case interface{ Len() int }:
		return r.Len()
	case interface{ Stat() (fs.FileInfo, error) }:
		if info, err := r.Stat(); err == nil && info.Mode().IsRegular() {
			return int(min(info.Size(), 1<<40))
		}
	}
	return 0
}

// gzipErrors turns the gzip reader's errors into messages a user can act on.
type gzipErrors struct{ r io.Reader }

func (g gzipErrors) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = errors.New("truncated gzip data")
	default:
		err = fmt.Errorf("invalid gzip data: %w", err)
	}
	return n, err
}

type framer struct {
	buf  *buffers
	hint int // the expected input size, to size the first line's buffer
	rd   *Reader
	br   *bufio.Reader
	sink source.Sink
	stop func() bool
	line int // lines consumed so far
}

func (f *framer) stopped() bool { return f.stop != nil && f.stop() }

func (f *framer) run() error {
	first, err := f.firstByte()
	if err != nil {
		return err
	}
	if first != '{' && first != '[' {
		return f.textLines()
	}
	// A JSON document is either all of the input (one line or many) or the
	// first of many lines of JSON Lines. Read the first line to tell.
	line, tooLong, err := f.readLine()
	if err != nil {
		return err
	}
	if tooLong {
		// One document over the limit, or JSON Lines whose first line
		// is: what follows tells.
		if rest, err := f.onlySpaceLeft(); err != nil || rest {
			return fmt.Errorf("input is larger than the %d MiB document limit", f.rd.opts.MaxDocument>>20)
		}
		source.Failf(f.sink, "line 1", "line is longer than the %d MiB limit", f.rd.opts.MaxDocument>>20)
		return f.jsonLines()
	}
	doc := &f.buf.doc
	perr := doc.Parse(line)
	if perr != nil && !errors.Is(perr, jsondoc.ErrTrailing) {
		// JSON Lines with a bad first line, if the second line is a
		// document of its own; otherwise a document spanning lines.
		first := bytes.Clone(line)
		second, tooLong, err := f.readLine()
		switch {
		case err == io.EOF:
			return fmt.Errorf("input is not valid JSON: %w", perr)
		case err != nil:
			return err
		case !tooLong && !opensDocument(first) && doc.Parse(second) == nil && doc.Root().Kind() == jsondoc.Object:
			f.sink.Fail(&source.RecordError{Where: "line 1", Err: perr})
			f.jsonLine(doc, second, nil)
			return f.jsonLines()
		case tooLong:
			return fmt.Errorf("input is larger than the %d MiB document limit", f.rd.opts.MaxDocument>>20)
		}
		line = append(append(first, '\n'), second...)
		perr = doc.Parse(line)
	}
	if perr == nil {
		rest, err := f.onlySpaceLeft()
		if err != nil {
			return err
		}
		if rest {
			return f.document(doc, "")
		}
		f.jsonLine(doc, line, nil)
		return f.jsonLines()
	}
	// The first line is not a whole document: either a document that
	// spans lines, or JSON Lines whose first line is bad.
	all, err := f.readAll(line)
	if err != nil {
		return err
	}
	if err := doc.Parse(all); err == nil {
		return f.document(doc, "")
	} else if !bytes.Contains(bytes.TrimSpace(all), []byte("\n")) {
		return fmt.Errorf("input is not valid JSON: %w", err)
	}
	// Several lines that do not form one document: JSON Lines.
	f.line = 0
	f.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(all), f.br), 64<<10)
	return f.jsonLines()
}

// opensDocument reports whether a line only opens a pretty-printed
// document, like "{" or "[".
func opensDocument(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) == 1 || bytes.Equal(t, []byte("[{"))
}

// firstByte returns the first byte that is not white space or a UTF-8 byte
// order mark, without consuming it.
func (f *framer) firstByte() (byte, error) {
	for {
		b, err := f.br.Peek(1)
		if err == io.EOF {
			return 0, errors.New("input is empty")
		}
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			f.br.Discard(1)
			if b[0] == '\n' {
				f.line++
			}
		case 0xEF:
			if bom, _ := f.br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
				f.br.Discard(3)
				continue
			}
			return b[0], nil
		default:
			return b[0], nil
		}
	}
}

// readLine returns the next line without its end of line, in the line
// buffer, which the next call overwrites. A line longer than the limit is
// consumed and reported as tooLong.
func (f *framer) readLine() (line []byte, tooLong bool, err error) {
	max := f.rd.opts.MaxDocument
	line = f.buf.line[:0]
	if want := min(f.hint, max) + 1; f.hint > 0 && cap(line) < want {
		// The first line is often the whole input (a delivery file): read
		// it into one buffer of the right size.
		line = make([]byte, 0, want)
	}
	f.hint = 0
	defer func() { f.buf.line = line[:0] }()
	for {
		chunk, err := f.br.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			tooLong = true
			line = line[:0]
		} else if !tooLong {
			line = append(line, chunk...)
		}
		switch {
		case err == nil:
			f.line++
			return bytes.TrimRight(line, "\r\n"), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if len(line) == 0 && !tooLong {
				return nil, false, io.EOF
			}
			f.line++
			return bytes.TrimRight(line, "\r\n"), tooLong, nil
		default:
			return nil, false, err
		}
	}
}

func (f *framer) onlySpaceLeft() (bool, error) {
	for {
		b, err := f.br.ReadByte()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		switch b {
		case ' ', '\t', '\r':
		case '\n':
			f.line++
		default:
			return false, f.br.UnreadByte()
		}
	}
}

// readAll returns head followed by the rest of the input, bounded by the
// document limit.
func (f *framer) readAll(head []byte) ([]byte, error) {
	max := f.rd.opts.MaxDocument
	// A new buffer: the line buffer is reused while this one is read again
	// as JSON Lines.
	buf := bytes.NewBuffer(make([]byte, 0, len(head)+64<<10))
	buf.Write(head)
	buf.WriteByte('\n')
	if _, err := io.Copy(buf, io.LimitReader(f.br, int64(max-buf.Len()+1))); err != nil {
		return nil, err
	}
	if buf.Len() > max {
		return nil, fmt.Errorf("input is larger than the %d MiB document limit", max>>20)
	}
	return buf.Bytes(), nil
}

func (f *framer) jsonLines() error {
	for {
		if f.stopped() {
			return errStopped
		}
		line, tooLong, err := f.readLine()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		where := fmt.Sprintf("line %d", f.line)
		if tooLong {
			source.Failf(f.sink, where, "line is longer than the %d MiB limit", f.rd.opts.MaxDocument>>20)
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		doc := &f.buf.doc
		f.jsonLine(doc, line, doc.Parse(line))
	}
}

func (f *framer) jsonLine(doc *jsondoc.Doc, line []byte, perr error) {
	where := fmt.Sprintf("line %d", f.line)
	if perr != nil {
		f.sink.Fail(&source.RecordError{Where: where, Err: perr})
		return
	}
	if err := f.document(doc, where); err != nil {
		f.sink.Fail(&source.RecordError{Where: where, Err: err})
	}
}

// document decodes one parsed JSON document with the chosen decoder, or in
// auto mode with the first decoder that recognizes it.
func (f *framer) document(doc *jsondoc.Doc, where string) error {
	root := doc.Root()
	if f.rd.opts.Kind != Auto {
		return f.rd.reg.lookup(f.rd.opts.Kind).Decode(root, where, f.sink)
	}
	for i := range f.rd.reg.decoders {
		d := &f.rd.reg.decoders[i]
		if d.Detect != nil && d.Detect(root) {
			return d.Decode(root, where, f.sink)
		}
	}
	return fmt.Errorf("%w: no known log format matches %s; name the format (--source, or the kind in the ingest URL)", source.ErrNotFormat, describe(root))
}

// describe summarizes a document's shape for an error message.
func describe(v jsondoc.Value) string {
	switch v.Kind() {
	case jsondoc.Object:
		var keys []string
		v.Members(func(k string, _ jsondoc.Value) bool {
			keys = append(keys, fmt.Sprintf("%q", truncate(k, 40)))
			return len(keys) < 8
		})
		more := ""
		if v.Len() > len(keys) {
			more = ", ..."
		}
		return "an object with keys " + strings.Join(keys, ", ") + more
	case jsondoc.Array:
		if v.Len() == 0 {
			return "an empty array"
		}
		return "an array of " + describe(v.Index(0))
	}
	return "a JSON " + v.Kind().String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (f *framer) textLines() error {
	var dec *source.Decoder
	for {
		if f.stopped() {
			return errStopped
		}
		line, tooLong, err := f.readLine()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		where := fmt.Sprintf("line %d", f.line)
		if tooLong {
			source.Failf(f.sink, where, "line is longer than the %d MiB limit", f.rd.opts.MaxDocument>>20)
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if dec == nil {
			if dec = f.textDecoder(line); dec == nil {
				if f.rd.opts.Kind == Auto {
					return fmt.Errorf("input is plain text that no known log format matches (%q); name the format (--source, or the kind in the ingest URL)", truncate(string(line), 60))
				}
				return fmt.Errorf("input is plain text, not JSON, and --source %s does not read text logs", f.rd.opts.Kind)
			}
		}
		if err := dec.DecodeText(line, where, f.sink); err != nil {
			f.sink.Fail(&source.RecordError{Where: where, Err: err})
		}
	}
}

// textDecoder picks the decoder for a text input by its first line.
func (f *framer) textDecoder(first []byte) *source.Decoder {
	if f.rd.opts.Kind != Auto {
		if d := f.rd.reg.lookup(f.rd.opts.Kind); d.DecodeText != nil {
			return d
		}
		return nil
	}
	for i := range f.rd.reg.decoders {
		d := &f.rd.reg.decoders[i]
		if d.DecodeText != nil && d.DetectText != nil && d.DetectText(first) {
			return d
		}
	}
	return nil
}
