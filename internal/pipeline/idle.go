package pipeline

import "time"

// idleClock moves the event time of a stateful evaluator on while its
// input is idle. Its windows and buckets follow event time, so the wall
// clock only says how long the input has been idle: after idle without
// events, event time is taken to have moved on from the latest event seen
// by the idle time, which closes what waits for later events.
type idleClock struct {
	idle     time.Duration
	newest   time.Time // the latest event time fed
	lastFeed time.Time // wall clock of the last feed that carried events
}

func newIdleClock(idle time.Duration, now time.Time) idleClock {
	if idle <= 0 {
		idle = time.Minute
	}
	return idleClock{idle: idle, lastFeed: now}
}

// saw records the event time of one event fed.
func (c *idleClock) saw(t time.Time) {
	if t.After(c.newest) {
		c.newest = t
	}
}

// fed records, at now, a feed that carried events.
func (c *idleClock) fed(now time.Time) { c.lastFeed = now }

// advance returns the event time the input's idleness at now has moved
// on to; false while the input is not idle or nothing was fed yet.
func (c *idleClock) advance(now time.Time) (time.Time, bool) {
	idle := now.Sub(c.lastFeed)
	if c.newest.IsZero() || idle < c.idle {
		return time.Time{}, false
	}
	return c.newest.Add(idle), true
}
