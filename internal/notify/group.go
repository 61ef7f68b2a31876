package notify

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
)

// Silencer says whether an alert is silenced at a time. It is called while
// the dispatcher holds its lock, so it must answer from memory.
type Silencer interface {
	Silenced(a *alert.Alert, now time.Time) bool
}

// SilencerFunc adapts a function to Silencer.
type SilencerFunc func(a *alert.Alert, now time.Time) bool

// Silenced calls f.
func (f SilencerFunc) Silenced(a *alert.Alert, now time.Time) bool { return f(a, now) }

// member is an alert in a group.
type member struct {
	a        alert.Alert
	notified bool // a notification of this group has shown it
}

// group is the alerts of one route node with the same group labels.
type group struct {
	key     string
	route   *route
	labels  map[string]string
	alerts  map[string]*member
	created time.Time
	// loaded is set once the group's last notification has been read
	// from the outbox (so that a restart does not notify again what was
	// notified before it).
	loaded    bool
	flushed   bool      // the first flush (after group_wait) has happened
	dirty     bool      // alerts changed since the last flush
	lastSent  time.Time // when the last notification was enqueued
	lastState string    // the state it showed; "" for none
	next      time.Time // when to evaluate the group; zero for never
	planned   bool      // a notification is being enqueued
	hidden    bool      // a silence held back an alert at the last evaluation
}

// dispatcher holds the groups and decides what to send when. It does no
// I/O and takes no locks: Service does both around it.
type dispatcher struct {
	root        *route
	limits      Limits
	silencer    Silencer
	externalURL string
	newID       func() string
	groups      map[string]*group
	nAlerts     int
	dropped     uint64
}

func newDispatcher(root *route, limits Limits, silencer Silencer, externalURL string, newID func() string) *dispatcher {
	if silencer == nil {
		silencer = SilencerFunc(func(*alert.Alert, time.Time) bool { return false })
	}
	return &dispatcher{root: root, limits: limits.orDefault(), silencer: silencer, externalURL: strings.TrimRight(externalURL, "/"),
		newID: newID, groups: map[string]*group{}}
}

// handle adds or updates an alert in the groups of every route node that
// takes it. It returns the earliest time one of those groups is due (zero
// for none), so that the caller can wake up in time.
func (d *dispatcher) handle(a *alert.Alert, now time.Time) (earliest time.Time) {
	labels, tags := alertLabels(a)
	for _, r := range d.root.match(labels, tags) {
		gl := r.groupLabels(labels)
		key := r.groupKey(gl)
		g := d.groups[key]
		if g == nil {
			if !d.makeRoom() {
				d.dropped++
				continue
			}
			g = &group{key: key, route: r, labels: gl, alerts: map[string]*member{}, created: now, next: now.Add(r.groupWait)}
			d.groups[key] = g
		}
		m := g.alerts[a.ID]
		switch {
		case m == nil:
			if !d.roomIn(g) {
				d.dropped++
				continue
			}
			g.alerts[a.ID] = &member{a: cloneAlert(a)}
			d.nAlerts++
			g.touch(now)
		case m.a.Status != a.Status || m.a.Count != a.Count:
			m.a = cloneAlert(a)
			g.touch(now)
		default:
			m.a = cloneAlert(a)
		}
		if !g.next.IsZero() && (earliest.IsZero() || g.next.Before(earliest)) {
			earliest = g.next
		}
	}
	return earliest
}

// touch marks the group changed at now and schedules its next flush: the
// first after group_wait from its creation, later ones group_interval
// after the last notification.
func (g *group) touch(now time.Time) {
	g.dirty = true
	if !g.flushed {
		return // the first flush is already scheduled
	}
	due := now
	if !g.lastSent.IsZero() {
		due = later(now, g.lastSent.Add(g.route.groupInterval))
	}
	if g.next.IsZero() || due.Before(g.next) {
		g.next = due
	}
}

// makeRoom reports whether a new group fits, evicting an empty or fully
// resolved group if that is what it takes.
func (d *dispatcher) makeRoom() bool {
	if len(d.groups) < d.limits.MaxGroups && d.nAlerts < d.limits.MaxAlerts {
		return true
	}
	for k, g := range d.groups {
		if !g.planned && g.allResolved() {
			d.evict(k)
			return len(d.groups) < d.limits.MaxGroups && d.nAlerts < d.limits.MaxAlerts
		}
	}
	return false
}

// roomIn reports whether g can take one more alert, evicting a resolved
// alert that has been notified (or never will be) if needed.
func (d *dispatcher) roomIn(g *group) bool {
	if len(g.alerts) < d.limits.MaxAlertsPerGroup && d.nAlerts < d.limits.MaxAlerts {
		return true
	}
	if g.planned {
		return false
	}
	for id, m := range g.alerts {
		if m.a.Status == alert.Resolved {
			delete(g.alerts, id)
			d.nAlerts--
			return d.nAlerts < d.limits.MaxAlerts
		}
	}
	return false
}

