package sigma

import (
	"strings"
	"testing"
)

var condNames = []string{"selection", "selection_2", "filter", "filter_x", "_hidden", "keywords"}

func TestParseConditionTree(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"selection", "selection#0"},
		{"selection and filter", "and(selection#0, filter#2)"},
		{"selection or filter and keywords", "or(selection#0, and(filter#2, keywords#5))"},
		{"selection and filter or keywords", "or(and(selection#0, filter#2), keywords#5)"},
		{"not selection and filter", "and(not(selection#0), filter#2)"},
		{"not (selection and filter)", "not(and(selection#0, filter#2))"},
		{"not not selection", "not(not(selection#0))"},
		{"selection and not filter or keywords", "or(and(selection#0, not(filter#2)), keywords#5)"},
		{"(selection or filter) and keywords", "and(or(selection#0, filter#2), keywords#5)"},
		{"a or b or c", ""}, // unknown identifiers: error case below
		{"1 of selection*", "1-of(selection*)[0 1]"},
		{"all of selection*", "all-of(selection*)[0 1]"},
		{"1 of them", "1-of(them)[0 1 2 3 5]"},
		{"all of them", "all-of(them)[0 1 2 3 5]"},
		{"2 of *", "2-of(*)[0 1 2 3 4 5]"},
		{"1 of _*", "1-of(_*)[4]"},
		{"1 of *_*", "1-of(*_*)[1 3 4]"},
		{"1 of selection* and not 1 of filter*", "and(1-of(selection*)[0 1], not(1-of(filter*)[2 3]))"},
		{"SELECTION_2 and selection", ""},
		{"selection AND NOT filter", "and(selection#0, not(filter#2))"},
		{"ALL OF Them", "all-of(them)[0 1 2 3 5]"},
		{"((selection))", "selection#0"},
		{"selection and (filter or (keywords and not _hidden))", "and(selection#0, or(filter#2, and(keywords#5, not(_hidden#4))))"},
		{"  selection\tand\nfilter  ", "and(selection#0, filter#2)"},
	}
	for _, tt := range tests {
		if tt.want == "" {
			continue
		}
		e, err := ParseCondition(tt.src, condNames)
		if err != nil {
			t.Errorf("ParseCondition(%q): %v", tt.src, err)
			continue
		}
		if got := exprTree(e); got != tt.want {
			t.Errorf("ParseCondition(%q) = %s, want %s", tt.src, got, tt.want)
		}
	}
}

func TestParseConditionErrors(t *testing.T) {
	tests := []struct {
		src  string
		col  int
		want string
	}{
		{"", 1, "empty condition"},
		{"   ", 1, "empty condition"},
		{"a or b", 1, `unknown search identifier "a"`},
		{"selection and sel", 15, `unknown search identifier "sel"`},
		{"SELECTION", 1, `unknown search identifier "SELECTION"`},
		{"(selection", 1, `unbalanced parentheses: "(" is never closed`},
		{"selection)", 10, `unbalanced parentheses: unexpected ")"`},
		{"()", 2, `unexpected ")"`},
		{"selection and", 14, "unexpected end of condition"},
		{"selection filter", 11, `expected "and", "or" or end of condition, found "filter"`},
		{"not", 4, "unexpected end of condition"},
		{"1 of nothing*", 6, `pattern "nothing*" matches no search identifier`},
		{"0 of selection*", 1, `invalid quantifier "0"`},
		{"-1 of selection*", 1, `invalid quantifier "-1"`},
		{"any of selection*", 1, `invalid quantifier "any"`},
		{"3 of selection*", 1, `"3 of selection*" can never match: only 2 search identifiers match`},
		{"1 of", 5, `expected a search identifier pattern or "them" after "of", found end of condition`},
		{"1 of (selection)", 6, `expected a search identifier pattern or "them" after "of"`},
		{"1 of and", 6, `expected a search identifier pattern or "them" after "of", found "and"`},
		{"selection*", 1, `wildcard identifier "selection*" is only allowed after "1 of" or "all of"`},
		{"selection | count() > 5", 11, "aggregation expressions"},
		{"selection | near filter", 11, "aggregation expressions"},
		{"selection near filter", 11, "the near operator was removed"},
		{"and selection", 1, `unexpected keyword "and"`},
		{"them", 1, `unexpected keyword "them"`},
		{"1 of them", 0, ""},
	}
	for _, tt := range tests {
		_, err := ParseCondition(tt.src, condNames)
		if tt.want == "" {
			if err != nil {
				t.Errorf("ParseCondition(%q): unexpected error %v", tt.src, err)
			}
			continue
		}
		ce, ok := err.(*ConditionError)
		if !ok {
			t.Errorf("ParseCondition(%q) error = %v (%T), want *ConditionError", tt.src, err, err)
			continue
		}
		if ce.Col != tt.col || !strings.Contains(ce.Msg, tt.want) {
			t.Errorf("ParseCondition(%q) = column %d %q, want column %d containing %q", tt.src, ce.Col, ce.Msg, tt.col, tt.want)
		}
	}
}

func TestConditionColumnCountsCharacters(t *testing.T) {
	_, err := ParseCondition("sélection and nöt", []string{"sélection"})
	ce, ok := err.(*ConditionError)
	if !ok || ce.Col != 15 || !strings.Contains(ce.Msg, `"nöt"`) {
		t.Fatalf("got %v", err)
	}
}

func TestConditionThemExcludesUnderscore(t *testing.T) {
	_, err := ParseCondition("1 of them", []string{"_a", "_b"})
	if err == nil || !strings.Contains(err.Error(), `"them" matches no search identifier`) {
		t.Fatalf("got %v", err)
	}
}

func TestConditionLimits(t *testing.T) {
	deep := strings.Repeat("(", 70) + "selection" + strings.Repeat(")", 70)
	if _, err := ParseCondition(deep, condNames); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("deep parentheses: got %v", err)
	}
	nots := strings.Repeat("not ", 70) + "selection"
	if _, err := ParseCondition(nots, condNames); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("deep not: got %v", err)
	}
	long := "selection" + strings.Repeat(" or selection", 400)
	if _, err := ParseCondition(long, condNames); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("long condition: got %v", err)
	}
	ok := strings.Repeat("(", 60) + "selection" + strings.Repeat(")", 60)
	if _, err := ParseCondition(ok, condNames); err != nil {
		t.Errorf("60 levels: %v", err)
	}
}

func TestConditionStringRoundTrip(t *testing.T) {
	for _, src := range []string{
		"selection and not (filter or keywords)",
		"1 of selection* or all of them and not _hidden",
		"not not (selection or filter_x) and 2 of filter*",
	} {
		e, err := ParseCondition(src, condNames)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		again, err := ParseCondition(e.String(), condNames)
		if err != nil {
			t.Fatalf("reparse %q: %v", e.String(), err)
		}
		if exprTree(again) != exprTree(e) {
			t.Errorf("round trip of %q: %s != %s", src, exprTree(again), exprTree(e))
		}
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "abc", true},
		{"sel*", "selection", true},
		{"sel*", "se", false},
		{"*tion", "selection", true},
		{"s*l*n", "selection", true},
		{"s*x*n", "selection", false},
		{"selection", "selection", true},
		{"selection", "selection2", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*?", "a?", true},
		{"a*?", "ab", false}, // "?" is not a wildcard in identifier patterns
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.name); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}
