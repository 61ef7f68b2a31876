package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
)

// route is a compiled Route with every inherited setting filled in.
type route struct {
	id             string // stable path: indexes and matchers from the root
	matchers       []*routeMatcher
	cont           bool
	receiver       string
	groupBy        []string
	groupAll       bool
	groupWait      time.Duration
	groupInterval  time.Duration
	repeatInterval time.Duration
	mute, active   []*interval
	routes         []*route
}

// Check reports the problems of a routing tree and its time intervals
// that no single node can see: receivers and time intervals that do not
// exist, time interval names given twice, the root's restrictions, and
// repeat_interval shorter than group_interval once settings are
// inherited. Each problem is a *FieldError whose path is relative to the
// notify section ("route.routes[0].receiver"). Check does not repeat what
// each node's Validate reports.
func Check(root *Route, intervals []TimeInterval, receivers []string) error {
	_, _, err := compile(root, intervals, func(n string) bool { return slices.Contains(receivers, n) }, false)
	return err
}

// compile compiles the time intervals and the routing tree. With local
// set it also runs every node's own validation.
func compile(root *Route, tis []TimeInterval, hasReceiver func(string) bool, local bool) (*route, map[string]*interval, error) {
	var errs []error
	intervals := map[string]*interval{}
	for i := range tis {
		ti := &tis[i]
		at := "time_intervals[" + strconv.Itoa(i) + "]"
		if _, dup := intervals[ti.Name]; dup && ti.Name != "" {
			errs = append(errs, &FieldError{Field: at + ".name", Err: fmt.Errorf("a time interval named %q is defined twice", ti.Name)})
			continue
		}
		iv, err := compileInterval(ti)
		if err != nil {
			if local {
				errs = append(errs, &FieldError{Field: at, Err: err})
			}
			iv = &interval{name: ti.Name} // keep the name known, for the routes
		}
		intervals[ti.Name] = iv
	}
	for _, k := range []struct {
		bad bool
		key string
		msg string
	}{
		{len(root.Matchers) > 0, "matchers", "the root route matches every alert; it cannot have matchers"},
		{root.Continue, "continue", "the root route has no siblings to continue to"},
		{root.Receiver == "", "receiver", "the root route needs a receiver: every alert that no other route takes goes to it"},
		{len(root.MuteTimeIntervals) > 0, "mute_time_intervals", "the root route cannot be muted; put the alerts to mute under a child route"},
		{len(root.ActiveTimeIntervals) > 0, "active_time_intervals", "the root route cannot have active time intervals; put them on a child route"},
	} {
		if k.bad {
			errs = append(errs, &FieldError{Field: "route." + k.key, Err: errors.New(k.msg)})
		}
	}
	def := DefaultRoute()
	base := &route{id: "{}", groupBy: def.GroupBy,
		groupWait: *def.GroupWait, groupInterval: *def.GroupInterval, repeatInterval: *def.RepeatInterval}
	c := &compiler{intervals: intervals, hasReceiver: hasReceiver, local: local}
	r := c.route(root, base, "route", 0)
	errs = append(errs, c.errs...)
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return r, intervals, nil
}

// compiler carries one compilation of a routing tree.
type compiler struct {
	intervals   map[string]*interval
	hasReceiver func(string) bool
	local       bool
	errs        []error
}

func (c *compiler) fail(path, key, format string, args ...any) {
	if key != "" {
		path += "." + key
	}
	c.errs = append(c.errs, &FieldError{Field: path, Err: fmt.Errorf(format, args...)})
}

