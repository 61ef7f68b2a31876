package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/detect/sigma"
)

// Bounds of correlation state that rules are checked against when they
// load.
const (
	// MaxWindowEvents is the most base matches one group of a correlation
	// holds in its window; older ones are dropped first. A count threshold
	// above it could never be reached and is refused.
	MaxWindowEvents = 10_000
	// MaxTimespan is the longest correlation timespan.
	MaxTimespan = 31 * 24 * time.Hour
	// MaxMatchEvents is how many base event IDs a correlation match lists.
	MaxMatchEvents = 100
)

// Correlation is a compiled Sigma correlation rule.
type Correlation struct {
	// Rule carries the metadata of the correlation (title, id, level, tags,
	// file, ...) for its matches; it has no detection of its own and is not
	// one of the engine's rules.
	Rule     *Rule
	Type     sigma.CorrelationType
	Timespan time.Duration
	GroupBy  []string // as written: field names or alias names
	Fields   []string // the aggregated field(s) of value_* types
	// Thresholds are linked with AND. Empty for temporal types without a
	// condition, which need every referenced rule.
	Thresholds []sigma.Threshold
	Generate   bool
	Inputs     []string // the referenced rules and correlations, as written

	num     int    // position in the set
	key     string // identity in checkpoints
	print   string // digest of what shapes the state, to check a checkpoint against
	early   bool   // the condition is checked as each event arrives
	feeds   []feed // correlations that consume this one's matches
	inputs  int
	entered bool // visited, during cycle detection
	quiet   bool // its matches only feed other correlations
}

// Emits reports whether the correlation's matches are results of their own
// rather than only building blocks of other correlations (see
// CorrelationSet.Emits).
func (c *Correlation) Emits() bool { return !c.quiet }

// Key identifies the correlation in checkpoints: its id, else its name,
// else its file and title.
func (c *Correlation) Key() string { return c.key }

// feed links a producer (a base rule or a correlation) to a correlation that
// consumes its matches, with where to read the group-by values and the
// aggregated values.
type feed struct {
	corr *Correlation
	src  int32 // position of the producer in corr's rules
	// Base rule producers read fields of the event.
	group []fieldRef
	value []fieldRef
	// Correlation producers read their group-by values, by position.
	groupIdx []int
	valueIdx []int
}

// CorrelationSet is the correlation graph of a rule set: the active
// correlations, the base rules that feed them, and which rules raise
// matches of their own.
type CorrelationSet struct {
	rules []*Rule // the engine's
	list  []*Correlation
	feeds [][]feed // by engine rule position
	quiet []bool   // by engine rule position
}

// Correlations returns the active correlations, in file and title order.
func (cs *CorrelationSet) Correlations() []*Correlation {
	if cs == nil {
		return nil
	}
	return cs.list
}

// Emits reports whether matches of r are results of their own. Following
// the Sigma correlation specification, a rule that correlations refer to
// is only a building block of them unless one of those correlations sets
// generate: true.
func (cs *CorrelationSet) Emits(r *Rule) bool {
	return cs == nil || int(r.num) >= len(cs.quiet) || !cs.quiet[r.num]
}

// Correlated reports whether r feeds a correlation.
func (cs *CorrelationSet) Correlated(r *Rule) bool {
	return cs != nil && int(r.num) < len(cs.feeds) && len(cs.feeds[r.num]) > 0
}

// producer is a rule or correlation that correlations can refer to.
type producer struct {
	rule *Rule
	corr *Correlation
	file string
	pc   *sigma.Correlation
}

func (n producer) name() string {
	if n.corr != nil {
		return "correlation " + quoteRef(n.corr.Rule)
	}
	return "rule " + quoteRef(n.rule)
}

func quoteRef(r *Rule) string {
	switch {
	case r.Name != "":
		return fmt.Sprintf("%q", r.Name)
	case r.ID != "":
		return r.ID
	}
	return fmt.Sprintf("%q", r.Title)
}

type parsedCorrelation struct {
	corr *sigma.Correlation
	file string
}

// linker resolves correlations against the loaded rules.
type linker struct {
	set    *Set
	cp     compiler
	byRef  map[string]producer
	bad    map[*Correlation]string // correlations that cannot run, and why
	failed map[*Correlation]bool
	all    []*Correlation
	nodes  map[*Correlation]producer
	// ruleFeeds are the feeds of base rules, before dropping those of
	// correlations that do not run.
	ruleFeeds map[*Rule][]feed
}

