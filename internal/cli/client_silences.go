package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/api"
)

func newSilencesCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silences",
		Short: "Add, list and expire silences on a Vigil server",
		Long: `A silence marks the matching alerts raised while it is active as silenced; they
are still stored and listed. Matchers use Alertmanager's syntax on the labels
` + strings.Join(alert.LabelNames(), ", ") + `.`,
	}
	return group(cmd, newSilencesAddCmd(s), newSilencesListCmd(s), newSilencesExpireCmd(s))
}

func newSilencesAddCmd(s *streams) *cobra.Command {
	var (
		matchers                  []string
		startsAt, endsAt, comment string
		duration                  time.Duration
		format                    string
	)
	cmd := &cobra.Command{
		Use:   "add --matcher M... (--duration D | --ends-at T) [--starts-at T] --comment TEXT",
		Short: "Add a silence",
		Example: `  vigil silences add --matcher 'severity=~"high|critical"' --matcher 'account="111122223333"' \
      --duration 2h --comment "pen test, ticket SEC-42"`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(matchers) == 0 {
				return usagef("give at least one --matcher, e.g. --matcher 'severity=\"low\"'")
			}
			req := api.SilenceRequest{Comment: comment}
			for _, m := range matchers {
				pm, err := alert.ParseMatcher(m)
				if err != nil {
					return usagef("--matcher: %v", err)
				}
				req.Matchers = append(req.Matchers, api.MatcherSpec{Name: pm.Name, Op: pm.Op, Value: pm.Value})
			}
			if strings.TrimSpace(comment) == "" {
				return usagef("give --comment saying why the silence is needed")
			}
			switch {
			case duration != 0 && endsAt != "":
				return usagef("give --duration or --ends-at, not both")
			case duration < 0:
				return usagef("--duration %s: must be positive", duration)
			case duration > 0:
				req.Duration = duration.String()
			case endsAt != "":
				t, err := time.Parse(time.RFC3339, endsAt)
				if err != nil {
					return usagef("--ends-at %q: want an RFC 3339 time such as 2024-05-01T18:00:00Z", endsAt)
				}
				req.EndsAt = &t
			default:
				return usagef("give --duration (e.g. 2h) or --ends-at")
			}
			if startsAt != "" {
				t, err := time.Parse(time.RFC3339, startsAt)
				if err != nil {
					return usagef("--starts-at %q: want an RFC 3339 time such as 2024-05-01T18:00:00Z", startsAt)
				}
				req.StartsAt = &t
			}
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			sil, err := a.c.CreateSilence(cmd.Context(), req)
			if err != nil {
				return a.fail(err)
			}
			if a.format == "json" {
				return a.json(sil)
			}
			fmt.Fprintf(s.out, "silence %s added: %s until %s\n", cell(sil.ID), matcherText(sil.Matchers), fmtTime(sil.EndsAt))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&matchers, "matcher", nil, `a label matcher: name="value", name!="value", name=~"regex" or name!~"regex" (repeat; all must match)`)
	fl.DurationVar(&duration, "duration", 0, "how long the silence lasts from its start, e.g. 2h")
	fl.StringVar(&endsAt, "ends-at", "", "when the silence ends (RFC 3339), instead of --duration")
	fl.StringVar(&startsAt, "starts-at", "", "when the silence starts (RFC 3339; default now)")
	fl.StringVar(&comment, "comment", "", "why the silence is needed (required)")
	formatFlag(cmd, &format)
	return cmd
}

func newSilencesListCmd(s *streams) *cobra.Command {
	var (
		expired bool
		format  string
	)
	cmd := &cobra.Command{
		Use:   "list [--expired]",
		Short: "List active and pending silences",
		Args:  positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			list, err := a.c.ListSilences(cmd.Context(), expired)
			if err != nil {
				return a.fail(err)
			}
			if a.format == "json" {
				return a.json(api.SilenceList{Silences: list})
			}
			now := time.Now()
			rows := make([][]string, 0, len(list))
			for _, sil := range list {
				state := "active"
				switch {
				case !now.Before(sil.EndsAt):
					state = "expired"
				case now.Before(sil.StartsAt):
					state = "pending"
				}
				rows = append(rows, []string{sil.ID, state, matcherText(sil.Matchers), fmtTime(sil.StartsAt), fmtTime(sil.EndsAt), sil.CreatedBy, sil.Comment})
			}
			return a.table([]string{"ID", "STATE", "MATCHERS", "STARTS", "ENDS", "CREATED BY", "COMMENT"}, rows)
		},
	}
	cmd.Flags().BoolVar(&expired, "expired", false, "include expired silences")
	formatFlag(cmd, &format)
	return cmd
}

func newSilencesExpireCmd(s *streams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "expire ID...",
		Short: "End silences now",
		Args:  positional(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, ids []string) error {
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			var done []*alert.Silence
			err = a.eachID(ids, func(id string) error {
				sil, err := a.c.ExpireSilence(cmd.Context(), id)
				if err != nil {
					return err
				}
				done = append(done, sil)
				if a.format == "table" {
					fmt.Fprintf(s.out, "silence %s expired\n", cell(sil.ID))
				}
				return nil
			})
			if a.format == "json" && len(done) > 0 {
				if jerr := a.json(api.SilenceList{Silences: done}); jerr != nil {
					return jerr
				}
			}
			return err
		},
	}
	formatFlag(cmd, &format)
	return cmd
}

func matcherText(ms []*alert.Matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, ", ")
}
