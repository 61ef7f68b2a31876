package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/store"
)

func newAlertsCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List, show, acknowledge and resolve alerts on a Vigil server",
		Long: `The alerts commands talk to vigil serve at VIGIL_URL (default ` + defaultURL + `)
with the API token in VIGIL_TOKEN.`,
	}
	return group(cmd, newAlertsListCmd(s), newAlertsShowCmd(s), newAlertStatusCmd(s, "ack", alert.Acknowledged), newAlertStatusCmd(s, "resolve", alert.Resolved))
}

func newAlertsListCmd(s *streams) *cobra.Command {
	var (
		f                    store.AlertFilter
		status, severity     []string
		since, until, format string
	)
	cmd := &cobra.Command{
		Use:   "list [--status S]... [--severity S]... [--rule ID] [--principal P] [--account A] [--function F] [--since T] [--until T] [--limit N] [--cursor C]",
		Short: "List alerts, newest first",
		Example: `  vigil alerts list --status open --severity high,critical --limit 50
  vigil alerts list --since 24h --format json`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, st := range splitList(status) {
				if !alert.Status(st).Valid() {
					return usagef("--status %q: use open, acknowledged or resolved", st)
				}
				f.Status = append(f.Status, alert.Status(st))
			}
			f.Severity = splitList(severity)
			var err error
			now := time.Now()
			if f.Since, err = parseWhen("since", since, now); err != nil {
				return err
			}
			if f.Until, err = parseWhen("until", until, now); err != nil {
				return err
			}
			if err := checkLimit(f.Limit); err != nil {
				return err
			}
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			alerts, next, err := a.c.ListAlerts(cmd.Context(), f)
			if err != nil {
				return a.fail(err)
			}
			if a.format == "json" {
				return a.json(struct {
					Alerts     []*alert.Alert `json:"alerts"`
					NextCursor string         `json:"next_cursor"`
				}{alerts, next})
			}
			rows := make([][]string, 0, len(alerts))
			for _, al := range alerts {
				st := string(al.Status)
				if al.Silenced {
					st += " (silenced)"
				}
				rows = append(rows, []string{al.ID, al.Severity, st, strconv.Itoa(al.Count), fmtTime(al.LastSeen), al.Rule.Title, al.Principal, al.Account, al.Function})
			}
			if err := a.table([]string{"ID", "SEVERITY", "STATUS", "COUNT", "LAST SEEN", "RULE", "PRINCIPAL", "ACCOUNT", "FUNCTION"}, rows); err != nil {
				return err
			}
			a.moreHint(next)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&status, "status", nil, "only alerts in these statuses: open, acknowledged, resolved (repeat or comma-separate)")
	fl.StringSliceVar(&severity, "severity", nil, "only alerts of these severities: informational, low, medium, high, critical")
	fl.StringVar(&f.RuleID, "rule", "", "only alerts of this rule ID")
	fl.StringVar(&f.Principal, "principal", "", "only alerts on this principal")
	fl.StringVar(&f.Account, "account", "", "only alerts in this account, subscription or project")
	fl.StringVar(&f.Function, "function", "", "only alerts on this function")
	fl.StringVar(&since, "since", "", "only alerts last seen at or after this time (RFC 3339, or a duration before now: 24h, 7d)")
	fl.StringVar(&until, "until", "", "only alerts last seen before this time")
	fl.IntVar(&f.Limit, "limit", 0, "at most this many alerts (1-1000; default the server's, 100)")
	fl.StringVar(&f.Cursor, "cursor", "", "continue a previous listing from its next cursor")
	formatFlag(cmd, &format)
	return cmd
}

func newAlertsShowCmd(s *streams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one alert",
		Args:  positional(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			al, err := a.c.GetAlert(cmd.Context(), args[0])
			if err != nil {
				return a.fail(err)
			}
			if a.format == "json" {
				return a.json(al)
			}
			silenced := "no"
			if al.Silenced {
				silenced = "yes, by " + al.SilenceID
			}
			writeLines(s.out,
				"id", al.ID, "rule", al.Rule.ID+" — "+al.Rule.Title, "severity", al.Severity, "status", string(al.Status),
				"count", strconv.Itoa(al.Count), "first seen", fmtTime(al.FirstSeen), "last seen", fmtTime(al.LastSeen),
				"cloud", al.Cloud, "source", al.Source, "account", al.Account, "region", al.Region,
				"principal", al.Principal, "source ip", al.SourceIP, "function", al.Function, "action", al.Action,
				"tags", strings.Join(al.Rule.Tags, ", "), "silenced", silenced,
				"updated", fmtTime(al.UpdatedAt)+" by "+orDash(al.UpdatedBy), "events", strings.Join(al.EventIDs, ", "))
			return nil
		},
	}
	formatFlag(cmd, &format)
	return cmd
}

