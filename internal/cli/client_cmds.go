package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/client"
)

// defaultURL is where the client commands look for vigil serve when
// VIGIL_URL is not set.
const defaultURL = "http://127.0.0.1:8717"

// clientCommands are the subcommands that talk to a running server.
func clientCommands(s *streams) []*cobra.Command {
	return []*cobra.Command{newAlertsCmd(s), newEventsCmd(s), newSilencesCmd(s), newTokensCmd(s), newNotifyCmd(s), newNotificationsCmd(s)}
}

// group makes cmd a parent of subs that answers an unknown subcommand with
// a usage error (exit 2) and no subcommand with its help.
func group(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	cmd.AddCommand(subs...)
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		names := make([]string, len(subs))
		for i, c := range subs {
			names[i] = c.Name()
		}
		return usagef("%s: unknown command %q: use %s", cmd.CommandPath(), args[0], strings.Join(names, ", "))
	}
	return cmd
}

// apiSession is what a client command needs: the client, the output
// format, and the streams.
type apiSession struct {
	s      *streams
	c      *client.Client
	url    string
	format string // "table" or "json"
}

// formatFlag adds --format to a client command.
func formatFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVar(format, "format", "", "output format: table or json (default: table on a terminal, json otherwise)")
}

// connect reads VIGIL_URL and VIGIL_TOKEN and resolves the output format.
func connect(s *streams, format string) (*apiSession, error) {
	switch format {
	case "":
		format = "json"
		if isTerminal(s.out) {
			format = "table"
		}
	case "table", "json":
	default:
		return nil, usagef("--format %q: use table or json", format)
	}
	url := strings.TrimSpace(os.Getenv("VIGIL_URL"))
	if url == "" {
		url = defaultURL
	}
	token := strings.TrimSpace(os.Getenv("VIGIL_TOKEN"))
	if token == "" {
		return nil, usagef("no API token: export VIGIL_TOKEN=<token> (an admin creates tokens with vigil tokens create)")
	}
	c, err := client.New(url, token, nil)
	if err != nil {
		return nil, usagef("invalid VIGIL_URL: %v", err)
	}
	return &apiSession{s: s, c: c, url: c.URL(), format: format}, nil
}

// fail turns a client error into what the user sees: the server's message,
// or a hint when the server cannot be reached.
func (a *apiSession) fail(err error) error {
	var ae *client.APIError
	switch {
	case errors.Is(err, client.ErrUnreachable):
		return fmt.Errorf("cannot reach Vigil at %s: is vigil serve running?", a.url)
	case errors.As(err, &ae):
		return errors.New(ae.Message)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer in time from Vigil at %s", a.url)
	}
	return err
}

func (a *apiSession) json(v any) error {
	enc := json.NewEncoder(a.s.out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes rows under a header, aligned. Every cell is made safe for a
// terminal first: values come from cloud logs an attacker may have
// written, and must not carry escape sequences.
func (a *apiSession) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(a.s.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// moreHint tells a table reader how to get the next page.
func (a *apiSession) moreHint(next string) {
	if next != "" && a.format == "table" {
		fmt.Fprintf(a.s.errOut, "more results: run again with --cursor %s\n", cell(next))
	}
}

// maxCell bounds a table cell.
const maxCell = 60

// cell makes a value printable on one line and bounded.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	s = safeText(s)
	if r := []rune(s); len(r) > maxCell {
		s = string(r[:maxCell-1]) + "…"
	}
	return s
}

// safeText replaces control characters (escape sequences, tabs, new lines)
// with visible escapes.
func safeText(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		} else {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

// parseWhen reads a --since or --until value: an RFC 3339 time, or a
// duration before now such as 30m, 24h or 7d.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 3660 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("--%s %q: give an RFC 3339 time (2024-05-01T12:00:00Z) or a duration before now (30m, 24h, 7d)", flag, v)
}

// checkLimit validates --limit.
func checkLimit(limit int) error {
	if limit < 0 || limit > 1000 {
		return usagef("--limit %d: use 1 to 1000 (or leave it out for the server's default)", limit)
	}
	return nil
}

// eachID runs f for every ID, reporting each failure on its own line, and
// fails if any did.
func (a *apiSession) eachID(ids []string, f func(id string) error) error {
	failed := false
	for _, id := range ids {
		if err := f(id); err != nil {
			if len(ids) == 1 {
				return a.fail(err)
			}
			fmt.Fprintf(a.s.errOut, "vigil: %s: %v\n", cell(id), a.fail(err))
			failed = true
		}
	}
	if failed {
		return errFailed
	}
	return nil
}

// writeLines prints key: value lines.
func writeLines(w io.Writer, kv ...string) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], safeText(v))
	}
	tw.Flush()
}
