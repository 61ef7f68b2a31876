package alert

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MatchOp is a matcher's operator.
type MatchOp string

// Operators, as in Alertmanager.
const (
	Equal     MatchOp = "="
	NotEqual  MatchOp = "!="
	RegexpEq  MatchOp = "=~"
	RegexpNeq MatchOp = "!~"
)

// Matcher tests one label. Regular expressions are anchored at both ends.
type Matcher struct {
	Name  string  `json:"name"`
	Op    MatchOp `json:"op"`
	Value string  `json:"value"`
	re    *regexp.Regexp
}

// MaxMatcherLength bounds a matcher's text.
const MaxMatcherLength = 1024

// NewMatcher validates and compiles a matcher.
func NewMatcher(name string, op MatchOp, value string) (*Matcher, error) {
	if !slices.Contains(LabelNames(), name) {
		return nil, fmt.Errorf("unknown label %q: use one of %s", name, strings.Join(LabelNames(), ", "))
	}
	if len(value) > MaxMatcherLength {
		return nil, fmt.Errorf("matcher value longer than %d bytes", MaxMatcherLength)
	}
	m := &Matcher{Name: name, Op: op, Value: value}
	switch op {
	case Equal, NotEqual:
	case RegexpEq, RegexpNeq:
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return nil, fmt.Errorf("matcher %s%s%q: invalid regular expression: %v", name, op, value, err)
		}
		m.re = re
	default:
		return nil, fmt.Errorf("unknown matcher operator %q: use =, !=, =~ or !~", op)
	}
	return m, nil
}

// ParseMatcher parses `name=value`, `name!="value"`, `name=~"re"` or
// `name!~re`.
func ParseMatcher(s string) (*Matcher, error) {
	if len(s) > MaxMatcherLength+64 {
		return nil, fmt.Errorf("matcher longer than %d bytes", MaxMatcherLength)
	}
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return nil, fmt.Errorf("matcher %q: want name=value, name!=value, name=~regex or name!~regex", s)
	}
	name := strings.TrimSpace(s[:i])
	rest := s[i:]
	var op MatchOp
	for _, o := range []MatchOp{RegexpEq, RegexpNeq, NotEqual, Equal} {
		if strings.HasPrefix(rest, string(o)) {
			op = o
			break
		}
	}
	if op == "" {
		return nil, fmt.Errorf("matcher %q: want an operator =, !=, =~ or !~ after %q", s, name)
	}
	value := strings.TrimSpace(rest[len(op):])
	if strings.HasPrefix(value, `"`) {
		v, err := strconv.Unquote(value)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: bad quoted value: %v", s, err)
		}
		value = v
	}
	return NewMatcher(name, op, value)
}

// Compile prepares a matcher decoded from storage or JSON.
func (m *Matcher) Compile() error {
	c, err := NewMatcher(m.Name, m.Op, m.Value)
	if err != nil {
		return err
	}
	*m = *c
	return nil
}

// Matches reports whether labels satisfy the matcher. A missing label is
// the empty string.
func (m *Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Op {
	case Equal:
		return v == m.Value
	case NotEqual:
		return v != m.Value
	case RegexpEq:
		return m.re.MatchString(v)
	case RegexpNeq:
		return !m.re.MatchString(v)
	}
	return false
}

func (m *Matcher) String() string { return m.Name + string(m.Op) + strconv.Quote(m.Value) }

// Silence mutes matching alerts between StartsAt and EndsAt. Silenced
// alerts are stored and marked, never dropped.
type Silence struct {
	ID        string     `json:"id"`
	Matchers  []*Matcher `json:"matchers"`
	StartsAt  time.Time  `json:"starts_at"`
	EndsAt    time.Time  `json:"ends_at"`
	CreatedBy string     `json:"created_by"`
	Comment   string     `json:"comment"`
	CreatedAt time.Time  `json:"created_at"`
}

// Validate checks a silence before it is stored.
func (s *Silence) Validate() error {
	if len(s.Matchers) == 0 {
		return fmt.Errorf("a silence needs at least one matcher")
	}
	if len(s.Matchers) > 32 {
		return fmt.Errorf("a silence may have at most 32 matchers")
	}
	for _, m := range s.Matchers {
		if err := m.Compile(); err != nil {
			return err
		}
	}
	if !s.EndsAt.After(s.StartsAt) {
		return fmt.Errorf("ends_at (%s) must be after starts_at (%s)", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339))
	}
	if strings.TrimSpace(s.Comment) == "" {
		return fmt.Errorf("a silence needs a comment saying why")
	}
	if len(s.Comment) > 4096 {
		return fmt.Errorf("comment longer than 4096 bytes")
	}
	return nil
}

// Active reports whether the silence applies at t.
func (s *Silence) Active(t time.Time) bool { return !t.Before(s.StartsAt) && t.Before(s.EndsAt) }

// Matches reports whether every matcher matches the labels.
func (s *Silence) Matches(labels map[string]string) bool {
	for _, m := range s.Matchers {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}