func newAlertStatusCmd(s *streams, verb string, st alert.Status) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   verb + " ID...",
		Short: map[string]string{"ack": "Acknowledge alerts", "resolve": "Resolve alerts"}[verb],
		Args:  positional(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, ids []string) error {
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			var done []*alert.Alert
			err = a.eachID(ids, func(id string) error {
				var al *alert.Alert
				var err error
				if st == alert.Acknowledged {
					al, err = a.c.AckAlert(cmd.Context(), id)
				} else {
					al, err = a.c.ResolveAlert(cmd.Context(), id)
				}
				if err != nil {
					return err
				}
				done = append(done, al)
				if a.format == "table" {
					fmt.Fprintf(s.out, "%s %s\n", cell(al.ID), al.Status)
				}
				return nil
			})
			if a.format == "json" && len(done) > 0 {
				if jerr := a.json(struct {
					Alerts []*alert.Alert `json:"alerts"`
				}{done}); jerr != nil {
					return jerr
				}
			}
			return err
		},
	}
	formatFlag(cmd, &format)
	return cmd
}

func newEventsCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Search the events stored on a Vigil server",
	}
	return group(cmd, newEventsSearchCmd(s))
}

func newEventsSearchCmd(s *streams) *cobra.Command {
	var (
		q                    store.EventQuery
		since, until, format string
	)
	cmd := &cobra.Command{
		Use:     "search [--principal P] [--source-ip IP] [--action A] [--function F] [--account A] [--source S] [--since T] [--until T] [--limit N] [--cursor C]",
		Short:   "Search stored events, newest first",
		Example: `  vigil events search --principal arn:aws:iam::111122223333:user/mallory --since 24h`,
		Args:    positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			now := time.Now()
			if q.Since, err = parseWhen("since", since, now); err != nil {
				return err
			}
			if q.Until, err = parseWhen("until", until, now); err != nil {
				return err
			}
			if err := checkLimit(q.Limit); err != nil {
				return err
			}
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			events, next, err := a.c.SearchEvents(cmd.Context(), q)
			if err != nil {
				return a.fail(err)
			}
			if a.format == "json" {
				return a.json(struct {
					Events     []store.StoredEvent `json:"events"`
					NextCursor string              `json:"next_cursor"`
				}{events, next})
			}
			rows := make([][]string, 0, len(events))
			for _, ev := range events {
				var env struct {
					Source, Action, Principal, Account, Function string
					SourceIP                                     string `json:"source_ip"`
				}
				json.Unmarshal(ev.JSON, &env) // a row of dashes beats no row
				rows = append(rows, []string{fmtTime(ev.Time), env.Source, env.Action, env.Principal, env.SourceIP, env.Account, env.Function, ev.ID})
			}
			if err := a.table([]string{"TIME", "SOURCE", "ACTION", "PRINCIPAL", "SOURCE IP", "ACCOUNT", "FUNCTION", "ID"}, rows); err != nil {
				return err
			}
			a.moreHint(next)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Principal, "principal", "", "only events by this principal")
	fl.StringVar(&q.SourceIP, "source-ip", "", "only events from this IP address")
	fl.StringVar(&q.Action, "action", "", "only events of this action, e.g. AddPermission20150331v2 or function.timeout")
	fl.StringVar(&q.Function, "function", "", "only events on this function")
	fl.StringVar(&q.Account, "account", "", "only events in this account, subscription or project")
	fl.StringVar(&q.Source, "source", "", "only events of this source, e.g. aws.cloudtrail")
	fl.StringVar(&since, "since", "", "only events at or after this time (RFC 3339, or a duration before now: 24h, 7d)")
	fl.StringVar(&until, "until", "", "only events before this time")
	fl.IntVar(&q.Limit, "limit", 0, "at most this many events (1-1000; default the server's, 100)")
	fl.StringVar(&q.Cursor, "cursor", "", "continue a previous search from its next cursor")
	formatFlag(cmd, &format)
	return cmd
}

// splitList splits comma-separated flag values and drops empty ones.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
