package store

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEventSeqAndEventsAfter(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	if last, err := db.LastSeq(ctx); err != nil || last != 0 {
		t.Fatalf("LastSeq of an empty store = %d, %v; want 0", last, err)
	}
	var seqs []int64
	for batch := 0; batch < 3; batch++ {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := batch * 5; i < batch*5+5; i++ {
			e := ev(i, "alice")
			seq, isNew, err := tx.AddEventSeq(ctx, e, e.AppendJSON(nil, false))
			if err != nil || !isNew || seq <= 0 {
				t.Fatalf("event %d: seq=%d new=%v err=%v", i, seq, isNew, err)
			}
			seqs = append(seqs, seq)
		}
		// A duplicate gets no seq.
		if seq, isNew, err := tx.AddEventSeq(ctx, ev(0, "alice"), []byte(`{}`)); err != nil || isNew || seq != 0 {
			t.Fatalf("duplicate: seq=%d new=%v err=%v", seq, isNew, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("seqs do not grow: %v", seqs)
		}
	}
	if last, err := db.LastSeq(ctx); err != nil || last != seqs[len(seqs)-1] {
		t.Fatalf("LastSeq = %d, %v; want %d", last, err, seqs[len(seqs)-1])
	}
	tests := []struct {
		after int64
		limit int
		want  []string
	}{
		{0, 3, []string{"e000", "e001", "e002"}},
		{seqs[6], 4, []string{"e007", "e008", "e009", "e010"}},
		{seqs[12], 0, []string{"e013", "e014"}},
		{seqs[14], 10, nil},
	}
	for _, tt := range tests {
		got, err := db.EventsAfter(ctx, tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range got {
			ids = append(ids, e.ID)
			if len(e.Body) == 0 || e.Seq <= tt.after {
				t.Errorf("after %d: event %+v", tt.after, e)
			}
		}
		if diff := cmp.Diff(tt.want, ids); diff != "" {
			t.Errorf("EventsAfter(%d, %d) (-want +got):\n%s", tt.after, tt.limit, diff)
		}
	}
}
