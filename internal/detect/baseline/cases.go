package baseline

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// A file of test cases (*.tests.baseline) generates event sequences with
// times and says which matches the rules of the file beside it must give:
//
//	geo:                       # optional: what asn and country say
//	  - {cidr: 198.51.100.0/24, asn: 64500, country: US}
//	cases:
//	  - name: a week of steady calls, then a burst
//	    streams:               # merged in time order
//	      - start: 2024-05-06T00:00:00Z
//	        duration: 8d
//	        per_minute: 3      # may be a fraction: 0.25 is one every 4 minutes
//	        jitter: 0.5        # optional: each minute varies by up to ±50%
//	        hours: [9, 17]     # optional: only from 09:00 to 17:00 UTC
//	        days: [mon, tue, wed, thu, fri]   # optional
//	        event: {source: aws.cloudtrail, principal: arn:aws:iam::111122223333:user/alice, raw: {...}}
//	        cycle: {action: [GetObject, PutObject]}   # optional: values in turn
//	    want:                  # exactly these matches, in any order
//	      - time: 2024-05-14T10:00:00Z
//	        key: {principal: arn:aws:iam::111122223333:user/alice}
//	        rule: <id>         # optional when the file has one rule
//
// Generation is deterministic: the jitter comes from a generator seeded
// with the case name.

// Suite is a file of test cases.
type Suite struct {
	File  string
	Geo   []GeoNet
	Cases []Case
}

// GeoNet is what asn and country say for the addresses of one network.
type GeoNet struct {
	Prefix  netip.Prefix
	ASN     string
	Country string
}

// Case is one test case.
type Case struct {
	Name    string
	Line    int
	Streams []Stream
	Want    []Want
}

// Stream generates events at a steady rate.
type Stream struct {
	Start     time.Time
	Duration  time.Duration
	PerMinute float64
	Jitter    float64
	Hours     [2]int // [from, to) in UTC; 0, 24 is all day
	Days      []time.Weekday
	Event     event.Event
	raw       []byte
	Cycle     []CycleField
}

// CycleField gives a field values taken in turn.
type CycleField struct {
	Field  string
	Values []string
}

// Want is one match a case expects.
type Want struct {
	Rule string // rule ID; "" for any
	Time time.Time
	Key  map[string]string
}

// Bounds of test cases.
const (
	maxCaseEvents = 2_000_000
	maxCases      = 256
)

var streamEventFields = []string{"cloud", "source", "account", "region", "service", "action", "outcome",
	"error_code", "principal", "principal_type", "source_ip", "user_agent", "function", "raw"}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseSuite reads a file of test cases. Problems are a sigma.ErrorList
// with their line and column.
func ParseSuite(file string, data []byte) (*Suite, error) {
	p := &yparser{file: file}
	s := &Suite{File: file}
	docs := p.documents(data)
	if len(p.errs) == 0 && len(docs) != 1 {
		p.errorAt(1, 1, "a test file holds one YAML document with cases, got %d", len(docs))
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	if len(docs[0].Content) != 1 {
		p.errorf(docs[0], "empty document: a test file is a mapping with cases")
		return nil, p.errs
	}
	root := docs[0].Content[0]
	for _, kv := range p.pairs(root, "a test file", "geo", "cases") {
		switch kv.key.Value {
		case "geo":
			s.Geo = p.geoNets(kv.val)
		case "cases":
			if kv.val.Kind != yaml.SequenceNode || len(kv.val.Content) == 0 || len(kv.val.Content) > maxCases {
				p.errorf(kv.val, "cases must be a list of 1 to %d cases", maxCases)
				continue
			}
			for _, c := range kv.val.Content {
				s.Cases = append(s.Cases, p.testCase(c))
			}
		}
	}
	if len(s.Cases) == 0 && len(p.errs) == 0 {
		p.errorf(root, "missing cases")
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return s, nil
}

func (p *yparser) geoNets(n *yaml.Node) []GeoNet {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "geo must be a list of networks")
		return nil
	}
	var out []GeoNet
	for _, item := range n.Content {
		var g GeoNet
		for _, kv := range p.pairs(item, "a geo network", "cidr", "asn", "country") {
			switch kv.key.Value {
			case "cidr":
				if s, ok := p.str(kv.val, "cidr"); ok {
					pfx, err := netip.ParsePrefix(s)
					if err != nil {
						p.errorf(kv.val, "cidr %q is not a network such as 198.51.100.0/24", s)
					}
					g.Prefix = pfx.Masked()
				}
			case "asn":
				if v, ok := p.integer(kv.val, "asn", 1, math.MaxUint32); ok {
					g.ASN = fmt.Sprintf("AS%d", v)
				}
			case "country":
				g.Country, _ = p.str(kv.val, "country")
			}
		}
		out = append(out, g)
	}
	return out
}

