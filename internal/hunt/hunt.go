// Package hunt runs detection rules over log inputs offline: each worker
// takes the next input, decodes it and evaluates every event as it is
// decoded, and matches come out in input order whatever the number of
// workers.
//
// Correlation rules are evaluated too. The base matches they need are
// collected in input order and handed to one detect.Correlator, which by
// default holds them all until the end and processes them in event-time
// order (Lateness Unbounded), so the correlation matches do not depend on
// the order of the inputs or the number of workers, and are those that
// vigil serve finds when the events reach it within its lateness. They come
// out after the single-event matches.
//
// Baseline rules (rate spikes and first-seen behaviour) see every event.
// Each worker reads its events for them (baseline.Extractor), and one
// baseline.Evaluator, made with Lateness baseline.Unbounded, counts what
// they read in input order (the worker on the earliest unfinished input
// counts its own batches, the others queue theirs) and closes every
// bucket at the end, in event time, so its matches do not depend on the
// order of the inputs either. They come out last.
package hunt

import (
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/source"
)

// Match is one rule matching one event, or one correlation match.
type Match struct {
	// Rule is the rule that matched; for a correlation match it carries the
	// correlation's metadata.
	Rule *detect.Rule
	// Event is the event, for a single-event match.
	Event *event.Event
	// Correlation is set for a correlation match, which has no Event,
	// Input or Record.
	Correlation *detect.CorrelationMatch
	// Baseline is set for a baseline match, which has no Event, Input or
	// Record; Rule then carries the baseline rule's metadata.
	Baseline *baseline.Match
	Input    string // the input's name
	Record   int    // the event's position in its input, from 1

	obs *detect.Observation // internal: a base match for the correlator
}

// Options control a hunt.
type Options struct {
	Reader  *decode.Reader
	Engine  *detect.Engine
	Workers int // 0 means one per CPU
	// Correlations are the correlations over Engine's rules (from the same
	// detect.Set); nil evaluates none, and every rule reports its matches.
	Correlations *detect.CorrelationSet
	// Correlator configures the correlator; a zero Lateness means
	// detect.Unbounded.
	Correlator detect.CorrelatorOptions
	// Baselines evaluates baseline rules over every event; nil evaluates
	// none. Make it with Lateness baseline.Unbounded so that the matches
	// do not depend on the order of the events. Run flushes it at the end.
	Baselines *baseline.Evaluator
	// Keep decides which matches are reported, e.g. by level; nil keeps
	// all. For correlation matches it receives the correlation's Rule.
	Keep func(*detect.Rule) bool
	// OnProgress, if set, is called with the bytes read so far as the
	// inputs are read.
	OnProgress func(bytes int64)
}

// Stats summarize a hunt.
type Stats struct {
	Inputs       int
	Events       int64
	BadRecords   int64
	FailedInputs int
	// Matches counts the matches reported, by rule; correlation matches
	// count under the correlation's Rule.
	Matches    map[*detect.Rule]int
	Correlator detect.CorrelatorStats
	Baseline   baseline.Stats
	Elapsed    time.Duration
}

// InputError is an input that could not be read as a whole, or a record in
// it that did not decode.
type InputError struct {
	Input string
	Err   error
}

// Run hunts over inputs. emit receives matches in input order and record
// order; report receives input and record errors as they happen, from
// one goroutine at a time. Run returns when every input is done or ctx is
// cancelled.
func Run(ctx context.Context, inputs []decode.Input, opts Options, emit func(Match), report func(InputError)) Stats {
	start := time.Now()
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(len(inputs), 1))
	// Each input streams its matches, in batches, through a bounded
	// channel; the emitter drains the inputs in order. Workers claim
	// inputs in order too, so the input being drained always has a worker,
	// and memory is bounded by the channels however many matches there
	// are.
	results := make([]chan []Match, len(inputs))
	for i := range results {
		results[i] = make(chan []Match, matchBuffer/batchSize)
	}
	var (
		next     atomic.Int64
		events   atomic.Int64
		bad      atomic.Int64
		failed   atomic.Int64
		progress atomic.Int64
		reportMu sync.Mutex
		wg       sync.WaitGroup
	)
	var base *baselines
	if opts.Baselines != nil {
		base = newBaselines(opts.Baselines, len(inputs))
	}
	safeReport := func(e InputError) {
		reportMu.Lock()
		defer reportMu.Unlock()
		report(e)
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scratch := opts.Engine.NewScratch()
			observer := opts.Correlations.NewObserver()
			var extractor *baseline.Extractor
			var nextBatch *baseline.Batch // the batch the extractor fills next
			if base != nil {
				extractor = opts.Baselines.NewExtractor()
			}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(inputs) {
					return
				}
				if ctx.Err() != nil {
					if base != nil {
						base.finish(i)
					}
					close(results[i])
					continue
				}
				s := &sink{opts: &opts, scratch: scratch, observer: observer, extractor: extractor, base: base, nextBatch: nextBatch, index: i, input: inputs[i].Name, report: safeReport, bad: &bad, out: results[i]}
				err := readInput(ctx, inputs[i], opts, s, &progress)
				s.flush()
				nextBatch = s.nextBatch
				if err != nil {
					failed.Add(1)
					safeReport(InputError{Input: inputs[i].Name, Err: err})
				}
				events.Add(int64(s.n))
				close(results[i])
			}
		}()
	}
	stats := Stats{Inputs: len(inputs), Matches: map[*detect.Rule]int{}}
	copts := opts.Correlator
	if copts.Lateness == 0 {
		copts.Lateness = detect.Unbounded
	}
	cs := opts.Correlations
	if cs == nil {
		cs = &detect.CorrelationSet{}
	}
	corr := detect.NewCorrelator(cs, copts)
	emitCorr := func(cm *detect.CorrelationMatch) {
		r := cm.Correlation.Rule
		if opts.Keep == nil || opts.Keep(r) {
			stats.Matches[r]++
			emit(Match{Rule: r, Correlation: cm})
		}
	}
	for i := range inputs {
		for batch := range results[i] {
			for _, m := range batch {
				if m.obs != nil {
					corr.Add(m.obs, emitCorr)
					continue
				}
				stats.Matches[m.Rule]++
				emit(m)
			}
		}
		corr.EndRun() // order the input's observations while later inputs are read
	}
	wg.Wait()
	// The correlator and the baselines close their windows and buckets at
	// once; the baselines' matches (those of buckets closed early, for
	// MaxPending, first) come out after the correlations'.
	var flushed sync.WaitGroup
	if base != nil && ctx.Err() == nil {
		flushed.Go(func() { base.ev.Flush(base.keep) })
	}
	if ctx.Err() == nil {
		corr.Flush(emitCorr)
	}
	flushed.Wait()
	stats.Correlator = corr.Stats()
	if b := opts.Baselines; b != nil {
		rules := map[*baseline.Rule]*detect.Rule{}
		for _, bm := range base.matches {
			r := baselineRule(rules, bm.Rule)
			if opts.Keep == nil || opts.Keep(r) {
				stats.Matches[r]++
				emit(Match{Rule: r, Baseline: &bm})
			}
		}
		stats.Baseline = b.Stats()
	}
	stats.Events = events.Load()
	stats.BadRecords = bad.Load()
	stats.FailedInputs = int(failed.Load())
	stats.Elapsed = time.Since(start)
	return stats
}