func (l *linker) fail(file string, pos sigma.Position, format string, args ...any) {
	l.set.Failed = append(l.set.Failed, Failure{File: file, Err: &sigma.Error{File: file, Line: pos.Line, Col: pos.Col, Msg: fmt.Sprintf(format, args...)}})
}

// linkCorrelations compiles the parsed correlations of a set whose rules
// are compiled already (byRef holds them, active or inactive, by id and
// name) and returns the graph over the active rules.
func linkCorrelations(set *Set, parsed []parsedCorrelation, byRef map[string]*Rule, active []*Rule, cp compiler) *CorrelationSet {
	cs := &CorrelationSet{rules: active, feeds: make([][]feed, len(active)), quiet: make([]bool, len(active))}
	if len(parsed) == 0 {
		return cs
	}
	l := &linker{set: set, cp: cp, byRef: map[string]producer{}, bad: map[*Correlation]string{}, failed: map[*Correlation]bool{},
		nodes: map[*Correlation]producer{}, ruleFeeds: map[*Rule][]feed{}}
	for ref, r := range byRef {
		l.byRef[ref] = producer{rule: r, file: r.File}
	}
	for _, pc := range parsed {
		c := newCorrelation(pc)
		n := producer{corr: c, file: pc.file, pc: pc.corr}
		dup := false
		for _, ref := range []struct {
			s   string
			pos sigma.Position
		}{{pc.corr.ID, pc.corr.IDPos}, {pc.corr.Name, pc.corr.NamePos}} {
			if ref.s == "" {
				continue
			}
			if prev, ok := l.byRef[ref.s]; ok {
				l.fail(pc.file, ref.pos, "duplicate rule id or name %s, also used by %s in %s", ref.s, prev.name(), prev.file)
				dup = true
			}
		}
		if dup {
			continue
		}
		for _, ref := range []string{pc.corr.ID, pc.corr.Name} {
			if ref != "" {
				l.byRef[ref] = n
			}
		}
		l.all = append(l.all, c)
		l.nodes[c] = n
	}
	for _, c := range l.all {
		l.checkRefs(c)
	}
	for _, c := range l.all {
		l.visit(c, nil)
	}
	for _, c := range l.all {
		l.resolve(c)
	}
	var live []*Correlation
	for _, c := range l.all {
		switch {
		case l.failed[c]:
		case l.blocked(c) != "":
			set.Inactive = append(set.Inactive, Inactive{Rule: *c.Rule, Reason: l.blocked(c)})
		default:
			live = append(live, c)
		}
	}
	sortCorrelations(live)
	for i, c := range live {
		c.num = i
	}
	l.wire(cs, live)
	cs.list = live
	return cs
}

func newCorrelation(pc parsedCorrelation) *Correlation {
	p := pc.corr
	meta := metaOf(&p.Metadata, pc.file)
	c := &Correlation{Rule: &meta, Type: p.Type, Timespan: p.Timespan, GroupBy: p.GroupBy, Generate: p.Generate}
	for _, r := range p.Rules {
		c.Inputs = append(c.Inputs, r.Ref)
	}
	c.inputs = len(c.Inputs)
	if p.Condition != nil {
		c.Fields = p.Condition.Field
		c.Thresholds = p.Condition.Thresholds
	}
	switch {
	case meta.ID != "":
		c.key = meta.ID
	case meta.Name != "":
		c.key = meta.Name
	default:
		c.key = pc.file + "\x00" + meta.Title
	}
	c.early = earlyCondition(c)
	return c
}

// earlyCondition reports whether the aggregate of c can only grow as base
// matches join a window and its condition is a lower bound, so that the
// condition can be checked as each match arrives. Every other condition is
// checked when the window closes.
func earlyCondition(c *Correlation) bool {
	switch c.Type {
	case sigma.CorrelationEventCount, sigma.CorrelationValueCount, sigma.CorrelationTemporal,
		sigma.CorrelationTemporalOrdered, sigma.CorrelationValueSum:
	default:
		return false
	}
	for _, th := range c.Thresholds {
		if th.Op != sigma.OpGT && th.Op != sigma.OpGTE {
			return false
		}
	}
	return true
}