func (p *yparser) testCase(n *yaml.Node) Case {
	c := Case{Line: n.Line}
	var hasStreams bool
	for _, kv := range p.pairs(n, "a test case", "name", "streams", "want") {
		switch kv.key.Value {
		case "name":
			c.Name, _ = p.str(kv.val, "name")
		case "streams":
			hasStreams = true
			if kv.val.Kind != yaml.SequenceNode || len(kv.val.Content) == 0 {
				p.errorf(kv.val, "streams must be a list of event streams")
				continue
			}
			for _, s := range kv.val.Content {
				c.Streams = append(c.Streams, p.stream(s))
			}
		case "want":
			if kv.val.Kind != yaml.SequenceNode {
				p.errorf(kv.val, "want must be a list of matches ([] for none)")
				continue
			}
			for _, w := range kv.val.Content {
				c.Want = append(c.Want, p.want(w))
			}
		}
	}
	if c.Name == "" {
		p.errorf(n, "a test case needs a name")
	}
	if !hasStreams {
		p.errorf(n, "a test case needs streams")
	}
	var total float64
	for _, s := range c.Streams {
		share := float64(s.Hours[1]-s.Hours[0]) / 24
		if len(s.Days) > 0 {
			share *= min(1, float64(len(s.Days))/7)
		}
		total += s.PerMinute * (1 + s.Jitter) * s.Duration.Minutes() * share
	}
	if total > maxCaseEvents {
		p.errorf(n, "case %q would generate about %.0f events, more than %d", c.Name, total, maxCaseEvents)
	}
	return c
}

func (p *yparser) stream(n *yaml.Node) Stream {
	s := Stream{Hours: [2]int{0, 24}}
	required := map[string]bool{"start": true, "duration": true, "per_minute": true, "event": true}
	for _, kv := range p.pairs(n, "a stream", "start", "duration", "per_minute", "jitter", "hours", "days", "event", "cycle") {
		delete(required, kv.key.Value)
		switch kv.key.Value {
		case "start":
			s.Start = p.timestamp(kv.val, "start")
		case "duration":
			s.Duration, _ = p.duration(kv.val, "duration", time.Minute, 366*24*time.Hour)
		case "per_minute":
			s.PerMinute, _ = p.number(kv.val, "per_minute", 0, 1e6)
		case "jitter":
			s.Jitter, _ = p.number(kv.val, "jitter", 0, 1)
		case "hours":
			if kv.val.Kind != yaml.SequenceNode || len(kv.val.Content) != 2 {
				p.errorf(kv.val, "hours must be [from, to], UTC hours from 0 to 24")
				continue
			}
			from, ok1 := p.integer(kv.val.Content[0], "hours from", 0, 23)
			to, ok2 := p.integer(kv.val.Content[1], "hours to", 1, 24)
			if ok1 && ok2 && from >= to {
				p.errorf(kv.val, "hours [%d, %d] is empty", from, to)
			}
			s.Hours = [2]int{int(from), int(to)}
		case "days":
			names, _ := p.strList(kv.val, "days")
			for _, d := range names {
				wd, ok := weekdays[strings.ToLower(d)]
				if !ok {
					p.errorf(kv.val, "day %q is not one of mon, tue, wed, thu, fri, sat, sun", d)
				}
				s.Days = append(s.Days, wd)
			}
		case "event":
			p.streamEvent(kv.val, &s)
		case "cycle":
			for _, c := range p.pairs(kv.val, "cycle", streamEventFields[:len(streamEventFields)-1]...) {
				vals, _ := p.strList(c.val, "cycle "+c.key.Value)
				if len(vals) == 0 {
					p.errorf(c.val, "cycle %s lists no values", c.key.Value)
				}
				s.Cycle = append(s.Cycle, CycleField{Field: c.key.Value, Values: vals})
			}
		}
	}
	for k := range required {
		p.errorf(n, "a stream needs %s", k)
	}
	return s
}

