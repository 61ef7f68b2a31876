package logreceiver

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/field"
)

// MaxLoggedAlerts bounds the alerts described in one record; the record
// still counts them all.
const MaxLoggedAlerts = 10

// Receiver writes one record per notification to the log.
type Receiver struct {
	name   string
	level  slog.Level
	logger *slog.Logger
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a log receiver named name that writes to logger.
func New(name string, cfg Config, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("receiver %q: log: %w", name, err)
	}
	level, _ := parseLevel(cfg.Level)
	return &Receiver{name: name, level: level, logger: logger.With("component", "notify", "receiver", name, "kind", "log")}, nil
}

// String names the receiver.
func (r *Receiver) String() string { return "log receiver " + strconv.Quote(r.name) }

// Send writes n as one structured record: the group, its status and
// severity, and up to MaxLoggedAlerts alerts with their rule, principal,
// account, region and function. A notification holds no secret.
func (r *Receiver) Send(ctx context.Context, n *notify.Notification) (string, error) {
	attrs := []slog.Attr{
		slog.String("notification", n.ID),
		slog.String("status", string(n.Status)),
		slog.String("severity", n.Severity),
		slog.String("group_key", n.GroupKey),
		slog.Int("alert_count", len(n.Alerts)),
	}
	if len(n.GroupLabels) > 0 {
		labels := make([]any, 0, 2*len(n.GroupLabels))
		for _, k := range sortedKeys(n.GroupLabels) {
			labels = append(labels, slog.String(k, n.GroupLabels[k]))
		}
		attrs = append(attrs, slog.Group("group_labels", labels...))
	}
	if n.URL != "" {
		attrs = append(attrs, slog.String("url", n.URL))
	}
	if n.Test {
		attrs = append(attrs, slog.Bool("test", true))
	}
	for i := range n.Alerts {
		if i == MaxLoggedAlerts {
			attrs = append(attrs, slog.Int("alerts_not_logged", len(n.Alerts)-MaxLoggedAlerts))
			break
		}
		a := &n.Alerts[i]
		attrs = append(attrs, slog.Group("alert"+strconv.Itoa(i),
			"id", a.ID, "rule", a.Rule.ID, "title", a.Rule.Title, "severity", a.Severity, "status", string(a.Status),
			"count", a.Count, "principal", a.Principal, "account", a.Account, "region", a.Region, "function", a.Function))
	}
	r.logger.LogAttrs(ctx, r.level, "notification", attrs...)
	return "", nil
}

// Validate reports every problem with the configuration, each naming its
// field.
func (c *Config) Validate() error {
	if _, ok := parseLevel(c.Level); !ok {
		return field.Errorf("level", "must be debug, info, warn or error, got %q", c.Level)
	}
	return nil
}

// parseLevel parses a level name; "" is warn.
func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "", "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
