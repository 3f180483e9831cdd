package server

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/collector/ingest"
)

// Warm turns on the warm start: a JetStream stream keeps the latest sample
// of every pod, and a starting adapter loads them before it serves.
type Warm struct {
	ingest.WarmConfig
	// Timeout bounds the wait for the stream; past it the adapter starts
	// cold.
	Timeout time.Duration
}

// subscribe loads the warm start, if w is set, then subscribes sub. A warm
// start that fails is logged and skipped: the adapter then starts cold,
// as without JetStream, and each pod is served from its next sample.
func (w *Warm) subscribe(ctx context.Context, nc *nats.Conn, sub *ingest.Subscriber) error {
	if w != nil {
		w.load(ctx, nc, sub)
	}
	return sub.Start(nc)
}

func (w *Warm) load(ctx context.Context, nc *nats.Conn, sub *ingest.Subscriber) {
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	js, err := jetstream.New(nc)
	if err == nil {
		err = ingest.EnsureWarmStream(ctx, js, w.WarmConfig)
	}
	if err != nil {
		klog.ErrorS(err, "Warm restart unavailable; starting cold (each pod is served from its next sample)", "stream", w.Stream)
		return
	}
	start := time.Now()
	st, err := sub.WarmLoad(ctx, js, w.Stream)
	if err != nil {
		klog.ErrorS(err, "Warm restart incomplete; the rest of the pods are served from their next sample", "stream", w.Stream, "loaded", st.Accepted)
		return
	}
	klog.InfoS("Loaded the latest sample of every pod", "stream", w.Stream, "samples", st.Messages, "accepted", st.Accepted, "took", time.Since(start))
}
