package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/detect/state"
	"github.com/vigil-sec/vigil/internal/event"
)

// Stateful is detection that keeps state across events, such as Sigma
// correlations. The Detector drives it so that its state is crash
// consistent with the store:
//
//   - while a batch is evaluated, an Observer sees every rule match of
//     every event and records what the evaluator needs (Observe);
//   - once the batch's events are committed, the observations of the
//     events that were newly stored, and only those, are fed in store
//     order (Feed), so a redelivered batch is never counted twice;
//   - the state is checkpointed together with the store sequence number of
//     the last event fed, and at start the events stored after it are
//     replayed through the rules, so the store is the state's write-ahead
//     log.
//
// The Detector calls Feed, Advance, SetRules, Snapshot and Restore from one
// goroutine at a time.
type Stateful interface {
	// Name names the evaluator in logs and its checkpoint file.
	Name() string
	// NewObserver returns the working memory of one batch evaluated with
	// set, or nil when the set gives the evaluator nothing to observe.
	NewObserver(set *detect.Set) Observer
	// Feed takes the observations of newly stored events, oldest first,
	// and calls emit with each alert they complete.
	Feed(obs []any, emit func(*alert.Alert))
	// Advance tells the evaluator that now is the wall-clock time, so that
	// state waiting for more input can conclude while the input is idle.
	Advance(now time.Time, emit func(*alert.Alert))
	// SetRules switches to the rules of set, keeping the state of what is
	// unchanged.
	SetRules(set *detect.Set) error
	// Snapshot writes the state; Restore replaces it with what Snapshot
	// wrote, or leaves it empty and returns an error.
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// Observer records, for one batch, what a Stateful needs of each event.
type Observer interface {
	// Observe is called from the engine's Match callback with each rule
	// that matched ev; s is the scratch space that matched it.
	Observe(r *detect.Rule, ev *event.Event, s *detect.Scratch)
	// Take returns what was observed since the last Take, for one event,
	// or nil if nothing was.
	Take() any
}

// EventObserver is an Observer that also sees every event evaluated,
// whether a rule matched it or not, as baselines, which count events,
// need. ObserveEvent is called once per event, after its rule matches and
// before Take.
type EventObserver interface {
	Observer
	ObserveEvent(ev *event.Event)
}

// State files: a checkpoint of a Stateful and the store sequence number up
// to which it holds every event, written in one crash-safe file (see
// package state), so the number never claims more than the state holds.
const (
	stateMagic   = "VIGILSTA"
	stateVersion = 1
	// maxStateBytes bounds a state file.
	maxStateBytes = 1 << 30
)

// writeState writes a snapshot of st and seq to path crash-safely.
func writeState(path string, seq int64, snapshot string) error {
	err := state.WriteFile(path, stateMagic, stateVersion, func(e *state.Encoder) error {
		e.Uvarint(uint64(seq))
		e.String(snapshot)
		return e.Err()
	})
	if err != nil {
		return fmt.Errorf("writing the checkpoint %s: %w", path, err)
	}
	return nil
}

// snapshot returns st's state as a string.
func snapshot(st Stateful) (string, error) {
	var b strings.Builder
	if err := st.Snapshot(&b); err != nil {
		return "", fmt.Errorf("%s: snapshot: %w", st.Name(), err)
	}
	return b.String(), nil
}

// errNoState says that a state file does not exist.
var errNoState = errors.New("no checkpoint")

// readState restores st from the file at path and returns the store
// sequence number it holds events up to. A missing file returns an error
// wrapping errNoState; on any error st is left empty.
func readState(path string, st Stateful) (int64, error) {
	var seq int64
	var body []byte
	err := state.ReadFile(path, stateMagic, stateVersion, state.Limits{MaxBytes: maxStateBytes, MaxString: maxStateBytes},
		func(d *state.Decoder, _ uint64) error {
			seq = int64(d.Uvarint())
			body = d.Bytes()
			if seq < 0 {
				d.Fail("negative sequence number")
			}
			return d.Err()
		})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w at %s", errNoState, path)
	}
	if err != nil {
		return 0, fmt.Errorf("reading the checkpoint %s: %w", path, err)
	}
	if err := st.Restore(bytes.NewReader(body)); err != nil {
		return 0, fmt.Errorf("restoring %s from %s: %w", st.Name(), path, err)
	}
	return seq, nil
}

// keyValue is one field of the key (group) of a stateful match: its name
// as the rule wrote it, the envelope field it is ("" for a native field),
// and its value.
type keyValue struct{ field, envelope, value string }

// stateAlert builds the alert of a stateful match of kind ("correlation",
// "baseline"): the rule's metadata, a fingerprint of the kind, the rule and
// the key (so that matches of one key dedup within the dedup window), the
// highlights the key's envelope fields give, and the first events.
func stateAlert(kind string, ref alert.RuleRef, key []keyValue, ids []string, at, now time.Time) *alert.Alert {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(ref.ID))
	for _, kv := range key {
		h.Write([]byte{0})
		h.Write([]byte(kv.field))
		h.Write([]byte{0})
		h.Write([]byte(kv.value))
	}
	a := &alert.Alert{
		ID: NewID("alt"), Fingerprint: hex.EncodeToString(h.Sum(nil)[:16]), Rule: ref, Severity: ref.Level,
		Status: alert.Open, Count: 1, FirstSeen: at, LastSeen: at,
		EventIDs: slices.Clone(ids[:min(len(ids), alert.MaxEventRefs)]), UpdatedAt: now,
	}
	if a.EventIDs == nil {
		a.EventIDs = []string{}
	}
	for _, kv := range key {
		if set := highlightFields[kv.envelope]; set != nil {
			set(a, kv.value)
		}
	}
	return a
}

// highlightFields maps envelope fields to the alert highlights they fill.
var highlightFields = map[string]func(a *alert.Alert, v string){
	"cloud":     func(a *alert.Alert, v string) { a.Cloud = v },
	"source":    func(a *alert.Alert, v string) { a.Source = v },
	"account":   func(a *alert.Alert, v string) { a.Account = v },
	"region":    func(a *alert.Alert, v string) { a.Region = v },
	"principal": func(a *alert.Alert, v string) { a.Principal = v },
	"source_ip": func(a *alert.Alert, v string) { a.SourceIP = v },
	"function":  func(a *alert.Alert, v string) { a.Function = v },
	"action":    func(a *alert.Alert, v string) { a.Action = v },
}

// alertField returns the highlight of a named by an envelope field.
func alertField(a *alert.Alert, name string) string {
	switch name {
	case "cloud":
		return a.Cloud
	case "source":
		return a.Source
	case "account":
		return a.Account
	case "region":
		return a.Region
	case "principal":
		return a.Principal
	case "source_ip":
		return a.SourceIP
	case "function":
		return a.Function
	case "action":
		return a.Action
	}
	return ""
}