// checkRefs checks that every reference of c resolves, and the limits that
// do not depend on what it refers to.
func (l *linker) checkRefs(c *Correlation) {
	n := l.nodes[c]
	p := n.pc
	for _, ref := range p.Rules {
		if _, ok := l.byRef[ref.Ref]; !ok {
			l.fail(n.file, ref.Pos, "correlation refers to rule %q, which is not loaded: no rule or correlation has this id or name", ref.Ref)
			l.failed[c] = true
		}
	}
	if c.Timespan > MaxTimespan {
		l.fail(n.file, p.SectionPos, "timespan %s is longer than %d days, the most Vigil keeps correlation state for", p.TimespanText, MaxTimespan/(24*time.Hour))
		l.failed[c] = true
	}
	if c.Type == sigma.CorrelationEventCount || c.Type == sigma.CorrelationValueCount {
		for _, th := range c.Thresholds {
			if (th.Op == sigma.OpGT && th.Value.Int >= MaxWindowEvents) || (th.Op == sigma.OpGTE && th.Value.Int > MaxWindowEvents) {
				l.fail(n.file, th.Pos, "condition %s %s can never hold: a group keeps at most %d events in its window", th.Op, th.Value.Text, MaxWindowEvents)
				l.failed[c] = true
			}
		}
	}
	if (c.Type == sigma.CorrelationTemporal || c.Type == sigma.CorrelationTemporalOrdered) && len(c.Inputs) < 2 && len(c.Thresholds) == 0 {
		l.fail(n.file, p.SectionPos, "%s correlation refers to one rule: it needs two or more, or use event_count", c.Type)
		l.failed[c] = true
	}
}

// visit finds cycles of correlations referring to each other, depth first.
func (l *linker) visit(c *Correlation, path []*Correlation) {
	if c.entered {
		return
	}
	path = append(path, c)
	n := l.nodes[c]
	for _, ref := range n.pc.Rules {
		next, ok := l.byRef[ref.Ref]
		if !ok || next.corr == nil {
			continue
		}
		if i := slices.Index(path, next.corr); i >= 0 {
			var names []string
			for _, x := range path[i:] {
				names = append(names, quoteRef(x.Rule))
			}
			names = append(names, quoteRef(next.corr.Rule))
			l.fail(n.file, ref.Pos, "correlations refer to each other in a cycle: %s", strings.Join(names, " -> "))
			for _, x := range path[i:] {
				l.failed[x] = true
			}
			continue
		}
		l.visit(next.corr, path)
	}
	c.entered = true
}

// blocked returns why c cannot run although it compiled: a rule or
// correlation it depends on is inactive or failed.
func (l *linker) blocked(c *Correlation) string {
	if r, ok := l.bad[c]; ok {
		return r
	}
	l.bad[c] = "" // a cycle would have failed c already
	reason := ""
	for _, ref := range c.Inputs {
		n := l.byRef[ref]
		switch {
		case n.rule != nil && n.rule.cond == nil:
			reason = fmt.Sprintf("it refers to rule %q, which is inactive", ref)
		case n.corr != nil && l.failed[n.corr]:
			reason = fmt.Sprintf("it refers to correlation %q, which failed to load", ref)
		case n.corr != nil && l.blocked(n.corr) != "":
			reason = fmt.Sprintf("it refers to correlation %q, which is inactive", ref)
		}
		if reason != "" {
			break
		}
	}
	l.bad[c] = reason
	return reason
}

// fieldFor returns the field a group-by or condition name stands for in
// matches of the producer referred to as ref: the alias's field for that
// producer, or the name itself.
func fieldFor(p *sigma.Correlation, name, ref string) (field string, alias *sigma.Alias, ok bool) {
	for i := range p.Aliases {
		a := &p.Aliases[i]
		if a.Name != name {
			continue
		}
		for _, f := range a.Fields {
			if f.Rule == ref {
				return f.Field, a, true
			}
		}
		return "", a, false
	}
	return name, nil, true
}

