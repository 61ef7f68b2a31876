package notify

import (
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/alert"
)

// routeMatcher is an alert.Matcher, except that a matcher on "tag" or
// "tags" tests each of the alert's tags on its own: = and =~ match when
// any one tag matches, != and !~ when no tag does. An alert without tags
// counts as having one empty tag, as a missing label is the empty string.
type routeMatcher struct {
	m      *alert.Matcher // for tags: the positive form (= or =~)
	tag    bool
	negate bool // for tags: the matcher was != or !~
	text   string
}

// parseRouteMatcher parses `name=value`, `name!="value"`, `name=~"re"` or
// `name!~re` over an alert label, or over "tag"/"tags".
func parseRouteMatcher(s string) (*routeMatcher, error) {
	name := s
	if i := strings.IndexAny(s, "=!"); i >= 0 {
		name = s[:i]
	}
	n := strings.TrimSpace(name)
	if n != "tag" && n != "tags" {
		m, err := alert.ParseMatcher(s)
		if err != nil {
			if strings.Contains(err.Error(), "unknown label") {
				return nil, fmt.Errorf("%v, or tag (matches when any one of the rule's tags matches)", err)
			}
			return nil, err
		}
		return &routeMatcher{m: m, text: m.String()}, nil
	}
	// Parse it as the "tags" label, then match each tag alone.
	m, err := alert.ParseMatcher("tags" + s[len(name):])
	if err != nil {
		return nil, err
	}
	rm := &routeMatcher{tag: true, text: "tag" + string(m.Op) + fmt.Sprintf("%q", m.Value)}
	switch m.Op {
	case alert.NotEqual:
		m, err = alert.NewMatcher("tags", alert.Equal, m.Value)
		rm.negate = true
	case alert.RegexpNeq:
		m, err = alert.NewMatcher("tags", alert.RegexpEq, m.Value)
		rm.negate = true
	}
	if err != nil {
		return nil, err
	}
	rm.m = m
	return rm, nil
}

// matches reports whether the alert, with its labels and tags, satisfies
// the matcher.
func (rm *routeMatcher) matches(labels map[string]string, tags []string) bool {
	if !rm.tag {
		return rm.m.Matches(labels)
	}
	if len(tags) == 0 {
		tags = []string{""}
	}
	one := map[string]string{"tags": ""}
	hit := false
	for _, t := range tags {
		one["tags"] = t
		if rm.m.Matches(one) {
			hit = true
			break
		}
	}
	return hit != rm.negate
}

func (rm *routeMatcher) String() string { return rm.text }
