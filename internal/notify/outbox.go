package notify

import (
	"context"
	"time"
)

// DeliveryStatus is where a notification is in the outbox.
type DeliveryStatus string

// Delivery statuses. A notification is pending until it is sent, or until
// it fails permanently or outlives Delivery.MaxAge, when it is failed
// (dead-lettered) and waits for an operator's Retry.
const (
	Pending DeliveryStatus = "pending"
	Sent    DeliveryStatus = "sent"
	Failed  DeliveryStatus = "failed"
)

// Valid reports whether s is a known status.
func (s DeliveryStatus) Valid() bool { return s == Pending || s == Sent || s == Failed }

// Entry is a notification in the outbox with its delivery state.
type Entry struct {
	ID        string         `json:"id"` // the notification's ID
	Receiver  string         `json:"receiver"`
	GroupKey  string         `json:"group_key"`
	Status    DeliveryStatus `json:"status"`
	Attempts  int            `json:"attempts"`
	LastError string         `json:"last_error,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	// Since is when the current series of attempts began: the creation,
	// or the last Retry. MaxAge counts from it.
	Since time.Time `json:"since"`
	// NextAttempt is when a pending notification is tried next.
	NextAttempt  *time.Time    `json:"next_attempt,omitempty"`
	SentAt       *time.Time    `json:"sent_at,omitempty"`
	Notification *Notification `json:"notification"`
	// Claim identifies the current claim; Mark* calls with an older one
	// are refused, so a worker that lost its lease cannot overwrite the
	// outcome of the one that took over.
	Claim int64 `json:"-"`
}

// ListFilter selects outbox entries. Results are newest first.
type ListFilter struct {
	Status   DeliveryStatus // "" for every status
	Receiver string         // "" for every receiver
	Limit    int
	Cursor   string
}

// Outbox is the durable store of notifications. Every notification is
// enqueued before it is sent; delivery claims due entries, and a claim
// that is not settled (by MarkSent, MarkRetry or MarkDead) within its
// lease is claimed again, so delivery is at least once.
//
// Entries of one group (GroupKey and Receiver) are delivered in order:
// Claim returns only the oldest pending entry of each group.
type Outbox interface {
	// Enqueue stores notifications as pending, due at now, in one
	// transaction.
	Enqueue(ctx context.Context, now time.Time, ns ...*Notification) error
	// Claim takes up to limit due entries of receiver (pending, next
	// attempt at or before now, not claimed by a live lease, oldest of
	// their group), counts an attempt on each and leases them until
	// now+lease. next is the earliest time a further entry of receiver
	// becomes due (zero when none is pending).
	Claim(ctx context.Context, receiver string, now time.Time, lease time.Duration, limit int) (claimed []*Entry, next time.Time, err error)
	// MarkSent records a delivery and remembers ref for the group ("" forgets it).
	MarkSent(ctx context.Context, e *Entry, ref string, now time.Time) error
	// MarkRetry records a failed attempt and when to try again.
	MarkRetry(ctx context.Context, e *Entry, next time.Time, lastErr string, now time.Time) error
	// MarkDead dead-letters the entry: status failed.
	MarkDead(ctx context.Context, e *Entry, lastErr string, now time.Time) error
	// Get returns one entry.
	Get(ctx context.Context, id string) (*Entry, error)
	// List returns entries, newest first, and the cursor of the next page
	// ("" at the end).
	List(ctx context.Context, f ListFilter) ([]*Entry, string, error)
	// Retry makes a failed entry pending again, due now, with a new
	// series of attempts. It refuses an entry that is not failed, and one
	// whose group has delivered a newer notification since (sending it
	// would show a stale state).
	Retry(ctx context.Context, id string, now time.Time) (*Entry, error)
	// Ref returns what the receiver last returned for the group ("" if
	// nothing).
	Ref(ctx context.Context, groupKey, receiver string) (string, error)
	// Last returns the group's newest entry, or nil when it has none.
	Last(ctx context.Context, groupKey, receiver string) (*Entry, error)
	// Prune deletes sent and failed entries last updated before t, and
	// group refs not updated since t.
	Prune(ctx context.Context, t time.Time) (int64, error)
}
