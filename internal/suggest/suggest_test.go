package suggest

import (
	"strings"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"listen", "listen", 0}, {"lisen", "listen", 1}, {"kitten", "sitting", 3}, {"", "abc", 3}} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if Distance(strings.Repeat("a", 65), "a") < 1000 {
		t.Error("long strings are not bounded")
	}
}

func TestClosest(t *testing.T) {
	if got, ok := Closest("startwith", []string{"startswith", "endswith", "contains"}, 2); !ok || got != "startswith" {
		t.Errorf("Closest = %q, %v", got, ok)
	}
	if _, ok := Closest("zzzzzz", []string{"startswith"}, 2); ok {
		t.Error("a far name got a suggestion")
	}
}
