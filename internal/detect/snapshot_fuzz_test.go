package detect

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"
)

// snapshotSeed returns a snapshot with groups of every correlation type
// and pending observations.
func snapshotSeed(t testing.TB, set *Set) []byte {
	r := rand.New(rand.NewPCG(8, 8))
	obs, _ := observe(t, set, randomEvents(r, 120))
	c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{Lateness: 3 * time.Minute})
	for _, o := range obs {
		c.Add(o, nil)
	}
	var buf bytes.Buffer
	if err := c.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// frame turns a checkpoint body into a whole checkpoint with a valid
// checksum, so that fuzzing reaches the decoder behind the checksum.
func frame(body []byte) []byte {
	b := append([]byte(checkpointMagic), checkpointVersion)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// FuzzRestore restores arbitrary checkpoint bodies (framed with a valid
// checksum): it must never panic, must leave the correlator empty on
// error, and a state it accepts must keep working and survive another
// round trip.
func FuzzRestore(f *testing.F) {
	set := loadSet(f, baseRules, propCorrelations)
	seed := snapshotSeed(f, set)
	body := seed[len(checkpointMagic)+1 : len(seed)-4]
	f.Add(body)
	f.Add(body[:len(body)/2])
	f.Add([]byte{})
	r := rand.New(rand.NewPCG(9, 9))
	more, _ := observe(f, set, randomEvents(r, 40))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := NewCorrelator(set.CorrelationSet, CorrelatorOptions{Lateness: time.Minute, MaxGroups: 64, MaxEntries: 512})
		if err := c.Restore(bytes.NewReader(frame(body))); err != nil {
			if st := c.Stats(); st.Groups != 0 || st.Pending != 0 {
				t.Fatalf("state left after a failed restore: %+v", st)
			}
			return
		}
		var buf bytes.Buffer
		if err := c.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		for _, o := range more {
			c.Add(o, nil)
		}
		c.Flush(nil)
		again := NewCorrelator(set.CorrelationSet, CorrelatorOptions{})
		if err := again.Restore(&buf); err != nil {
			t.Fatalf("a restored state does not restore again: %v", err)
		}
	})
}
