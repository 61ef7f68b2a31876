package notify

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
)

// Route is one node of the routing tree (notify.route in vigil.yaml). An
// alert enters at the root and goes depth-first to the first child whose
// matchers all match; a child with Continue set lets the search go on to
// its later siblings. A node with no matching child handles the alert
// itself. Children inherit every unset setting from their parent.
type Route struct {
	// Matchers are Alertmanager matchers (name=value, name!=value,
	// name=~regex, name!~regex) over the alert's labels; see
	// docs/notifications.md for the tag matchers.
	Matchers []string `yaml:"matchers"`
	// Receiver names the receiver of the alerts this node handles.
	Receiver string `yaml:"receiver"`
	// Continue lets an alert that matched this node go on to the node's
	// later siblings.
	Continue bool `yaml:"continue"`
	// GroupBy lists the labels whose values make a group; "..." groups by
	// every label. Unset inherits; an empty list puts every alert of the
	// node in one group.
	GroupBy        []string       `yaml:"group_by"`
	GroupWait      *time.Duration `yaml:"group_wait"`
	GroupInterval  *time.Duration `yaml:"group_interval"`
	RepeatInterval *time.Duration `yaml:"repeat_interval"`
	// MuteTimeIntervals name time intervals during which nothing is sent.
	MuteTimeIntervals []string `yaml:"mute_time_intervals"`
	// ActiveTimeIntervals, when set, name the only time intervals during
	// which anything is sent.
	ActiveTimeIntervals []string `yaml:"active_time_intervals"`
	Routes              []Route  `yaml:"routes"`
}

// GroupAll is the group_by entry that groups by every label.
const GroupAll = "..."

// Bounds on the routing tree.
const (
	MaxRouteDepth = 10
	MaxMatchers   = 32
)

