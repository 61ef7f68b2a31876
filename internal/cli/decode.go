package cli

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/source"
)

func newDecodeCmd(s *streams) *cobra.Command {
	var (
		kind   string
		noRaw  bool
		strict bool
	)
	reg := decode.Builtin()
	cmd := &cobra.Command{
		Use:   "decode [--source KIND] [--no-raw] [--strict] PATH...",
		Short: "Decode cloud logs into normalized events, one JSON object per line",
		Long: `Decode reads log files, directories (recursively) or - for standard input, detects
each document's format, and prints one normalized JSON event per line on stdout.
Gzip is detected by its magic bytes. A summary goes to stderr.

A record that cannot be decoded is reported on stderr with its file, position and
reason, and decoding goes on; the exit code is then 1. With --strict decoding stops
at the first bad record.

Kinds: ` + strings.Join(reg.Kinds(), ", "),
		Args: positional(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, paths []string) error {
			rd, err := reg.NewReader(decode.Options{Kind: kind})
			if err != nil {
				return usageError{err}
			}
			inputs, err := decode.Inputs(paths, s.in)
			if err != nil {
				return usageError{err}
			}
			out := bufio.NewWriterSize(s.out, 256<<10)
			sum := newDecodeSummary()
			for _, in := range inputs {
				sink := &decodeSink{out: out, errOut: s.errOut, input: in.Name, raw: !noRaw, sum: sum, strict: strict}
				if err := readInput(rd, in, sink); err != nil {
					sum.failed++
					fmt.Fprintf(s.errOut, "%s: %v\n", in.Name, err)
				}
				if sink.err != nil {
					return sink.err
				}
				if strict && sum.failed > 0 {
					break
				}
			}
			if err := out.Flush(); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
			sum.print(s.errOut, len(inputs))
			if sum.failed > 0 {
				return errFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "source", decode.Auto, "input format: "+strings.Join(reg.Kinds(), "|"))
	f.BoolVar(&noRaw, "no-raw", false, "leave the native record out of each event")
	f.BoolVar(&strict, "strict", false, "stop at the first record that does not decode")
	return cmd
}

func readInput(rd *decode.Reader, in decode.Input, sink *decodeSink) error {
	r, err := in.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	return rd.Read(r, sink, sink.stop)
}

// decodeSink writes events as JSON lines and reports bad records.
type decodeSink struct {
	out    *bufio.Writer
	errOut io.Writer
	input  string
	raw    bool
	strict bool
	sum    *decodeSummary
	buf    []byte
	err    error // a write error on stdout
}

func (d *decodeSink) stop() bool { return d.err != nil || (d.strict && d.sum.failed > 0) }

func (d *decodeSink) Event(e *event.Event) {
	if d.stop() {
		return
	}
	d.sum.events[e.Source]++
	d.sum.total++
	d.buf = e.AppendJSON(d.buf[:0], d.raw)
	d.buf = append(d.buf, '\n')
	if _, err := d.out.Write(d.buf); err != nil && d.err == nil {
		d.err = fmt.Errorf("writing output: %w", err)
	}
}

func (d *decodeSink) Fail(err *source.RecordError) {
	if d.stop() {
		return
	}
	d.sum.failed++
	fmt.Fprintf(d.errOut, "%s: %v\n", d.input, err)
}

func (d *decodeSink) Note(msg string) {
	d.sum.notes++
	fmt.Fprintf(d.errOut, "%s: note: %s\n", d.input, msg)
}

type decodeSummary struct {
	events map[string]int
	total  int
	failed int
	notes  int
}

func newDecodeSummary() *decodeSummary { return &decodeSummary{events: map[string]int{}} }

func (s *decodeSummary) print(w io.Writer, inputs int) {
	fmt.Fprintf(w, "decoded %d %s: %d records, %d events, %d errors\n",
		inputs, plural(inputs, "input", "inputs"), s.total+s.failed, s.total, s.failed)
	sources := make([]string, 0, len(s.events))
	for k := range s.events {
		sources = append(sources, k)
	}
	sort.Strings(sources)
	for _, k := range sources {
		fmt.Fprintf(w, "  %-24s %d events\n", k, s.events[k])
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