func readInput(ctx context.Context, in decode.Input, opts Options, s *sink, progress *atomic.Int64) error {
	r, err := in.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	var rd io.Reader = r
	if opts.OnProgress != nil {
		rd = &countingReader{r: r, total: progress, notify: opts.OnProgress}
	}
	return opts.Reader.Read(rd, s, func() bool { return ctx.Err() != nil })
}

// matchBuffer is how many matches an input may have waiting for output,
// sent batchSize at a time: a channel operation per match would cost more
// than many rules' evaluation, and a small buffer would stall the workers
// ahead of the input being drained.
const (
	matchBuffer = 4096
	batchSize   = 256
)

// sink evaluates each event as it is decoded and sends on the matches.
type sink struct {
	opts      *Options
	scratch   *detect.Scratch
	observer  *detect.Observer    // nil without correlations
	extractor *baseline.Extractor // nil without baselines
	base      *baselines
	nextBatch *baseline.Batch // the batch the extractor fills after this one
	index     int             // the input's position
	input     string
	report    func(InputError)
	bad       *atomic.Int64
	n         int
	out       chan<- []Match
	batch     []Match // matches not sent yet
}

func (s *sink) Event(e *event.Event) {
	s.n++
	var kept *event.Event // the decoder reuses e's memory: keep a clone
	cs := s.opts.Correlations
	s.opts.Engine.Match(e, s.scratch, func(r *detect.Rule) {
		if cs.Emits(r) && (s.opts.Keep == nil || s.opts.Keep(r)) {
			if kept == nil {
				kept = e.Clone()
			}
			s.send(Match{Rule: r, Event: kept, Input: s.input, Record: s.n})
		}
		if s.observer == nil {
			return
		}
		if o := s.observer.Observe(r, e, s.scratch); o != nil {
			s.send(Match{obs: o})
		}
	})
	if x := s.extractor; x != nil {
		x.Extract(e)
		if x.Len() == BaselineBatch {
			s.sendBaseline()
		}
	}
}

// sendBaseline counts or queues the events read for the baselines.
func (s *sink) sendBaseline() {
	s.nextBatch = s.base.add(s.index, s.extractor.Take(s.nextBatch))
}

// send queues m, and sends the batch once it is full.
func (s *sink) send(m Match) {
	if s.batch == nil {
		s.batch = make([]Match, 0, batchSize)
	}
	s.batch = append(s.batch, m)
	if len(s.batch) == batchSize {
		s.sendMatches()
	}
}

func (s *sink) sendMatches() {
	if len(s.batch) > 0 {
		s.out <- s.batch
		s.batch = nil
	}
}

// flush sends the matches and baseline events queued, and tells the
// baselines that the input is done.
func (s *sink) flush() {
	if s.extractor != nil {
		if s.extractor.Len() > 0 {
			s.sendBaseline()
		}
		s.base.finish(s.index)
	}
	s.sendMatches()
}

func (s *sink) Fail(err *source.RecordError) {
	s.bad.Add(1)
	s.report(InputError{Input: s.input, Err: err})
}

func (s *sink) Note(string) {}

type countingReader struct {
	r      io.Reader
	total  *atomic.Int64
	notify func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.notify(c.total.Add(int64(n)))
	}
	return n, err
}

// baselineRule returns the metadata of a baseline rule as a detect.Rule,
// one per baseline rule, so that baseline matches are counted and
// filtered like the others.
func baselineRule(rules map[*baseline.Rule]*detect.Rule, r *baseline.Rule) *detect.Rule {
	if x := rules[r]; x != nil {
		return x
	}
	x := &detect.Rule{ID: r.ID, Name: r.Name, Title: r.Title, Description: r.Description, Level: r.Level,
		Tags: r.Tags, References: r.References, FalsePositives: r.FalsePositives, File: r.File}
	rules[r] = x
	return x
}
