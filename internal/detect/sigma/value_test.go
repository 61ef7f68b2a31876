package sigma

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func lit(s string) Segment        { return Segment{Kind: SegLiteral, Text: s} }
func ph(s string) Segment         { return Segment{Kind: SegPlaceholder, Text: s} }
func star() Segment               { return Segment{Kind: SegAnyString} }
func one() Segment                { return Segment{Kind: SegAnyChar} }
func pat(segs ...Segment) Pattern { return Pattern(segs) }

func TestParsePatternEscapes(t *testing.T) {
	tests := []struct {
		in     string
		expand bool
		want   Pattern
	}{
		{``, false, nil},
		{`abc`, false, pat(lit("abc"))},
		{`*`, false, pat(star())},
		{`a*b?c`, false, pat(lit("a"), star(), lit("b"), one(), lit("c"))},
		// Plain backslash not followed by a wildcard: single or double.
		{`C:\Windows\cmd.exe`, false, pat(lit(`C:\Windows\cmd.exe`))},
		{`C:\\Windows\\cmd.exe`, false, pat(lit(`C:\Windows\cmd.exe`))},
		// Escaped wildcards are literal.
		{`\*`, false, pat(lit("*"))},
		{`\?`, false, pat(lit("?"))},
		// Escaped backslash followed by a wildcard.
		{`\\*`, false, pat(lit(`\`), star())},
		// Backslash and wildcard both escaped.
		{`\\\*`, false, pat(lit(`\*`))},
		// Three or four backslashes are a double backslash.
		{`a\\\b`, false, pat(lit(`a\\b`))},
		{`a\\\\b`, false, pat(lit(`a\\b`))},
		{`\\\\*`, false, pat(lit(`\\`), star())},
		// Trailing backslash.
		{`abc\`, false, pat(lit(`abc\`))},
		// Percent signs are plain without expand.
		{`%name%`, false, pat(lit("%name%"))},
		{`\%x`, false, pat(lit(`\%x`))},
		// Placeholders with expand.
		{`%name%`, true, pat(ph("name"))},
		{`\%plain%name%`, true, pat(lit("%plain"), ph("name"))},
		{`srv-%Servers%*`, true, pat(lit("srv-"), ph("Servers"), star())},
	}
	for _, tt := range tests {
		got, err := parsePattern(tt.in, tt.expand)
		if err != nil {
			t.Errorf("parsePattern(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parsePattern(%q, %v) (-want +got):\n%s", tt.in, tt.expand, diff)
		}
		// String renders a form that parses back to the same pattern.
		again, err := parsePattern(got.String(), got.HasPlaceholders())
		if err != nil || !cmp.Equal(got, again) {
			t.Errorf("round trip of %q via %q gave %v, %v", tt.in, got.String(), again, err)
		}
	}
	for _, bad := range []string{`%unterminated`, `ab%%cd`} {
		if _, err := parsePattern(bad, true); err == nil {
			t.Errorf("parsePattern(%q, true) succeeded", bad)
		}
	}
}

func TestWindash(t *testing.T) {
	got, err := windash(pat(lit("-a /b"), star()), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 25 {
		t.Fatalf("got %d alternatives, want 25", len(got))
	}
	seen := map[string]bool{}
	for _, p := range got {
		if len(p) != 2 || p[1].Kind != SegAnyString {
			t.Fatalf("wildcard lost: %v", p)
		}
		seen[p[0].Text] = true
	}
	for _, want := range []string{"-a /b", "/a -b", "\u2013a \u2014b", "\u2015a \u2015b", "-a -b"} {
		if !seen[want] {
			t.Errorf("missing alternative %q", want)
		}
	}
	if got, _ := windash(pat(lit("none")), 100); len(got) != 1 || got[0][0].Text != "none" {
		t.Errorf("value without dashes: %v", got)
	}
	if _, err := windash(pat(lit("-a -b -c")), 100); err == nil {
		t.Error("expected an error above the limit")
	}
}

func TestBase64Offset(t *testing.T) {
	// Every alternative must appear in the encoding of the value at the
	// matching offset, whatever surrounds it.
	for _, value := range []string{"ab", "abc", "abcd", "abcde", "IEX (New-Object"} {
		alts, err := base64Offset(pat(lit(value)))
		if err != nil {
			t.Fatalf("%q: %v", value, err)
		}
		for off := 0; off < 3; off++ {
			for tail := 0; tail < 3; tail++ {
				data := strings.Repeat("Q", off) + value + strings.Repeat("Z", tail)
				enc := base64.StdEncoding.EncodeToString([]byte("PAD" + data))
				found := false
				for _, a := range alts {
					if strings.Contains(enc, a.Literal()) {
						found = true
					}
				}
				if !found {
					t.Errorf("%q at offset %d: no alternative of %v in %q", value, off, alts, enc)
				}
			}
		}
	}
	// A one-byte value has no stable encoding at offset 1.
	if alts, err := base64Offset(pat(lit("x"))); err != nil || len(alts) != 2 {
		t.Errorf("one byte: %v, %v", alts, err)
	}
	if _, err := base64Offset(pat()); err == nil {
		t.Error("empty value must be rejected")
	}
	if _, err := base64Offset(pat(lit("a"), star())); err == nil {
		t.Error("wildcards must be rejected")
	}
}

func TestUTF16(t *testing.T) {
	tests := []struct {
		big, bom bool
		want     string
	}{
		{false, false, "c\x00m\x00d\x00"},
		{true, false, "\x00c\x00m\x00d"},
		{false, true, "\xff\xfec\x00m\x00d\x00"},
	}
	for _, tt := range tests {
		got := utf16Encode(pat(lit("cmd")), tt.big, tt.bom)
		if got.Literal() != tt.want {
			t.Errorf("utf16(big=%v, bom=%v) = %q, want %q", tt.big, tt.bom, got.Literal(), tt.want)
		}
	}
	// Wildcards survive; non-BMP characters become surrogate pairs.
	got := utf16Encode(pat(lit("a"), star(), lit("😀")), false, false)
	want := pat(lit("a\x00"), star(), lit("\x3d\xd8\x00\xde"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestModifierCombinations(t *testing.T) {
	tests := []struct {
		mods    string
		keyword bool
		want    string // substring of the first problem, "" for valid
	}{
		{"contains", false, ""},
		{"contains|all", false, ""},
		{"windash|contains", false, ""},
		{"wide|base64offset|contains", false, ""},
		{"base64offset|contains", false, ""},
		{"re|i|m|s", false, ""},
		{"hour|gte", false, ""},
		{"fieldref|neq", false, ""},
		{"fieldref|endswith", false, ""},
		{"cidr|neq", false, ""},
		{"expand|startswith", false, ""},
		{"all|cased|contains", true, ""},
		{"contains|startswith", false, `"contains" and "startswith" cannot be combined`},
		{"lt|gt", false, `"lt" and "gt" cannot be combined`},
		{"utf16le|wide", false, `"utf16le" and "wide" cannot be combined`},
		{"base64|base64offset|contains", false, `"base64" and "base64offset" cannot be combined`},
		{"re|contains", false, `"re" and "contains" cannot be combined`},
		{"re|cidr", false, `"re" and "cidr" cannot be combined`},
		{"exists|neq", false, `"exists" cannot be combined with other modifiers`},
		{"exists|contains", false, `"exists" and "contains" cannot be combined`},
		{"cased|re", false, `"cased" cannot be combined with "re"`},
		{"i|re", false, `flag "i" must follow the "re" modifier`},
		{"hour|contains", false, `"hour" and "contains" cannot be combined`},
		{"hour|minute", false, `"hour" and "minute" cannot be combined`},
		{"expand|base64", false, `"expand" and "base64" cannot be combined`},
		{"fieldref|base64", false, `"fieldref" and "base64" cannot be combined`},
		{"base64offset", false, `"base64offset" requires "contains"`},
		{"base64offset|endswith", false, `"base64offset" requires "contains"`},
		{"neq|lte", false, `"neq" and "lte" cannot be combined`},
		{"contains|contains", false, `"contains" is repeated`},
		{"wide|windash|contains", false, `"windash" must come before "wide"`},
		{"contains|", false, "empty modifier"},
		{"regex", false, `unknown modifier "regex"`},
		{"startwith", false, `did you mean "startswith"?`},
		{"Contains", false, `unknown modifier "Contains" (did you mean "contains"?)`},
		{"xyzzy", false, `unknown modifier "xyzzy"`},
		{"exists", true, "needs a field name"},
		{"gt", true, "needs a field name"},
		{"neq", true, "needs a field name"},
	}
	for _, tt := range tests {
		_, probs := parseModifiers(strings.Split(tt.mods, "|"), tt.keyword)
		if tt.want == "" {
			if len(probs) > 0 {
				t.Errorf("%q: unexpected problems %q", tt.mods, probs)
			}
			continue
		}
		if len(probs) == 0 || !strings.Contains(probs[0], tt.want) {
			t.Errorf("%q: got %q, want a problem containing %q", tt.mods, probs, tt.want)
		}
	}
}

func TestRegexErrors(t *testing.T) {
	tests := []struct{ re, want string }{
		{`a(?=b)`, "lookahead"},
		{`(?<=a)b`, "lookbehind"},
		{`(?<!a)b`, "lookbehind"},
		{`(?>ab)`, "atomic group"},
		{`(a)\1`, "backreference"},
		{`a++`, "possessive quantifier"},
		{`a\Z`, "escape sequence"},
		{`[a-`, "missing closing ]"},
		{`a{2000}`, "invalid repeat count"},
		{strings.Repeat(`[a-z]{1000}`, 30), "too complex"},
		{`(?:(?:a{100}){100}){100}`, "invalid repeat count"},
	}
	for _, tt := range tests {
		_, _, err := compileRegex(tt.re, "", 4096, 20000, 1<<30)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("compileRegex(%q) = %v, want error containing %q", tt.re, err, tt.want)
		}
	}
	if _, _, err := compileRegex("abc", "", 100, 20000, 2); err == nil || !strings.Contains(err.Error(), "too large in total") {
		t.Errorf("budget: %v", err)
	}
	if _, _, err := compileRegex(strings.Repeat("a", 101), "", 100, 20000, 1<<30); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("long regex: %v", err)
	}
	re, _, err := compileRegex(`^a.b$`, "ims", 100, 20000, 1<<30)
	if err != nil || !re.Re.MatchString("x\nA\nB") {
		t.Errorf("flags not applied: %v", err)
	}
}
