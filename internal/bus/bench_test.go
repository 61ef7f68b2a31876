package bus

import (
	"context"
	"fmt"
	"testing"
	"time"
)

const (
	benchBatch   = 500
	benchMsgSize = 1200 // a typical normalized CloudTrail event
)

// BenchmarkPublish measures durable publishing of 500-message batches of
// ~1.2 KB to the embedded server's file store. sync=interval is what Open
// uses; sync=always (fsync per message) is measured to justify not using it.
func BenchmarkPublish(b *testing.B) {
	for _, mode := range []struct {
		name       string
		syncAlways bool
	}{{"sync=interval", false}, {"sync=always", true}} {
		b.Run(mode.name, func(b *testing.B) {
			bus, err := open(context.Background(), Options{Dir: b.TempDir(), MaxBytes: 16 << 30}, mode.syncAlways)
			if err != nil {
				b.Fatal(err)
			}
			defer bus.Close()
			batches := make([][]Msg, 0, 64)
			for i := range cap(batches) {
				batches = append(batches, makeMsgs(fmt.Sprintf("w%02d", i), benchBatch, benchMsgSize))
			}
			// IDs must be new per batch, or dedup turns the work into
			// duplicate checks; rewrite them cheaply per iteration.
			b.SetBytes(benchBatch * benchMsgSize)
			b.ResetTimer()
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				msgs := batches[i%len(batches)]
				for j := range msgs {
					msgs[j].ID = fmt.Sprintf("b%08d-%04d", i, j)
				}
				if _, err := bus.Publish(context.Background(), msgs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkConsume measures consuming in batches of 500, including the
// confirmed acknowledgement of every message. One op is one message.
func BenchmarkConsume(b *testing.B) {
	bus, err := Open(context.Background(), Options{Dir: b.TempDir(), MaxBytes: 16 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	msgs := makeMsgs("c", benchBatch, benchMsgSize)
	for published := 0; published < b.N; published += benchBatch {
		for j := range msgs {
			msgs[j].ID = fmt.Sprintf("p%010d", published+j)
		}
		if _, err := bus.Publish(context.Background(), msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(benchMsgSize)
	b.ResetTimer()
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := 0
	err = bus.Consume(ctx, "bench", benchBatch, func(_ context.Context, ds []Delivery) error {
		got += len(ds)
		if got >= b.N {
			cancel()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(got)/time.Since(start).Seconds(), "msgs/s")
}
