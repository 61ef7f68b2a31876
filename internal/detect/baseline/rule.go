package baseline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Kind is the kind of a baseline rule.
type Kind string

// Kinds of baseline rules.
const (
	// Rate compares a value per time bucket (events, or the sum or mean of
	// a numeric field) with what was learned for the same key.
	Rate Kind = "rate"
	// FirstSeen fires once when a combination of field values appears
	// that was never seen before.
	FirstSeen Kind = "first_seen"
)

// Aggregates of a rate rule's value.
const (
	AggregateCount = "count" // events in the bucket (no value field)
	AggregateSum   = "sum"   // sum of the value field over the bucket's events
	AggregateMean  = "mean"  // mean of the value field over the bucket's events
)

// Seasonalities of a rate rule.
const (
	SeasonalityWeek = "week" // an expected value per hour of the week
	SeasonalityNone = "none" // one expected value for every hour
)

// Rule is one baseline rule as written in a file.
type Rule struct {
	ID             string
	Name           string
	Title          string
	Description    string
	Author         string
	References     []string
	Level          string
	Tags           []string
	FalsePositives []string

	Kind Kind
	// Events are alternatives: an event counts when it meets every
	// condition of at least one of them and of none of Except.
	Events []Clause
	Except []Clause
	// Key names the fields whose values tell apart the series (rate) or the
	// entities (first_seen) of the rule.
	Key []string
	// New names, for first_seen, the fields whose combination with Key is
	// looked for: [principal] and [source_ip] fire on a new IP address for
	// a principal.
	New []string

	// Rate only.
	Value       *Value // nil counts events
	Bucket      time.Duration
	Seasonality string
	Cooldown    time.Duration
	Threshold   Threshold

	// Learning is, for rate, how much history a key needs before it may
	// fire; for first_seen, how long after the rule first sees an event it
	// starts firing.
	Learning time.Duration
	// KeyLearning is, for first_seen with a Key, how long after a key
	// (entity) is first seen its new combinations may fire; 0 fires from
	// the start.
	KeyLearning time.Duration
	// MaxKeys bounds the keys (rate) or combinations (first_seen) the
	// rule keeps; 0 takes the evaluator's default.
	MaxKeys int

	File string
	Line int // where the rule's document starts
}

// Clause is a set of conditions that must all hold.
type Clause struct {
	Conds []Cond
}

// Cond is one condition on a field.
type Cond struct {
	Field string
	// Values: the field is one of them (exact, case-sensitive).
	Values []string
	// Exists, when Values is empty: the field is present and not empty
	// (true) or absent or empty (false).
	Exists bool
}

// Value is what a rate rule adds up instead of counting events.
type Value struct {
	Field     string  // a raw.* field holding a number
	Times     string  // optional raw.* field multiplied in
	Scale     float64 // constant factor, 1 by default
	Aggregate string  // AggregateSum or AggregateMean
}

// Threshold is when a rate bucket is a spike. All parts must hold.
type Threshold struct {
	ZScore    float64 // (observed - expected) / stddev at least this
	Ratio     float64 // observed / expected at least this
	Min       float64 // observed at least this
	MinEvents int     // events in the bucket at least this
}

// Defaults for rules that leave them out.
const (
	DefaultBucket      = time.Minute
	DefaultLearning    = 7 * 24 * time.Hour
	DefaultCooldown    = time.Hour
	DefaultZScore      = 4
	DefaultRatio       = 3
	DefaultMin         = 10
	DefaultMinEvents   = 1
	DefaultSeasonality = SeasonalityWeek
)

// aggregate returns the rule's aggregate.
func (r *Rule) aggregate() string {
	if r.Value == nil {
		return AggregateCount
	}
	return r.Value.Aggregate
}

// Fields lists the fields of a match's key in order: Key, then New.
func (r *Rule) Fields() []string {
	return append(append([]string(nil), r.Key...), r.New...)
}

// String names the rule for messages.
func (r *Rule) String() string {
	return fmt.Sprintf("%s (%s)", r.Title, r.ID)
}

// digest identifies what a rule's learned state means: what it counts and
// keys on. Checkpointed state is kept across restarts and reloads only for
// a rule whose digest is unchanged; thresholds, learning, cooldown and
// metadata may change freely.
func (r *Rule) digest() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind=%s\n", r.Kind)
	clauses := func(name string, cs []Clause) {
		for _, c := range cs {
			fmt.Fprintf(&b, "%s:", name)
			for _, cd := range c.Conds {
				if len(cd.Values) == 0 {
					fmt.Fprintf(&b, " %s exists=%v;", cd.Field, cd.Exists)
				} else {
					fmt.Fprintf(&b, " %s in %q;", cd.Field, cd.Values)
				}
			}
			b.WriteByte('\n')
		}
	}
	clauses("events", r.Events)
	clauses("except", r.Except)
	fmt.Fprintf(&b, "key=%q new=%q\n", r.Key, r.New)
	if r.Kind == Rate {
		fmt.Fprintf(&b, "bucket=%d seasonality=%s aggregate=%s\n", r.Bucket, r.Seasonality, r.aggregate())
		if r.Value != nil {
			fmt.Fprintf(&b, "value=%q times=%q scale=%g\n", r.Value.Field, r.Value.Times, r.Value.Scale)
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:12])
}

// Derived fields: computed from the envelope, not read from it.
const (
	FieldASN     = "asn"     // autonomous system of source_ip ("AS64496"), from a GeoIP database
	FieldCountry = "country" // ISO country code of source_ip, from a GeoIP database
	// FieldRole is the role behind a principal: for AWS assumed-role
	// sessions the IAM role ARN, for Google service accounts and Azure
	// service principals and managed identities the principal itself;
	// empty for users.
	FieldRole = "role"
	// FieldUserAgentFamily is user_agent with every version number
	// replaced by "*", so that an SDK update is not a new user agent.
	FieldUserAgentFamily = "user_agent_family"
)

// RawPrefix starts the name of a field of the native record.
const RawPrefix = "raw."

// notKeyFields are envelope fields that make no sense as keys or filters.
var notKeyFields = map[string]bool{"time": true, "id": true}

// knownField reports whether name is a field rules may use, and why not.
func knownField(name string) (bool, string) {
	switch {
	case strings.HasPrefix(name, RawPrefix):
		if len(name) == len(RawPrefix) || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
			return false, fmt.Sprintf("%q is not a field path: write raw. and a dotted path into the native record, such as raw.userIdentity.arn", name)
		}
		return true, ""
	case name == FieldASN || name == FieldCountry || name == FieldRole || name == FieldUserAgentFamily:
		return true, ""
	case notKeyFields[name]:
		return false, fmt.Sprintf("field %q cannot be used by a baseline", name)
	case event.EnvelopeGetter(name) != nil:
		return true, ""
	}
	return false, fmt.Sprintf("unknown field %q; use an envelope field (%s), a derived field (asn, country, role, user_agent_family) or raw.<path>",
		name, strings.Join(envelopeNames(), ", "))
}

func envelopeNames() []string {
	var out []string
	for _, n := range event.EnvelopeFieldNames() {
		if !notKeyFields[n] {
			out = append(out, n)
		}
	}
	return out
}
