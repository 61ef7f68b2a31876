package notify

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// Clock tells the time and wakes the service at a given time. Tests use a
// fake one; nil means the system clock.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock has reached t
	// (at once if it has already).
	At(t time.Time) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                  { return time.Now() }
func (systemClock) At(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// newID returns a random notification ID that sorts by creation time.
func newID(now time.Time) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return fmt.Sprintf("ntf_%011x%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}