// FieldError is a problem with one field of a configuration struct. The
// config loader places it at that field's line.
type FieldError struct {
	Field string // the field's key relative to the struct, e.g. "matchers[1]"
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldPath returns the field's key, for the config loader.
func (e *FieldError) FieldPath() string { return e.Field }

func fieldErr(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Validate checks the node's own settings (not its children, nor the
// names it refers to, which need the whole configuration).
func (r *Route) Validate() error {
	var errs []error
	if len(r.Matchers) > MaxMatchers {
		errs = append(errs, fieldErr("matchers", "has %d matchers; a route takes at most %d", len(r.Matchers), MaxMatchers))
	}
	for i, s := range r.Matchers {
		if _, err := parseRouteMatcher(s); err != nil {
			errs = append(errs, fieldErr(fmt.Sprintf("matchers[%d]", i), "%v", err))
		}
	}
	if err := checkGroupBy(r.GroupBy); err != nil {
		errs = append(errs, &FieldError{Field: "group_by", Err: err})
	}
	if d := r.GroupWait; d != nil && *d < 0 {
		errs = append(errs, fieldErr("group_wait", "must not be negative, got %s", fmtDuration(*d)))
	}
	if d := r.GroupInterval; d != nil && *d <= 0 {
		errs = append(errs, fieldErr("group_interval", "must be more than 0, got %s", fmtDuration(*d)))
	}
	if d := r.RepeatInterval; d != nil && *d <= 0 {
		errs = append(errs, fieldErr("repeat_interval", "must be more than 0, got %s", fmtDuration(*d)))
	}
	for _, list := range []struct {
		key   string
		names []string
	}{{"mute_time_intervals", r.MuteTimeIntervals}, {"active_time_intervals", r.ActiveTimeIntervals}} {
		for i, n := range list.names {
			if strings.TrimSpace(n) == "" {
				errs = append(errs, fieldErr(fmt.Sprintf("%s[%d]", list.key, i), "empty time interval name"))
			}
		}
	}
	return errors.Join(errs...)
}

// checkGroupBy checks group_by label names.
func checkGroupBy(labels []string) error {
	seen := map[string]bool{}
	for _, l := range labels {
		switch {
		case l == GroupAll && len(labels) > 1:
			return fmt.Errorf("%q groups by every label and cannot be combined with other labels", GroupAll)
		case l == GroupAll:
		case !slices.Contains(alert.LabelNames(), l):
			hint := ""
			if l == "tag" {
				hint = ` (group by "tags", the comma-separated list)`
			}
			return fmt.Errorf("unknown label %q%s; use %q or any of %s", l, hint, GroupAll, strings.Join(alert.LabelNames(), ", "))
		case seen[l]:
			return fmt.Errorf("label %q is listed twice", l)
		}
		seen[l] = true
	}
	return nil
}

// Delivery is how the outbox retries (notify.delivery in vigil.yaml).
type Delivery struct {
	// MaxAge is how long a notification is retried before it is
	// dead-lettered (status failed).
	MaxAge time.Duration
	// BackoffBase and BackoffMax bound the exponential backoff with full
	// jitter: the n-th retry waits a random time up to
	// min(BackoffMax, BackoffBase·2^(n-1)).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Concurrency is how many notifications one receiver sends at once.
	Concurrency int
	// Retention is how long sent and failed notifications are kept.
	Retention time.Duration
}

// DefaultDelivery returns the delivery settings used when none are given.
func DefaultDelivery() Delivery {
	return Delivery{MaxAge: 24 * time.Hour, BackoffBase: time.Second, BackoffMax: 10 * time.Minute, Concurrency: 4, Retention: 720 * time.Hour}
}

// MaxConcurrency bounds Delivery.Concurrency.
const MaxConcurrency = 64

// Validate checks the delivery settings.
func (d Delivery) Validate() error {
	var errs []error
	if d.MaxAge <= 0 {
		errs = append(errs, fieldErr("max_age", "must be more than 0, got %s", fmtDuration(d.MaxAge)))
	}
	if d.BackoffBase <= 0 {
		errs = append(errs, fieldErr("backoff_base", "must be more than 0, got %s", fmtDuration(d.BackoffBase)))
	}
	if d.BackoffMax < d.BackoffBase {
		errs = append(errs, fieldErr("backoff_max", "must be at least backoff_base (%s), got %s", fmtDuration(d.BackoffBase), fmtDuration(d.BackoffMax)))
	}
	if d.Concurrency < 1 || d.Concurrency > MaxConcurrency {
		errs = append(errs, fieldErr("concurrency", "must be from 1 to %d, got %d", MaxConcurrency, d.Concurrency))
	}
	if d.Retention < 0 {
		errs = append(errs, fieldErr("retention", "must not be negative, got %s", fmtDuration(d.Retention)))
	}
	return errors.Join(errs...)
}

// Limits bound the memory the dispatcher holds. Zero fields take the
// defaults (DefaultLimits).
type Limits struct {
	// MaxGroups bounds the groups held at once. When it is reached,
	// resolved groups are evicted first; alerts that would open a further
	// group are dropped (and counted in Stats).
	MaxGroups int
	// MaxAlertsPerGroup bounds the alerts one group holds; resolved
	// alerts already notified are evicted first, then new alerts are
	// dropped (and counted).
	MaxAlertsPerGroup int
	// MaxAlerts bounds the alerts held in all groups together.
	MaxAlerts int
}

// DefaultLimits are the bounds used for zero Limits fields.
var DefaultLimits = Limits{MaxGroups: 10_000, MaxAlertsPerGroup: 1_000, MaxAlerts: 20_000}

func (l Limits) orDefault() Limits {
	if l.MaxGroups <= 0 {
		l.MaxGroups = DefaultLimits.MaxGroups
	}
	if l.MaxAlertsPerGroup <= 0 {
		l.MaxAlertsPerGroup = DefaultLimits.MaxAlertsPerGroup
	}
	if l.MaxAlerts <= 0 {
		l.MaxAlerts = DefaultLimits.MaxAlerts
	}
	return l
}

// Options are the service's settings, taken from the notify section of
// the configuration.
type Options struct {
	Route         Route
	TimeIntervals []TimeInterval
	// ExternalURL is the base of the links in notifications ("" for none).
	ExternalURL string
	Delivery    Delivery
	Limits      Limits
}

// DefaultRoute returns the root route used when none is configured: every
// alert to the receiver named "log", grouped by rule.
func DefaultRoute() Route {
	wait, interval, repeat := 30*time.Second, 5*time.Minute, 4*time.Hour
	return Route{Receiver: "log", GroupBy: []string{"rule"}, GroupWait: &wait, GroupInterval: &interval, RepeatInterval: &repeat}
}

// fmtDuration prints d as the configuration writes it: "5m" rather than
// "5m0s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
