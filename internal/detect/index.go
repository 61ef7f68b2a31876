package detect

import (
	"slices"
	"sort"
	"strings"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
	"github.com/vigil-sec/vigil/internal/event"
)

// The index picks the candidate rules for an event. From each rule's
// condition it derives a necessary condition on one discriminating field:
// the event's action (eventName, operationName, methodName or vigil.action)
// when the rule constrains it, otherwise another field that the rule
// requires to equal, start with, or merely have a value. A rule is
// evaluated only for events that meet its necessary condition; rules with
// none are evaluated for every event of their sources.

// keyIndex maps lower-cased values and value prefixes of one field to rules.
type keyIndex struct {
	exact      map[string][]int32
	prefixes   map[string][]int32
	prefixLens []int // the distinct prefix lengths, ascending
}

func newKeyIndex() keyIndex {
	return keyIndex{exact: map[string][]int32{}, prefixes: map[string][]int32{}}
}

func (k *keyIndex) empty() bool { return len(k.exact) == 0 && len(k.prefixes) == 0 }

// lookup calls try with the rules indexed under the lower-cased value.
func (k *keyIndex) lookup(value []byte, try func([]int32)) {
	if list, ok := k.exact[string(value)]; ok {
		try(list)
	}
	for _, l := range k.prefixLens {
		if l > len(value) {
			break
		}
		if list, ok := k.prefixes[string(value[:l])]; ok {
			try(list)
		}
	}
}

func (k *keyIndex) finish() {
	lens := map[int]bool{}
	for p := range k.prefixes {
		lens[len(p)] = true
	}
	for l := range lens {
		k.prefixLens = append(k.prefixLens, l)
	}
	sort.Ints(k.prefixLens)
}

// fieldIndex indexes rules by a native field other than the action.
type fieldIndex struct {
	field  *fieldRef
	keys   keyIndex
	exists []int32 // rules that only require the field to have a value
}

// sourceIndex holds the index of the rules of one event source.
type sourceIndex struct {
	action keyIndex
	fields []*fieldIndex
	always []int32 // rules with no necessary condition
}

// actionPaths are the native fields that hold an event's action, per source.
var actionPaths = map[string][]string{
	event.SourceCloudTrail:    {"eventName"},
	event.SourceAzureActivity: {"operationName", "operationName.value"},
	event.SourceAzureAudit:    {"operationName"},
	event.SourceGCPAudit:      {"protoPayload.methodName"},
}

// alt is one way a rule can be a candidate: its field (nil for the action)
// has one of the exact values, starts with one of the prefixes, or, with
// exists, has any value.
type alt struct {
	field    *fieldRef
	exists   bool
	exact    []string
	prefixes []string
}

// rank orders alternatives by selectivity and cost: the action is free to
// read, an exact value is more selective than a prefix, and existence is
// the weakest.
func (a alt) rank() int {
	switch {
	case a.field == nil:
		return 0
	case a.exists:
		return 3
	case len(a.prefixes) > 0:
		return 2
	}
	return 1
}

// necessity is a necessary condition: the rule can match only if one of
// alts holds. A nil necessity means there is none.
type necessity []alt

func (n necessity) rank() int {
	worst := 0
	for _, a := range n {
		worst = max(worst, a.rank())
	}
	return worst*1000 + len(n)
}

// better picks the more useful of two necessary conditions of an AND.
func better(a, b necessity) necessity {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.rank() < a.rank():
		return b
	}
	return a
}

// union is the necessary condition of an OR: one of either.
func union(a, b necessity) necessity {
	if a == nil || b == nil {
		return nil
	}
	return append(slices.Clip(a), b...)
}

func nodeNecessity(n node, sels []selection, src string) necessity {
	switch n := n.(type) {
	case orNode:
		return unionOf(len(n), func(i int) necessity { return nodeNecessity(n[i], sels, src) })
	case andNode:
		var out necessity
		for _, x := range n {
			out = better(out, nodeNecessity(x, sels, src))
		}
		return out
	case identNode:
		return selectionNecessity(sels[int(n)], src)
	case ofNode:
		if n.need == len(n.idents) {
			var out necessity
			for _, id := range n.idents {
				out = better(out, selectionNecessity(sels[id], src))
			}
			return out
		}
		return unionOf(len(n.idents), func(i int) necessity { return selectionNecessity(sels[n.idents[i]], src) })
	}
	return nil // not, and anything else
}