// route compiles r, at path, under parent p whose settings it inherits.
func (c *compiler) route(r *Route, p *route, path string, depth int) *route {
	if depth > MaxRouteDepth {
		c.fail(path, "", "routes nest deeper than %d levels", MaxRouteDepth)
		return nil
	}
	if c.local {
		if err := r.Validate(); err != nil {
			c.errs = append(c.errs, &FieldError{Field: path, Err: err})
		}
	}
	n := &route{id: p.id, cont: r.Continue, receiver: p.receiver, groupBy: p.groupBy, groupAll: p.groupAll,
		groupWait: p.groupWait, groupInterval: p.groupInterval, repeatInterval: p.repeatInterval, mute: p.mute, active: p.active}
	for _, s := range r.Matchers {
		if m, err := parseRouteMatcher(s); err == nil {
			n.matchers = append(n.matchers, m)
		}
	}
	if depth > 0 {
		texts := make([]string, len(n.matchers))
		for i, m := range n.matchers {
			texts[i] = m.String()
		}
		n.id = p.id + "/" + path[strings.LastIndex(path, "[")+1:len(path)-1] + "{" + strings.Join(texts, ",") + "}"
	}
	if r.Receiver != "" {
		n.receiver = r.Receiver
		if !c.hasReceiver(r.Receiver) {
			c.fail(path, "receiver", "no receiver named %q is defined under notify.receivers", r.Receiver)
		}
	}
	if r.GroupBy != nil {
		n.groupBy = slices.Clone(r.GroupBy)
		n.groupAll = slices.Contains(r.GroupBy, GroupAll)
	}
	for _, d := range []struct {
		src *time.Duration
		dst *time.Duration
	}{{r.GroupWait, &n.groupWait}, {r.GroupInterval, &n.groupInterval}, {r.RepeatInterval, &n.repeatInterval}} {
		if d.src != nil {
			*d.dst = *d.src
		}
	}
	if (r.GroupInterval != nil || r.RepeatInterval != nil) && n.groupInterval > 0 && n.repeatInterval < n.groupInterval {
		key := "repeat_interval"
		if r.RepeatInterval == nil {
			key = "group_interval"
		}
		c.fail(path, key, "repeat_interval (%s) must be at least group_interval (%s)", fmtDuration(n.repeatInterval), fmtDuration(n.groupInterval))
	}
	lookup := func(key string, names []string) []*interval {
		var out []*interval
		for i, name := range names {
			iv, ok := c.intervals[name]
			if !ok {
				known := "none is"
				if len(c.intervals) > 0 {
					known = strings.Join(slices.Sorted(maps.Keys(c.intervals)), ", ") + " are"
				}
				c.fail(path, fmt.Sprintf("%s[%d]", key, i), "no time interval named %q is defined under notify.time_intervals (%s defined)", name, known)
				continue
			}
			out = append(out, iv)
		}
		return out
	}
	if r.MuteTimeIntervals != nil {
		n.mute = lookup("mute_time_intervals", r.MuteTimeIntervals)
	}
	if r.ActiveTimeIntervals != nil {
		n.active = lookup("active_time_intervals", r.ActiveTimeIntervals)
	}
	for i := range r.Routes {
		if child := c.route(&r.Routes[i], n, path+".routes["+strconv.Itoa(i)+"]", depth+1); child != nil {
			n.routes = append(n.routes, child)
		}
	}
	return n
}

// match returns the nodes that handle an alert with these labels and tags,
// in tree order, or nil when r does not match.
func (r *route) match(labels map[string]string, tags []string) []*route {
	for _, m := range r.matchers {
		if !m.matches(labels, tags) {
			return nil
		}
	}
	var out []*route
	for _, c := range r.routes {
		got := c.match(labels, tags)
		out = append(out, got...)
		if len(got) > 0 && !c.cont {
			break
		}
	}
	if len(out) == 0 {
		return []*route{r}
	}
	return out
}

// muted reports whether the node sends nothing at t: a mute interval is
// active, or active intervals are set and none is.
func (r *route) muted(t time.Time) bool {
	for _, iv := range r.mute {
		if iv.active(t) {
			return true
		}
	}
	if len(r.active) == 0 {
		return false
	}
	for _, iv := range r.active {
		if iv.active(t) {
			return false
		}
	}
	return true
}

// groupLabels returns the values of the node's group_by labels.
func (r *route) groupLabels(labels map[string]string) map[string]string {
	if r.groupAll {
		return maps.Clone(labels)
	}
	out := make(map[string]string, len(r.groupBy))
	for _, l := range r.groupBy {
		out[l] = labels[l]
	}
	return out
}

// groupKey identifies the group of a node and its group labels. It is
// stable across restarts as long as the route's place in the tree, its
// matchers and its receiver stay the same.
func (r *route) groupKey(groupLabels map[string]string) string {
	h := sha256.New()
	h.Write([]byte(r.id))
	h.Write([]byte{0})
	h.Write([]byte(r.receiver))
	for _, k := range slices.Sorted(maps.Keys(groupLabels)) {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{1})
		h.Write([]byte(groupLabels[k]))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// alertLabels returns an alert's labels and tags for matching.
func alertLabels(a *alert.Alert) (map[string]string, []string) {
	return a.Labels(), a.Rule.Tags
}