// resolve compiles the field reads of every producer of c into feeds.
func (l *linker) resolve(c *Correlation) {
	if l.failed[c] {
		return
	}
	n := l.nodes[c]
	p := n.pc
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%q\x00%q\x00%q", c.Type, c.Timespan, c.GroupBy, c.Fields, c.Inputs)
	for _, th := range c.Thresholds {
		fmt.Fprintf(h, "\x00%s%s", th.Op, th.Value.Text)
	}
	var sources []string
	for i, ref := range p.Rules {
		prod := l.byRef[ref.Ref]
		f := feed{corr: c, src: int32(i)}
		read := func(name string) (int, fieldRef, bool) {
			field, alias, ok := fieldFor(p, name, ref.Ref)
			if !ok {
				l.fail(n.file, alias.Pos, "alias %q gives no field for %q, which the correlation refers to: add \"%s: <field>\" under it", name, ref.Ref, ref.Ref)
				return 0, fieldRef{}, false
			}
			fmt.Fprintf(h, "\x00%s=%s", ref.Ref, field)
			if prod.corr != nil {
				idx := slices.Index(prod.corr.GroupBy, field)
				if idx < 0 {
					l.fail(n.file, ref.Pos, "correlation %q reads %q from the matches of correlation %q, which groups by %s only: a correlation match carries its group-by values and nothing else",
						quoteName(c.Rule), field, ref.Ref, strings.Join(prod.corr.GroupBy, ", "))
					return 0, fieldRef{}, false
				}
				return idx, fieldRef{}, true
			}
			if prod.rule.cond == nil {
				return 0, fieldRef{}, true // inactive: the correlation will be too
			}
			l.cp.file, l.cp.sources = n.file, prod.rule.Sources
			fr, err := l.cp.fieldRef(field, p.SectionPos)
			if err != nil {
				l.set.Failed = append(l.set.Failed, Failure{File: n.file, Err: err})
				return 0, fieldRef{}, false
			}
			return 0, fr, true
		}
		ok := true
		for _, name := range c.GroupBy {
			idx, fr, good := read(name)
			ok = ok && good
			f.groupIdx = append(f.groupIdx, idx)
			f.group = append(f.group, fr)
		}
		for _, name := range c.Fields {
			idx, fr, good := read(name)
			ok = ok && good
			f.valueIdx = append(f.valueIdx, idx)
			f.value = append(f.value, fr)
		}
		if !ok {
			l.failed[c] = true
			return
		}
		if prod.corr != nil {
			prod.corr.feeds = append(prod.corr.feeds, f)
			sources = append(sources, prod.corr.Rule.Sources...)
		} else {
			sources = append(sources, prod.rule.Sources...)
			l.ruleFeeds[prod.rule] = append(l.ruleFeeds[prod.rule], f)
		}
	}
	slices.Sort(sources)
	c.Rule.Sources = slices.Compact(sources)
	c.print = hex.EncodeToString(h.Sum(nil)[:12])
}

func quoteName(r *Rule) string {
	if r.Name != "" {
		return r.Name
	}
	return r.Title
}

// wire keeps the feeds into correlations that run, and applies the
// generate semantics: a rule or correlation that running correlations refer
// to raises matches of its own only if one of them sets generate.
func (l *linker) wire(cs *CorrelationSet, live []*Correlation) {
	running := map[*Correlation]bool{}
	for _, c := range live {
		running[c] = true
	}
	keep := func(fs []feed) []feed {
		var out []feed
		for _, f := range fs {
			if running[f.corr] {
				out = append(out, f)
			}
		}
		return out
	}
	for r, fs := range l.ruleFeeds {
		if r.cond != nil {
			cs.feeds[r.num] = keep(fs)
		}
	}
	for _, c := range live {
		c.feeds = keep(c.feeds)
	}
	referenced := map[producer]bool{}
	generated := map[producer]bool{}
	for _, c := range live {
		for _, ref := range c.Inputs {
			n := l.byRef[ref]
			n.pc, n.file = nil, ""
			referenced[n] = true
			if c.Generate {
				generated[n] = true
			}
		}
	}
	for n := range referenced {
		if generated[n] {
			continue
		}
		if n.rule != nil {
			cs.quiet[n.rule.num] = true
		} else {
			n.corr.quiet = true
		}
	}
}

// sortCorrelations orders correlations by file and title.
func sortCorrelations(list []*Correlation) {
	slices.SortStableFunc(list, func(a, b *Correlation) int {
		if c := strings.Compare(a.Rule.File, b.Rule.File); c != 0 {
			return c
		}
		return strings.Compare(a.Rule.Title, b.Rule.Title)
	})
}