func (p *yparser) timestamp(n *yaml.Node, what string) time.Time {
	s, ok := p.text(n, what)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		p.errorf(n, "%s %q is not a time such as 2024-05-06T00:00:00Z", what, s)
	}
	return t.UTC()
}

func (p *yparser) streamEvent(n *yaml.Node, s *Stream) {
	for _, kv := range p.pairs(n, "event", streamEventFields...) {
		if kv.key.Value == "raw" {
			if kv.val.Kind != yaml.MappingNode {
				p.errorf(kv.val, "raw must be a mapping: the native record")
				continue
			}
			data, err := json.Marshal(plainValue(kv.val))
			if err != nil {
				p.errorf(kv.val, "raw cannot be written as JSON: %v", err)
				continue
			}
			s.raw = data
			continue
		}
		v, ok := p.text(kv.val, kv.key.Value)
		if ok && !setField(&s.Event, kv.key.Value, v) {
			p.errorf(kv.val, "outcome must be success, failure or unknown")
		}
	}
}

// plainValue turns a YAML node into values encoding/json writes.
func plainValue(n *yaml.Node) any {
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = plainValue(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = plainValue(c)
		}
		return out
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return n.Value
	}
	if _, ok := v.(time.Time); ok {
		return n.Value
	}
	return v
}

// setField sets an envelope field of ev by name; false for a bad outcome.
func setField(ev *event.Event, name, v string) bool {
	switch name {
	case "cloud":
		ev.Cloud = v
	case "source":
		ev.Source = v
	case "account":
		ev.Account = v
	case "region":
		ev.Region = v
	case "service":
		ev.Service = v
	case "action":
		ev.Action = v
	case "outcome":
		switch v {
		case "success":
			ev.Outcome = event.Success
		case "failure":
			ev.Outcome = event.Failure
		case "unknown":
			ev.Outcome = event.Unknown
		default:
			return false
		}
	case "error_code":
		ev.ErrorCode = v
	case "principal":
		ev.Principal = v
	case "principal_type":
		ev.PrincipalType = v
	case "source_ip":
		ev.SourceIP = v
	case "user_agent":
		ev.UserAgent = v
	case "function":
		ev.Function = v
	}
	return true
}

func (p *yparser) want(n *yaml.Node) Want {
	w := Want{Key: map[string]string{}}
	for _, kv := range p.pairs(n, "a wanted match", "time", "key", "rule") {
		switch kv.key.Value {
		case "time":
			w.Time = p.timestamp(kv.val, "time")
		case "rule":
			w.Rule, _ = p.str(kv.val, "rule")
		case "key":
			for _, f := range p.pairs(kv.val, "key") {
				w.Key[f.key.Value], _ = p.text(f.val, f.key.Value)
			}
		}
	}
	return w
}

