package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/logreceiver"
	"github.com/vigil-sec/vigil/internal/notify/receiver"
)

// Notify is where alerts are sent: receivers, the routing tree, time
// intervals and delivery (notify: in vigil.yaml). The shapes follow
// Alertmanager's; docs/notifications.md explains them.
type Notify struct {
	// AllowPrivateTargets lists CIDRs that receivers may reach although
	// they are loopback, private, link-local or metadata addresses.
	AllowPrivateTargets []string
	// ExternalURL is Vigil's address as responders reach it, the base of
	// links in notifications ("" for no links).
	ExternalURL   string
	Receivers     []receiver.Config
	Route         notify.Route
	TimeIntervals []notify.TimeInterval
	Delivery      notify.Delivery
}

// defaultNotify sends every alert to Vigil's own log.
func defaultNotify() Notify {
	return Notify{
		AllowPrivateTargets: []string{},
		Receivers:           []receiver.Config{{Name: "log", Log: &logreceiver.Config{}}},
		Route:               notify.DefaultRoute(),
		TimeIntervals:       []notify.TimeInterval{},
		Delivery:            notify.DefaultDelivery(),
	}
}

// Options returns the notification service's settings.
func (n *Notify) Options() notify.Options {
	return notify.Options{Route: n.Route, TimeIntervals: n.TimeIntervals, ExternalURL: n.ExternalURL, Delivery: n.Delivery}
}

// PrivateTargets returns AllowPrivateTargets parsed; validation has
// checked them.
func (n *Notify) PrivateTargets() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range n.AllowPrivateTargets {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// notifyFields is the schema of the notify section.
func notifyFields(n *Notify) field {
	dl := &n.Delivery
	return section("notify",
		leaf("allow_private_targets", listValue{&n.AllowPrivateTargets}),
		leaf("external_url", strValue{&n.ExternalURL}),
		leaf("receivers", reflectLeaf(&n.Receivers)),
		leaf("route", reflectLeaf(&n.Route)),
		leaf("time_intervals", reflectLeaf(&n.TimeIntervals)),
		section("delivery",
			leaf("max_age", durValue{&dl.MaxAge}),
			leaf("backoff_base", durValue{&dl.BackoffBase}),
			leaf("backoff_max", durValue{&dl.BackoffMax}),
			leaf("concurrency", intValue{&dl.Concurrency}),
			leaf("retention", durValue{&dl.Retention}),
		),
	)
}

// receiverKinds lists the kinds a receiver can be, as the file names them.
func receiverKinds() []string {
	var out []string
	for _, f := range fieldsOf(reflect.TypeFor[receiver.Config]()) {
		if f.key != "name" {
			out = append(out, f.key)
		}
	}
	return out
}

// validateNotify checks the notify section: each receiver, route node and
// time interval checks itself (Validate), then the rules across them.
func (l *loader) validateNotify(n *Notify) {
	const at = "notify."
	for i, s := range n.AllowPrivateTargets {
		if _, err := netip.ParsePrefix(s); err != nil {
			hint := ""
			if a, err := netip.ParseAddr(s); err == nil {
				hint = fmt.Sprintf(" (for one address write %s/%d)", a, a.BitLen())
			}
			l.keyf(at+"allow_private_targets", "entry %d, %q, is not a CIDR such as \"10.0.0.0/8\"%s", i+1, s, hint)
		}
	}
	if n.ExternalURL != "" {
		if err := checkExternalURL(n.ExternalURL); err != nil {
			l.keyf(at+"external_url", "%v", err)
		}
	}
	var fe *notify.FieldError
	if err := n.Delivery.Validate(); err != nil {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if errors.As(e, &fe) {
				l.keyf(at+"delivery."+fe.Field, "%v", fe.Err)
			}
		}
	}
	l.validateValue(at+"receivers", reflect.ValueOf(&n.Receivers).Elem())
	l.validateValue(at+"route", reflect.ValueOf(&n.Route).Elem())
	l.validateValue(at+"time_intervals", reflect.ValueOf(&n.TimeIntervals).Elem())

	// Each receiver checks its name and kind itself; names must also be
	// unique.
	var names []string
	first := map[string]int{}
	for i, r := range n.Receivers {
		names = append(names, r.Name)
		if r.Name == "" || l.bad[at+"receivers["+strconv.Itoa(i)+"]"] {
			continue
		}
		if j, dup := first[r.Name]; dup {
			l.atPath(at+"receivers["+strconv.Itoa(i)+"].name", "the receiver name %q is used twice (also by notify.receivers[%d]); names must be unique", r.Name, j)
			continue
		}
		first[r.Name] = i
	}

	root := &n.Route
	for _, k := range []struct {
		key   string
		unset bool
		def   string
	}{
		{"group_by", root.GroupBy == nil, "[rule]"},
		{"group_wait", root.GroupWait == nil, "30s"},
		{"group_interval", root.GroupInterval == nil, "5m"},
		{"repeat_interval", root.RepeatInterval == nil, "4h"},
	} {
		if k.unset {
			l.atPath(at+"route."+k.key, "the root route needs a value, which its children inherit (leave the key out for the default, %s)", k.def)
		}
	}
	// The rules across receivers, routes and time intervals. Where
	// decoding failed, the names it lost would only add false problems.
	if err := notify.Check(root, n.TimeIntervals, names); err != nil {
		receiversBad, intervalsBad := l.badUnder(at+"receivers"), l.badUnder(at+"time_intervals")
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if !errors.As(e, &fe) {
				continue
			}
			switch {
			case receiversBad && strings.HasSuffix(fe.Field, ".receiver"),
				intervalsBad && strings.HasPrefix(fe.Field, "route") && strings.Contains(fe.Field, "time_intervals["),
				l.bad[at+fe.Field]:
				continue
			}
			l.reportAt(strings.TrimSuffix(at, "."), e, nil)
		}
	}

}

// checkExternalURL checks the base URL of links in notifications.
func checkExternalURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", maskURLs(s), urlErr(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q must be an http or https URL, e.g. \"https://vigil.example.com\"", maskURLs(s))
	case u.Host == "":
		return fmt.Errorf("%q has no host", maskURLs(s))
	case u.User != nil:
		return fmt.Errorf("%q must not hold user information: it is shown in every notification", maskURLs(s))
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q must not have a query or fragment: links are built by appending paths to it", s)
	}
	return nil
}

// badUnder reports whether decoding found a problem in the value at key.
func (l *loader) badUnder(key string) bool {
	for k := range l.bad {
		if k == key || strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[") {
			return true
		}
	}
	return false
}