// unionOf is the necessary condition of any one of n alternatives: none
// when one of them has none.
func unionOf(n int, alt func(i int) necessity) necessity {
	var out necessity
	for i := 0; i < n; i++ {
		c := alt(i)
		if c == nil {
			return nil
		}
		if i == 0 {
			out = c
		} else {
			out = union(out, c)
		}
	}
	return out
}

func selectionNecessity(s selection, src string) necessity {
	return unionOf(len(s), func(i int) necessity {
		var b necessity
		for _, it := range s[i] {
			b = better(b, it.necessity(src))
		}
		return b
	})
}

// necessity returns the condition an item places on its field, if it is
// an existence test, or literal equality or prefix values on a native field
// or the action.
func (it *item) necessity(src string) necessity {
	if it.keyword || it.neq || it.hasNull || it.field.resources || (it.field.envelope != nil && !it.field.action) {
		return nil
	}
	var field *fieldRef
	if !it.field.isAction(src) {
		field = &it.field
	}
	if it.exists != 0 {
		if it.exists < 0 || field == nil {
			return nil
		}
		return necessity{{field: field, exists: true}}
	}
	if len(it.values) == 0 {
		return nil
	}
	values := it.values
	if it.all {
		values = values[:1] // each value is required, so one is enough
	}
	a := alt{field: field}
	for _, m := range values {
		sm, ok := m.(*strMatcher)
		if !ok {
			return nil
		}
		exact, text, ok := sm.literalPrefix()
		if !ok {
			return nil
		}
		if exact {
			a.exact = append(a.exact, text)
		} else {
			a.prefixes = append(a.prefixes, text)
		}
	}
	return necessity{a}
}

func (f *fieldRef) isAction(src string) bool {
	if f.action {
		return true
	}
	if len(f.paths) == 0 {
		return false
	}
	ap := actionPaths[src]
	for _, p := range f.paths {
		if !slices.Contains(ap, p) {
			return false
		}
	}
	return true
}

// literalPrefix returns the lower-cased text every matching value equals
// (exact) or starts with.
func (m *strMatcher) literalPrefix() (exact bool, text string, ok bool) {
	if m.glob == nil {
		if !m.lit.ascii {
			return false, "", false
		}
		lit := m.lit.lower
		switch m.kind {
		case sigma.MatchEquals:
			return true, lit, true
		case sigma.MatchStartsWith:
			return false, lit, lit != ""
		}
		return false, "", false
	}
	if len(m.glob.parts) == 0 || m.glob.parts[0].star {
		return false, "", false
	}
	p := m.glob.parts[0]
	n := 0
	for n < len(p.lit) && !p.q[n] {
		n++
	}
	text = strings.ToLower(p.lit[:n])
	return false, text, text != "" && isASCII(text)
}

// buildIndexes indexes every rule for every source it reads.
func buildIndexes(rules []*Rule) map[string]*sourceIndex {
	out := map[string]*sourceIndex{}
	for _, r := range rules {
		for _, src := range r.Sources {
			ix := out[src]
			if ix == nil {
				ix = &sourceIndex{action: newKeyIndex()}
				out[src] = ix
			}
			nec := nodeNecessity(r.cond, r.sels, src)
			if nec == nil {
				ix.always = append(ix.always, r.num)
				continue
			}
			for _, a := range nec {
				keys := &ix.action
				var fi *fieldIndex
				if a.field != nil {
					fi = ix.fieldIndex(a.field)
					keys = &fi.keys
				}
				if a.exists {
					fi.exists = appendOnce(fi.exists, r.num)
					continue
				}
				for _, x := range a.exact {
					keys.exact[x] = appendOnce(keys.exact[x], r.num)
				}
				for _, p := range a.prefixes {
					keys.prefixes[p] = appendOnce(keys.prefixes[p], r.num)
				}
			}
		}
	}
	for _, ix := range out {
		ix.action.finish()
		for _, fi := range ix.fields {
			fi.keys.finish()
		}
	}
	return out
}

// fieldIndex returns the index of a field, creating it.
func (ix *sourceIndex) fieldIndex(f *fieldRef) *fieldIndex {
	for _, fi := range ix.fields {
		if fi.field.id == f.id {
			return fi
		}
	}
	fi := &fieldIndex{field: f, keys: newKeyIndex()}
	ix.fields = append(ix.fields, fi)
	return fi
}

func appendOnce(list []int32, n int32) []int32 {
	if len(list) > 0 && list[len(list)-1] == n {
		return list
	}
	return append(list, n)
}
