package detect

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRefRoundTrip(t *testing.T) {
	for _, id := range []string{
		"5a0f3c8e-1d2b-4e6f-9a7c-3b5d7e9f1a01",
		"5A0F3C8E-1D2B-4E6F-9A7C-3B5D7E9F1A01", // upper case: kept as text
		"5a0f3c8e-1d2b-4e6f-9a7c-3b5d7e9f1a0",  // one digit short
		"5a0f3c8e-1d2b-4e6f-9a7c+3b5d7e9f1a01",
		"5a0f3c8e-1d2b-4e6f-9a7c-3b5d7e9f1a0g",
		"5a0f3c8e-1d2b-4e6f-9a7c-3b5d7e9f1a0F", // one upper-case digit
		"5a0f3c8e-1d2b-4e6f-9a7c-3b5d7e9f1a/1",
		"00000000-0000-0000-0000-000000000000",
		"ffffffff-ffff-ffff-ffff-ffffffffffff",
		"enjz45k4xz5t",
		"sha256:43ad2efdbe9435ce0a52f05ca2c27f93",
		"",
		strings.Repeat("x", 300),
		"\xff\xfe",
	} {
		ref := string(appendRef(nil, id))
		got, val := splitRef(ref + "value")
		if got != id || val != "value" || refLen(ref) != len(ref) {
			t.Errorf("%q: round trip gave %q, %q", id, got, val)
		}
		canonical := id == "5a0f3c8e-1d2b-4e6f-9a7c-3b5d7e9f1a01" || id == "00000000-0000-0000-0000-000000000000" || id == "ffffffff-ffff-ffff-ffff-ffffffffffff"
		if canonical != (len(ref) == 17) {
			t.Errorf("%q takes %d bytes; canonical: %v", id, len(ref), canonical)
		}
	}
	for _, bad := range []string{"", "\xff\x01", "\xfe\x05ab", "x"} {
		if refLen(bad) != -1 {
			t.Errorf("refLen(%q) = %d, want -1", bad, refLen(bad))
		}
	}
}

func TestTuples(t *testing.T) {
	var b []byte
	for _, s := range []string{"a", "", strings.Repeat("b", 200)} {
		b = appendTuple(b, s)
	}
	got := decodeTuple(string(b), 4)
	if got[0] != "a" || got[1] != "" || len(got[2]) != 200 || got[3] != "" {
		t.Errorf("decodeTuple = %q", got)
	}
	if _, _, ok := nextTuple("\x05ab"); ok {
		t.Error("a truncated tuple decoded")
	}
}

// TestChainIncremental checks the incremental temporal_ordered chain
// against a full rescan, and that leaving out the matches that cannot
// extend the chain never changes it, over random pushes and pops.
func TestChainIncremental(t *testing.T) {
	set := loadSet(t, baseRules, `title: Chain
correlation: {type: temporal_ordered, rules: [step_a, step_b, step_c], group-by: [userIdentity.arn], timespan: 1h}`)
	corr := set.Correlations[0]
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		all, kept := newTable(corr), newTable(corr)
		ga, gk := all.insert("k"), kept.insert("k")
		for op := 0; op < 60; op++ {
			if r.IntN(3) == 0 && all.groups[ga].n > 0 {
				// Pop the oldest match; kept drops it too if it has it.
				oldest := all.entries[all.groups[ga].first]
				all.popFront(ga)
				if kept.groups[gk].n > 0 && kept.entries[kept.groups[gk].first].t == oldest.t {
					kept.popFront(gk)
				}
			} else {
				src := int32(r.IntN(3))
				id := fmt.Sprintf("e%d", op-r.IntN(2)) // sometimes the same event as the last one
				s := string(appendRef(nil, id))
				all.push(ga, int64(op), s, src)
				if src <= kept.steps(gk) {
					kept.push(gk, int64(op), s, src)
				}
			}
			got := all.steps(ga)
			ch := all.ord[ga]
			all.ord[ga].steps = -1
			if want := all.steps(ga); got != want {
				t.Fatalf("trial %d op %d: incremental chain %d (%+v), rescan %d", trial, op, got, ch, want)
			}
			if k := kept.steps(gk); k != got {
				t.Fatalf("trial %d op %d: chain over the kept matches %d, over all %d", trial, op, k, got)
			}
		}
	}
}

// TestUUID checks that event IDs in canonical lower-case UUID form are
// kept as 16 bytes and come back unchanged, and that any other string,
// including one that differs from a UUID in a single byte, is not taken
// for one.
func TestUUID(t *testing.T) {
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "0123abcd-4567-89ef-fedc-ba9876543210", "ffffffff-ffff-ffff-ffff-ffffffffffff"} {
		u, ok := parseUUID(id)
		if !ok {
			t.Fatalf("parseUUID(%q) refused", id)
		}
		if got := formatUUID(string(u[:])); got != id {
			t.Errorf("formatUUID(parseUUID(%q)) = %q", id, got)
		}
	}
	// Every byte value in every position formats as encoding/hex does.
	for v := 0; v < 256; v++ {
		var u [16]byte
		for i := range u {
			u[i] = byte(v + 17*i)
		}
		h := hex.EncodeToString(u[:])
		want := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
		if got := string(appendUUID([]byte("x"), string(u[:]))); got != "x"+want {
			t.Fatalf("appendUUID(%x) = %q, want %q", u, got, "x"+want)
		}
	}
	valid := "0123abcd-4567-89ef-fedc-ba9876543210"
	for i := range valid {
		for _, c := range []byte{'g', 'A', 'F', '-', '0', ' '} {
			if c == valid[i] || (c == '0' && valid[i] != '-') { // a digit for a digit is still a UUID
				continue
			}
			b := []byte(valid)
			b[i] = c
			if _, ok := parseUUID(string(b)); ok {
				t.Errorf("parseUUID(%q) accepted", b)
			}
		}
	}
	for _, s := range []string{"", valid[:35], valid + "0", "0123abcd04567-89ef-fedc-ba9876543210"} {
		if _, ok := parseUUID(s); ok {
			t.Errorf("parseUUID(%q) accepted", s)
		}
	}
}
