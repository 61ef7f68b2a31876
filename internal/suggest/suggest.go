// Package suggest finds the closest known name to a mistyped one, for
// "did you mean" hints in error messages.
package suggest

// maxLen bounds the strings compared, so a hint never costs much.
const maxLen = 64

// Distance is the Levenshtein distance between a and b in bytes; strings
// longer than 64 bytes are treated as far from everything.
func Distance(a, b string) int {
	if len(a) > maxLen || len(b) > maxLen {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Closest returns the candidate nearest to name if it is within max edits.
func Closest(name string, candidates []string, max int) (string, bool) {
	best, bestD := "", max+1
	for _, c := range candidates {
		if d := Distance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best, bestD <= max
}
