package cli

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/notify"
)

func newNotifyCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Test the notification receivers of a Vigil server",
		Long: `The notify commands talk to vigil serve at VIGIL_URL (default ` + defaultURL + `)
with the API token in VIGIL_TOKEN.`,
	}
	return group(cmd, newNotifyTestCmd(s))
}

func newNotifyTestCmd(s *streams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "test RECEIVER",
		Short: "Send a test notification to a receiver now and report its answer",
		Long: `Test sends one made-up alert of the rule vigil-test, marked as a test, straight to the
receiver named in the notify section of the server's configuration, without the
outbox, and reports whether the receiver accepted it. It exits 1 when it did not.`,
		Example: `  vigil notify test sec-webhook`,
		Args:    positional(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			res, err := a.c.TestReceiver(cmd.Context(), args[0])
			if err != nil {
				return a.fail(err)
			}
			if a.format == "json" {
				return a.json(res)
			}
			fmt.Fprintf(s.out, "test notification accepted by %s\n", cell(res.Receiver))
			return nil
		},
	}
	formatFlag(cmd, &format)
	return cmd
}

func newNotificationsCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notifications",
		Short: "List, show and re-drive the notifications in a Vigil server's outbox",
		Long: `The notifications commands talk to vigil serve at VIGIL_URL (default ` + defaultURL + `)
with the API token in VIGIL_TOKEN.`,
	}
	return group(cmd, newNotificationsListCmd(s), newNotificationsShowCmd(s), newNotificationsRetryCmd(s))
}

func newNotificationsListCmd(s *streams) *cobra.Command {
	var (
		f              notify.ListFilter
		status, format string
	)
	cmd := &cobra.Command{
		Use:   "list [--status pending|failed|sent] [--receiver NAME] [--limit N] [--cursor C]",
		Short: "List notifications, newest first",
		Example: `  vigil notifications list --status failed
  vigil notifications list --receiver oncall --format json`,
		Args: positional(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.Status = notify.DeliveryStatus(status); status != "" && !f.Status.Valid() {
				return usagef("--status %q: use pending, failed or sent", status)
			}
			if err := checkLimit(f.Limit); err != nil {
				return err
			}
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			list, next, err := a.c.ListNotifications(cmd.Context(), f)
			if err != nil {
				return a.fail(err)
			}
			if a.format == "json" {
				if list == nil {
					list = []api.NotificationSummary{}
				}
				return a.json(api.NotificationList{Notifications: list, NextCursor: next})
			}
			rows := make([][]string, 0, len(list))
			for _, n := range list {
				when := fmtTime(n.CreatedAt)
				switch {
				case n.Status == notify.Sent:
					when = fmtTimePtr(n.SentAt)
				case n.Status == notify.Pending && n.NextAttempt != nil:
					when = "next " + fmtTime(*n.NextAttempt)
				}
				rows = append(rows, []string{n.ID, string(n.Status), n.Receiver, string(n.GroupStatus), n.Severity,
					strconv.Itoa(n.AlertCount), strconv.Itoa(n.Attempts), when, groupText(n.GroupLabels), n.LastError})
			}
			if err := a.table([]string{"ID", "STATUS", "RECEIVER", "GROUP STATUS", "SEVERITY", "ALERTS", "ATTEMPTS", "WHEN", "GROUP", "LAST ERROR"}, rows); err != nil {
				return err
			}
			a.moreHint(next)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&status, "status", "", "only notifications in this status: pending, failed or sent")
	fl.StringVar(&f.Receiver, "receiver", "", "only notifications to this receiver")
	fl.IntVar(&f.Limit, "limit", 0, "at most this many notifications (1-1000; default the server's, 100)")
	fl.StringVar(&f.Cursor, "cursor", "", "continue a previous listing from its next cursor")
	formatFlag(cmd, &format)
	return cmd
}

// groupText shows group labels as name=value pairs in name order.
func groupText(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, " ")
}

func newNotificationsShowCmd(s *streams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one notification: its delivery state and the alerts it tells of",
		Args:  positional(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			e, err := a.c.GetNotification(cmd.Context(), args[0])
			if err != nil {
				return a.fail(err)
			}
			if a.format == "json" {
				return a.json(e)
			}
			sum := api.Summarize(e)
			writeLines(s.out,
				"id", e.ID, "status", string(e.Status), "receiver", e.Receiver, "group", groupText(sum.GroupLabels),
				"group key", e.GroupKey, "group status", string(sum.GroupStatus), "severity", sum.Severity,
				"attempts", strconv.Itoa(e.Attempts), "created", fmtTime(e.CreatedAt), "next attempt", fmtTimePtr(sum.NextAttempt),
				"sent", fmtTimePtr(e.SentAt), "last error", e.LastError)
			if e.Notification == nil || len(e.Notification.Alerts) == 0 {
				return nil
			}
			fmt.Fprintln(s.out)
			rows := make([][]string, 0, len(e.Notification.Alerts))
			for _, al := range e.Notification.Alerts {
				rows = append(rows, []string{al.ID, al.Severity, string(al.Status), strconv.Itoa(al.Count), al.Rule.Title, al.Principal, al.Account})
			}
			return a.table([]string{"ALERT", "SEVERITY", "STATUS", "COUNT", "RULE", "PRINCIPAL", "ACCOUNT"}, rows)
		},
	}
	formatFlag(cmd, &format)
	return cmd
}

func newNotificationsRetryCmd(s *streams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "retry ID...",
		Short: "Re-drive failed notifications: each becomes pending and is sent again now",
		Args:  positional(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, ids []string) error {
			a, err := connect(s, format)
			if err != nil {
				return err
			}
			var done []*notify.Entry
			err = a.eachID(ids, func(id string) error {
				e, err := a.c.RetryNotification(cmd.Context(), id)
				if err != nil {
					return err
				}
				done = append(done, e)
				if a.format == "table" {
					fmt.Fprintf(s.out, "%s %s\n", cell(e.ID), e.Status)
				}
				return nil
			})
			if a.format == "json" && len(done) > 0 {
				if jerr := a.json(struct {
					Notifications []*notify.Entry `json:"notifications"`
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
