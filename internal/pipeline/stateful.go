package pipeline

import (
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

// State files hold the checkpoint of one Stateful and the store sequence
// number up to which it holds every event, in one crash-safe file (see
// package state), so the number never claims more than the state holds:
// magic "VIGILSTA", the format version, the body, a CRC-32C. The body of
// version 2 is
//
//	seq: uvarint; snapshot: a stream (chunks of a uvarint length and that many bytes, then a 0)
//
// and that of version 1, which is still read, is
//
//	seq: uvarint; snapshot: string (uvarint length, bytes)
//
// Version 2 moves the snapshot between the evaluator and the file without
// a copy of it in memory: the evaluator's Snapshot writes through a
// state.Encoder stream straight into the temporary file, and its Restore
// reads through a state.Decoder stream straight from the file. A
// snapshot's length is not known until it is written, so it cannot come
// first, as in version 1, without holding the snapshot or seeking back;
// and the snapshot cannot simply run to the file's checksum, since
// Restore reads through a buffer that reads ahead (state.Read does) and
// would take in the checksum. The stream's chunks delimit it: its reader
// returns io.EOF at the empty chunk whatever its consumer reads ahead, and
// every byte goes through the file's checksum. Version 1 snapshots are read
// as a stream too (state.Decoder.StringReader).
//
// The file's checksum can only be checked once Restore has read the
// snapshot; if it does not match, the evaluator is emptied again.
const (
	stateMagic   = "VIGILSTA"
	stateVersion = 2
	// maxStateBytes bounds a state file.
	maxStateBytes = 1 << 30
)

// prepareState writes the checkpoint of st, holding every event up to
// seq, to a temporary file next to path; Commit puts it in place. st must
// not be fed until prepareState returns.
func prepareState(path string, seq int64, st Stateful) (*state.Pending, error) {
	p, err := state.Prepare(path, stateMagic, stateVersion, func(e *state.Encoder) error {
		e.Uvarint(uint64(seq))
		w := e.Stream()
		if err := st.Snapshot(w); err != nil {
			return fmt.Errorf("%s: snapshot: %w", st.Name(), err)
		}
		return w.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("writing the checkpoint of %s: %w", st.Name(), err)
	}
	return p, nil
}

// errNoState says that a state file does not exist.
var errNoState = errors.New("no checkpoint")

// readState restores st from the file at path and returns the store
// sequence number it holds events up to. A missing file returns an error
// wrapping errNoState; on any error st is left empty.
func readState(path string, st Stateful) (int64, error) {
	var seq int64
	var restoreErr error
	err := state.ReadFile(path, stateMagic, stateVersion, state.Limits{MaxBytes: maxStateBytes},
		func(d *state.Decoder, version uint64) error {
			seq = int64(d.Uvarint())
			if seq < 0 {
				d.Fail("negative sequence number")
			}
			var snap io.Reader
			if version == 1 {
				snap = d.StringReader()
			} else {
				snap = d.Stream()
			}
			if d.Err() != nil {
				return d.Err()
			}
			if err := st.Restore(snap); err != nil && d.Err() == nil {
				// Read on, so that the checksum says whether the file
				// is damaged (the clearer error) or the snapshot is one
				// the evaluator does not take.
				restoreErr = fmt.Errorf("restoring %s: %w", st.Name(), err)
				io.Copy(io.Discard, snap)
			}
			return d.Err()
		})
	if err == nil && restoreErr != nil {
		err = fmt.Errorf("checkpoint %s: %w", path, restoreErr)
	}
	if err != nil {
		// Restore may have taken in a snapshot that the file's checksum
		// then rejected: empty st the way the interface provides, with
		// input that does not read.
		_ = st.Restore(strings.NewReader(""))
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("%w at %s", errNoState, path)
		}
		return 0, err
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