func (d *dispatcher) evict(key string) {
	if g, ok := d.groups[key]; ok {
		d.nAlerts -= len(g.alerts)
		delete(d.groups, key)
	}
}

func (g *group) allResolved() bool {
	for _, m := range g.alerts {
		if m.a.Status != alert.Resolved {
			return false
		}
	}
	return true
}

// next returns the earliest time a group is due (zero when none is).
func (d *dispatcher) next() time.Time {
	var t time.Time
	for _, g := range d.groups {
		if !g.next.IsZero() && !g.planned && (t.IsZero() || g.next.Before(t)) {
			t = g.next
		}
	}
	return t
}

// needLoad returns the due groups whose last notification has not been
// read from the outbox yet.
func (d *dispatcher) needLoad(now time.Time) []*group {
	var out []*group
	for _, g := range d.groups {
		if !g.loaded && !g.planned && !g.next.IsZero() && !now.Before(g.next) {
			out = append(out, g)
		}
	}
	return out
}

// load applies the group's last notification from the outbox (nil for
// none): its state and time, and which alerts it showed.
func (d *dispatcher) load(g *group, last *Entry) {
	if d.groups[g.key] != g || g.loaded {
		return
	}
	g.loaded = true
	if last == nil || last.Notification == nil {
		return
	}
	n := last.Notification
	g.lastState = stateOf(n.Alerts, n.Status)
	g.lastSent = last.CreatedAt
	for _, a := range n.Alerts {
		if m := g.alerts[a.ID]; m != nil {
			m.notified = true
		}
	}
}

// plan is a notification decided but not yet in the outbox.
type plan struct {
	g        *group
	n        *Notification
	state    string
	resolved []string // alerts shown as resolved: dropped once enqueued
	shown    []string // alerts shown
}

// flush evaluates every loaded group that is due at now and returns the
// notifications to enqueue.
func (d *dispatcher) flush(now time.Time) []*plan {
	var out []*plan
	for _, g := range d.groups {
		if g.planned || !g.loaded || g.next.IsZero() || now.Before(g.next) {
			continue
		}
		if p := d.evaluate(g, now); p != nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *plan) int { return cmp.Compare(a.g.key, b.g.key) })
	return out
}

// evaluate decides whether g sends a notification at now, and when to
// look at it next.
func (d *dispatcher) evaluate(g *group, now time.Time) *plan {
	r := g.route
	g.next = time.Time{}
	g.flushed = true
	vis, hidden := d.visible(g, now)
	g.hidden = hidden
	if len(vis) == 0 {
		if g.allResolved() {
			d.evict(g.key)
			return nil
		}
		g.dirty = false
		if hidden {
			g.next = now.Add(r.groupInterval) // look again when silences may have ended
		}
		return nil
	}
	status := groupStatus(vis)
	state := stateOf(vis, status)
	send := state != g.lastState ||
		status == Firing && !now.Before(g.lastSent.Add(r.repeatInterval))
	if !send {
		g.dirty = false
		switch {
		case status == Resolved && g.allResolved():
			d.evict(g.key)
			return nil
		case status == Firing:
			g.next = g.lastSent.Add(r.repeatInterval)
		}
		if hidden && (g.next.IsZero() || now.Add(r.groupInterval).Before(g.next)) {
			g.next = now.Add(r.groupInterval)
		}
		return nil
	}
	if r.muted(now) {
		// Keep the state; look again at the next minute, when a time
		// interval may have ended (their bounds are whole minutes).
		g.next = now.Truncate(time.Minute).Add(time.Minute)
		return nil
	}
	g.dirty = false
	g.planned = true
	p := &plan{g: g, state: state}
	for _, a := range vis {
		p.shown = append(p.shown, a.ID)
		if a.Status == alert.Resolved {
			p.resolved = append(p.resolved, a.ID)
		}
	}
	p.n = &Notification{
		ID: d.newID(), Receiver: r.receiver, GroupKey: g.key, GroupLabels: maps.Clone(g.labels),
		Status: status, Severity: highestSeverity(vis), Alerts: vis, URL: d.link(g, vis), Time: now,
	}
	return p
}

// commit records that p's notification is in the outbox.
func (d *dispatcher) commit(p *plan, now time.Time) {
	g := p.g
	g.planned = false
	if d.groups[g.key] != g {
		return
	}
	g.lastSent, g.lastState = now, p.state
	for _, id := range p.shown {
		if m := g.alerts[id]; m != nil {
			m.notified = true
		}
	}
	for _, id := range p.resolved {
		if m := g.alerts[id]; m != nil && m.a.Status == alert.Resolved {
			delete(g.alerts, id)
			d.nAlerts--
		}
	}
	if len(g.alerts) == 0 || p.n.Status == Resolved && g.allResolved() && !g.dirty {
		d.evict(g.key)
		return
	}
	d.reschedule(g)
}

