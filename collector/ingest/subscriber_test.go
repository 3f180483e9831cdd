package ingest

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// TestDroppedCountsMessages: rtcscale_nats_dropped_total counts every
// message NATS drops for a subscriber that fell behind, not the one
// slow-consumer error of the episode.
func TestDroppedCountsMessages(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	// The store's clock holds the handler, inside Ingest, while held is
	// locked.
	var held sync.Mutex
	store := collector.NewStore(collector.Options{Now: func() time.Time {
		held.Lock()
		defer held.Unlock()
		return time.Now()
	}}, collector.NewMetrics(reg))
	sub := NewSubscriber(store, sample.DefaultSubjectPrefix, m)
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv.ClientURL())
	if err := sub.Start(nc); err != nil {
		t.Fatal(err)
	}
	// One message may wait; with the handler held in Ingest, the rest
	// past the one it holds are dropped.
	if err := sub.sub.SetPendingLimits(1, -1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	pub := natstest.Connect(t, srv.ClientURL())
	const n = 50
	held.Lock()
	now := time.Now()
	for i := range n {
		x := smp("voice", "a-1", now, calls(1))
		x.Seq = uint64(i + 1)
		if err := pub.Publish(x.Subject(sample.DefaultSubjectPrefix), x.AppendJSON(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	// The server answers the subscriber's ping after the messages: once
	// it has, the client has queued or dropped every one of them.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	held.Unlock()

	dropped, err := sub.sub.Dropped()
	if err != nil {
		t.Fatal(err)
	}
	if dropped < n-2 {
		t.Fatalf("NATS dropped %d of %d messages, want all but the held and the queued one", dropped, n)
	}
	if got := testutil.ToFloat64(m.dropped); got != float64(dropped) {
		t.Fatalf("rtcscale_nats_dropped_total = %v, want %d (the messages dropped)", got, dropped)
	}
	waitFor(t, "the delivered messages stored", func() bool {
		return accepted(t, reg) == float64(n-dropped)
	})
}
