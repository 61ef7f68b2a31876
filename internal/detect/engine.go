// Package detect evaluates Sigma rules against normalized events.
//
// Rules are compiled once into matcher trees and indexed by the literal
// values their conditions require of each event's action (eventName,
// operationName, methodName): for each event only the rules that can match
// its action, plus the few rules that constrain no action, are evaluated.
// Fields are read lazily from the parsed native record, so an event costs
// only the fields its candidate rules look at.
package detect

import (
	"sort"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
	"github.com/vigil-sec/vigil/internal/event"
)

// Rule is a compiled, active rule with the metadata that travels with each
// of its matches.
type Rule struct {
	ID             string
	Name           string
	Title          string
	Description    string
	Level          string
	Status         string
	Tags           []string
	References     []string
	FalsePositives []string
	File           string
	Sources        []string // event sources the rule reads

	num  int32 // position in the engine
	cond node
	sels []selection
}

// Options configure compilation.
type Options struct {
	// FieldMapping maps rule field names to native paths per source; nil
	// means DefaultFieldMapping.
	FieldMapping FieldMapping
	// Placeholders give the values of %name% placeholders for |expand.
	Placeholders map[string][]string
	// Sources are the event sources that are enabled; nil means all. A rule
	// that reads none of them is inactive.
	Sources []string
}

// Engine holds compiled rules and their index. It is safe for concurrent
// use; each goroutine needs its own Scratch.
type Engine struct {
	rules   []*Rule
	indexes map[string]*sourceIndex
	fields  int // distinct native fields the rules read
}

// Rules returns the active rules, sorted by file then title.
func (e *Engine) Rules() []*Rule { return e.rules }

// Scratch is per-goroutine working memory for Match.
type Scratch struct {
	stamps []uint32    // the event generation each rule was last tried for
	fields []fieldSlot // field values of the current event
	arena  []byte      // lower-cased field values of the current event
	memo   map[memoKey]bool
	gen    uint32
	seq    uint64 // the events matched so far, which tells an Observer the event it saw last
	lower  [256]byte
	ctx    evalCtx
}

// NewScratch returns working memory for one goroutine.
func (e *Engine) NewScratch() *Scratch {
	s := &Scratch{stamps: make([]uint32, len(e.rules)), fields: make([]fieldSlot, e.fields), memo: map[memoKey]bool{}}
	s.ctx.s = s
	return s
}

// evalCtx is the state of evaluating one rule against one event: the
// results of selections already evaluated.
type evalCtx struct {
	s     *Scratch
	ev    *event.Event
	sels  []selection
	done  []bool
	value []bool
}

func (c *evalCtx) reset(ev *event.Event, r *Rule) {
	c.ev = ev
	c.sels = r.sels
	n := len(r.sels)
	if cap(c.done) < n {
		c.done = make([]bool, n)
		c.value = make([]bool, n)
	}
	c.done = c.done[:n]
	c.value = c.value[:n]
	clear(c.done)
}

func (c *evalCtx) selection(i int) bool {
	if !c.done[i] {
		c.done[i] = true
		c.value[i] = c.sels[i].eval(c)
	}
	return c.value[i]
}

// Match calls fn for every rule that matches ev: first the rules indexed
// by the event's action, then by other fields, then the rules with no
// necessary condition.
func (e *Engine) Match(ev *event.Event, s *Scratch, fn func(*Rule)) {
	ix := e.indexes[ev.Source]
	if ix == nil {
		return
	}
	s.gen++
	s.seq++
	if cap(s.arena) > 1<<20 {
		s.arena = nil // one huge event does not pin memory for good
	}
	s.arena = s.arena[:0]
	if s.gen == 0 { // wrapped: clear the stamps once every 4 billion events
		clear(s.stamps)
		for i := range s.fields {
			s.fields[i].gen = 0
		}
		s.gen = 1
	}
	try := func(list []int32) {
		for _, n := range list {
			if s.stamps[n] == s.gen {
				continue
			}
			s.stamps[n] = s.gen
			r := e.rules[n]
			s.ctx.reset(ev, r)
			if r.cond.eval(&s.ctx) {
				fn(r)
			}
		}
	}
	if !ix.action.empty() {
		ix.action.lookup(lowerInto(s.lower[:0], ev.Action), try)
	}
	for _, fi := range ix.fields {
		slot := s.field(fi.field, ev)
		if !slot.present {
			continue
		}
		try(fi.exists)
		if fi.keys.empty() {
			continue
		}
		for _, v := range slot.vals {
			fi.keys.lookup([]byte(v.low), try)
		}
	}
	try(ix.always)
}

// lowerInto appends the ASCII-lower-cased s to dst.
func lowerInto(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = append(dst, lowerASCII(s[i]))
	}
	return dst
}

// sortRules orders rules by file and title so output is stable.
func sortRules(rules []*Rule) {
	sort.SliceStable(rules, func(i, j int) bool {
		if rules[i].File != rules[j].File {
			return rules[i].File < rules[j].File
		}
		return rules[i].Title < rules[j].Title
	})
}

// metaOf copies the metadata that travels with matches.
func metaOf(m *sigma.Metadata, file string) Rule {
	return Rule{
		ID: m.ID, Name: m.Name, Title: m.Title, Description: m.Description,
		Level: string(m.Level), Status: string(m.Status), Tags: m.Tags,
		References: m.References, FalsePositives: m.FalsePositives, File: file,
	}
}

// Levels in ascending order of severity.
var levels = []string{"informational", "low", "medium", "high", "critical"}

// LevelRank returns the position of a Sigma level in ascending severity
// order, or -1 for an unknown level.
func LevelRank(level string) int {
	for i, l := range levels {
		if l == level {
			return i
		}
	}
	return -1
}

// Levels lists the Sigma levels in ascending order of severity.
func Levels() []string { return append([]string(nil), levels...) }