// abort records that p's notification could not be enqueued: the group
// tries again at retry.
func (d *dispatcher) abort(p *plan, retry time.Time) {
	g := p.g
	g.planned = false
	if d.groups[g.key] != g {
		return
	}
	g.dirty = true
	g.next = retry
}

// reschedule sets when g is looked at next after a notification.
func (d *dispatcher) reschedule(g *group) {
	r := g.route
	switch {
	case g.dirty || g.hidden:
		// Changed meanwhile, or silenced alerts may show when their
		// silence ends.
		g.next = g.lastSent.Add(r.groupInterval)
	case groupStatusOf(g) == Firing:
		g.next = g.lastSent.Add(r.repeatInterval)
	default:
		g.next = time.Time{}
	}
}

// visible returns the alerts a notification of g shows at now, in order:
// open and acknowledged alerts that are not silenced, and resolved alerts
// that an earlier notification showed. hidden reports whether a silence
// held back an alert.
func (d *dispatcher) visible(g *group, now time.Time) (vis []alert.Alert, hidden bool) {
	for id, m := range g.alerts {
		switch {
		case m.a.Status == alert.Resolved && !m.notified:
			if !g.planned {
				delete(g.alerts, id) // never shown, so nobody waits for its end
				d.nAlerts--
			}
		case m.a.Status == alert.Resolved:
			vis = append(vis, m.a)
		case d.silencer.Silenced(&m.a, now):
			hidden = true
		default:
			vis = append(vis, m.a)
		}
	}
	slices.SortFunc(vis, func(a, b alert.Alert) int {
		return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.ID, b.ID))
	})
	return vis, hidden
}

// groupStatus is the status of a notification showing alerts: firing
// while any is open, acknowledged when none is open and one is
// acknowledged, resolved when all are resolved.
func groupStatus(alerts []alert.Alert) Status {
	ack := false
	for _, a := range alerts {
		switch a.Status {
		case alert.Open:
			return Firing
		case alert.Acknowledged:
			ack = true
		}
	}
	if ack {
		return Acknowledged
	}
	return Resolved
}

func groupStatusOf(g *group) Status {
	st := Resolved
	for _, m := range g.alerts {
		switch m.a.Status {
		case alert.Open:
			return Firing
		case alert.Acknowledged:
			st = Acknowledged
		}
	}
	return st
}

// stateOf summarises what a notification says: its status and each alert
// that is not resolved, with its status and count. Two notifications with
// the same state say the same thing.
func stateOf(alerts []alert.Alert, status Status) string {
	parts := make([]string, 0, len(alerts))
	for _, a := range alerts {
		if a.Status != alert.Resolved {
			parts = append(parts, a.ID+" "+string(a.Status)+" "+strconv.Itoa(a.Count))
		}
	}
	slices.Sort(parts)
	h := sha256.Sum256([]byte(string(status) + "\n" + strings.Join(parts, "\n")))
	return hex.EncodeToString(h[:16])
}

// severityRank orders severities; unknown ones rank lowest.
var severityRank = map[string]int{"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}

func highestSeverity(alerts []alert.Alert) string {
	best := ""
	for _, a := range alerts {
		if best == "" || severityRank[a.Severity] > severityRank[best] {
			best = a.Severity
		}
	}
	return best
}

// link returns the URL of the alerts in Vigil: the alert itself for one,
// the alert list filtered by the group labels for more.
func (d *dispatcher) link(g *group, alerts []alert.Alert) string {
	if d.externalURL == "" {
		return ""
	}
	if len(alerts) == 1 {
		return d.externalURL + "/alerts/" + url.PathEscape(alerts[0].ID)
	}
	q := url.Values{}
	for k, v := range g.labels {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return d.externalURL + "/alerts"
	}
	return d.externalURL + "/alerts?" + q.Encode()
}

// alerts returns every alert the groups hold, once each.
func (d *dispatcher) alerts() []alert.Alert {
	seen := map[string]bool{}
	var out []alert.Alert
	for _, g := range d.groups {
		for id, m := range g.alerts {
			if !seen[id] {
				seen[id] = true
				out = append(out, m.a)
			}
		}
	}
	slices.SortFunc(out, func(a, b alert.Alert) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func cloneAlert(a *alert.Alert) alert.Alert {
	c := *a
	c.Rule.Tags = slices.Clone(a.Rule.Tags)
	c.EventIDs = slices.Clone(a.EventIDs)
	return c
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