// Events generates the case's events in time order, at most
// 2,000,000.
func (c *Case) Events() []*event.Event {
	type gen struct {
		ev     *event.Event
		stream int
		seq    int
	}
	var all []gen
	for si := range c.Streams {
		s := &c.Streams[si]
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%d", c.Name, si)
		rng := rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
		var raw jsondoc.Value
		if s.raw != nil {
			d := new(jsondoc.Doc)
			if err := d.Parse(s.raw); err == nil {
				raw = d.Root()
			}
		}
		acc, seq := 0.0, 0
		for m := s.Start.Truncate(time.Minute); m.Before(s.Start.Add(s.Duration)); m = m.Add(time.Minute) {
			if m.Hour() < s.Hours[0] || m.Hour() >= s.Hours[1] || (len(s.Days) > 0 && !slices.Contains(s.Days, m.Weekday())) {
				continue
			}
			rate := s.PerMinute
			if s.Jitter > 0 {
				rate *= 1 + s.Jitter*(2*rng.Float64()-1)
			}
			acc += rate
			k := int(acc)
			acc -= float64(k)
			for i := 0; i < k && len(all) < maxCaseEvents; i++ {
				ev := s.Event
				ev.Time = m.Add(time.Duration(i) * time.Minute / time.Duration(k))
				ev.ID = fmt.Sprintf("%s/%d/%d", c.Name, si, seq)
				ev.Raw = raw
				for _, cf := range s.Cycle {
					setField(&ev, cf.Field, cf.Values[seq%len(cf.Values)])
				}
				all = append(all, gen{&ev, si, seq})
				seq++
			}
		}
	}
	slices.SortStableFunc(all, func(a, b gen) int {
		if c := a.ev.Time.Compare(b.ev.Time); c != 0 {
			return c
		}
		if c := cmp.Compare(a.stream, b.stream); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([]*event.Event, len(all))
	for i, g := range all {
		out[i] = g.ev
	}
	return out
}

// geo returns the lookups a suite's geo list defines.
func (s *Suite) geo() Geo {
	find := func(ip netip.Addr) *GeoNet {
		for i := range s.Geo {
			if s.Geo[i].Prefix.Contains(ip.Unmap()) {
				return &s.Geo[i]
			}
		}
		return nil
	}
	return Geo{
		ASN: func(ip netip.Addr) (string, bool) {
			if g := find(ip); g != nil && g.ASN != "" {
				return g.ASN, true
			}
			return "", false
		},
		Country: func(ip netip.Addr) (string, bool) {
			if g := find(ip); g != nil && g.Country != "" {
				return g.Country, true
			}
			return "", false
		},
	}
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Case       string
	Line       int
	Got        []Match
	Missing    []Want  // wanted and not matched
	Unexpected []Match // matched and not wanted
	Err        error
}

// Pass reports whether the case gave exactly the wanted matches.
func (r *CaseResult) Pass() bool {
	return r.Err == nil && len(r.Missing) == 0 && len(r.Unexpected) == 0
}

// Describe says what went wrong, in one line.
func (r *CaseResult) Describe() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	var parts []string
	for _, w := range r.Missing {
		parts = append(parts, fmt.Sprintf("missing match at %s for %v", w.Time.Format(time.RFC3339), w.Key))
	}
	for _, m := range r.Unexpected {
		parts = append(parts, fmt.Sprintf("unexpected match of %s at %s for %v (observed %g, expected %g, z %.1f)",
			m.Rule.ID, m.Time.Format(time.RFC3339), m.Key, m.Observed, m.Expected, m.ZScore))
	}
	if len(parts) == 0 {
		return "pass"
	}
	return strings.Join(parts, "; ")
}

// RunSuite runs every case of s against rules. When the suite lists geo
// networks, they replace opts.Geo.
func RunSuite(rules []*Rule, s *Suite, opts Options) []CaseResult {
	if len(s.Geo) > 0 {
		opts.Geo = s.geo()
	}
	var out []CaseResult
	for i := range s.Cases {
		c := &s.Cases[i]
		res := CaseResult{Case: c.Name, Line: c.Line}
		e, err := New(rules, opts)
		if err != nil {
			res.Err = err
			out = append(out, res)
			continue
		}
		emit := func(m Match) { res.Got = append(res.Got, m) }
		for _, ev := range c.Events() {
			e.Observe(ev, emit)
		}
		e.Flush(emit)
		res.Missing, res.Unexpected = compareMatches(c.Want, res.Got)
		out = append(out, res)
	}
	return out
}

func compareMatches(want []Want, got []Match) (missing []Want, unexpected []Match) {
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, m := range got {
			if !used[i] && wantMatches(w, m) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	for i, m := range got {
		if !used[i] {
			unexpected = append(unexpected, m)
		}
	}
	return missing, unexpected
}

func wantMatches(w Want, m Match) bool {
	if (w.Rule != "" && w.Rule != m.Rule.ID) || !w.Time.Equal(m.Time) || len(w.Key) != len(m.Key) {
		return false
	}
	for _, kv := range m.Key {
		if v, ok := w.Key[kv.Field]; !ok || v != kv.Value {
			return false
		}
	}
	return true
}
