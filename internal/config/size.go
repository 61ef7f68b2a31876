package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a number of bytes. In the file it is an integer (bytes) or a
// string with a binary suffix: "512KiB", "10MiB", "2GiB", "1TiB".
type Size int64

// Size units, largest first.
var sizeUnits = []struct {
	suffix string
	n      int64
}{
	{"TiB", 1 << 40},
	{"GiB", 1 << 30},
	{"MiB", 1 << 20},
	{"KiB", 1 << 10},
}

// ParseSize parses "1048576", "1024KiB", "10 MiB" or "2GiB". Suffixes are
// case-insensitive; decimal units (MB, GB) are refused because they are
// ambiguous.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	num, mult := t, int64(1)
	lower := strings.ToLower(t)
	for _, u := range sizeUnits {
		if len(t) >= len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			num, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.n
			break
		}
	}
	if mult == 1 {
		num = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(num, "B"), "b"))
	}
	if num == "" || strings.IndexFunc(num, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		if strings.HasPrefix(num, "-") {
			return 0, fmt.Errorf("size %q cannot be negative", s)
		}
		for _, dec := range []string{"kb", "mb", "gb", "tb"} {
			if strings.HasSuffix(lower, dec) {
				return 0, fmt.Errorf("bad size %q: decimal units are ambiguous; use %siB (powers of 1024)", s, strings.ToUpper(dec[:1]))
			}
		}
		return 0, fmt.Errorf("bad size %q: want bytes or a whole number with KiB, MiB, GiB or TiB, e.g. \"10MiB\"", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n * mult), nil
}

// String returns the size with the largest suffix that divides it exactly,
// or plain bytes.
func (s Size) String() string {
	if s > 0 {
		for _, u := range sizeUnits {
			if int64(s)%u.n == 0 {
				return strconv.FormatInt(int64(s)/u.n, 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(int64(s), 10)
}
