// Package baseline evaluates baseline rules, Vigil's own rule kind beside
// Sigma, over normalized events: rate spikes (events, or the sum or mean of
// a numeric field, per key and per bucket of event time, compared with a
// learned mean and variance with time-of-week seasonality) and first-seen
// behaviour (a combination of field values never seen before). docs/
// baselines.md is the reference of the rule format.
//
// Everything follows event time: buckets, learning periods and cooldowns.
// An Evaluator counts events into buckets as they arrive and closes a
// rule's buckets once the newest event time of the sources the rule reads
// has passed them by the lateness tolerance, so that offline hunts and the
// server give the same matches for the same events however they were
// batched. The only wall-clock time it reads is the injected clock that
// spaces checkpoints.
//
// State is bounded and its cost per key is fixed:
//
//   - a rate key: a 16-byte hash-table slot (21 to 43 bytes with the
//     table's free space) and a 40-byte record, about 60 to 85 bytes;
//   - its time-of-week profile, when it has one: 1,368 bytes, for at most
//     Options.MaxProfiles keys per rule (4,096 by default, 5.6 MB);
//   - a first_seen combination, or a key with key_learning: one slot, 21
//     to 43 bytes, whatever the length of the values (they are kept as
//     64-bit hashes);
//   - an open bucket (one key of one rule within the lateness window):
//     about 120 bytes plus the key's values and up to MaxEventIDs event
//     IDs, for at most Options.MaxPending buckets.
//
// Keys and combinations are capped per rule (Options.MaxKeys or the rule's
// max_keys); past the cap the least recently seen are evicted and counted.
// State is checkpointed to a file (Checkpoint, LoadCheckpoint) in a
// versioned binary format, written crash-safely and read with bounds, so
// a restart keeps what was learned.
package baseline
