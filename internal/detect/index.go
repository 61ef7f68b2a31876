package detect

import (
	"slices"
	"sort"
	"strings"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
	"github.com/vigil-sec/vigil/internal/event"
)

// sourceIndex picks the candidate rules for events of one source by the
// event's lower-cased action.
type sourceIndex struct {
	exact      map[string][]int32 // action → rules that require exactly it
	prefixes   map[string][]int32 // action prefix → rules that require it
	prefixLens []int              // the distinct prefix lengths, ascending
	always     []int32            // rules that constrain no action
}

// actionPaths are the native fields that hold an event's action, per source.
var actionPaths = map[string][]string{
	event.SourceCloudTrail:    {"eventName"},
	event.SourceAzureActivity: {"operationName", "operationName.value"},
	event.SourceAzureAudit:    {"operationName"},
	event.SourceGCPAudit:      {"protoPayload.methodName"},
}

// actionSet is a necessary condition on an event's action: if a rule
// matches, its action equals one of exact or starts with one of prefixes.
// any means there is no such condition.
type actionSet struct {
	any      bool
	exact    []string
	prefixes []string
}

var anyAction = actionSet{any: true}

func (a actionSet) union(b actionSet) actionSet {
	if a.any || b.any {
		return anyAction
	}
	return actionSet{exact: append(slices.Clip(a.exact), b.exact...), prefixes: append(slices.Clip(a.prefixes), b.prefixes...)}
}

// necessary computes the action condition of a rule for one source.
func (r *Rule) necessary(src string) actionSet {
	return nodeActions(r.cond, r.sels, src)
}

func nodeActions(n node, sels []selection, src string) actionSet {
	switch n := n.(type) {
	case orNode:
		out := actionSet{}
		for _, x := range n {
			out = out.union(nodeActions(x, sels, src))
			if out.any {
				return out
			}
		}
		return out
	case andNode:
		for _, x := range n {
			if a := nodeActions(x, sels, src); !a.any {
				return a
			}
		}
		return anyAction
	case identNode:
		return selectionActions(sels[int(n)], src)
	case ofNode:
		if n.need == len(n.idents) {
			for _, id := range n.idents {
				if a := selectionActions(sels[id], src); !a.any {
					return a
				}
			}
			return anyAction
		}
		out := actionSet{}
		for _, id := range n.idents {
			out = out.union(selectionActions(sels[id], src))
			if out.any {
				return out
			}
		}
		return out
	}
	return anyAction // not, and anything else
}

func selectionActions(s selection, src string) actionSet {
	out := actionSet{}
	for _, branch := range s {
		b := anyAction
		for _, it := range branch {
			if a := it.actions(src); !a.any {
				b = a
				break
			}
		}
		out = out.union(b)
		if out.any {
			return out
		}
	}
	return out
}

// actions returns the condition an item places on the action, if it is an
// item on the action field of src with literal equality or prefix values.
func (it *item) actions(src string) actionSet {
	if it.keyword || it.neq || it.exists != 0 || it.hasNull || len(it.values) == 0 || !it.field.isAction(src) {
		return anyAction
	}
	values := it.values
	if it.all {
		values = values[:1] // each value is required, so one is enough
	}
	var out actionSet
	for _, m := range values {
		sm, ok := m.(*strMatcher)
		if !ok {
			return anyAction
		}
		exact, prefix, ok := sm.literalPrefix()
		if !ok {
			return anyAction
		}
		if exact {
			out.exact = append(out.exact, prefix)
		} else {
			out.prefixes = append(out.prefixes, prefix)
		}
	}
	return out
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
				ix = &sourceIndex{exact: map[string][]int32{}, prefixes: map[string][]int32{}}
				out[src] = ix
			}
			a := r.necessary(src)
			if a.any {
				ix.always = append(ix.always, r.num)
				continue
			}
			for _, x := range dedupe(a.exact) {
				ix.exact[x] = append(ix.exact[x], r.num)
			}
			for _, p := range dedupe(a.prefixes) {
				ix.prefixes[p] = append(ix.prefixes[p], r.num)
			}
		}
	}
	for _, ix := range out {
		lens := map[int]bool{}
		for p := range ix.prefixes {
			lens[len(p)] = true
		}
		for l := range lens {
			ix.prefixLens = append(ix.prefixLens, l)
		}
		sort.Ints(ix.prefixLens)
	}
	return out
}

func dedupe(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
