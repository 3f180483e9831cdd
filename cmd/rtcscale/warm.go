package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/collector"
)

// warmFlags turn on the warm start: a JetStream stream keeps the latest
// sample of every pod, and a starting adapter loads them before it serves.
type warmFlags struct {
	cfg     collector.WarmConfig
	timeout time.Duration
}

func (w *warmFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&w.cfg.Stream, "warm-restart-stream", "", "JetStream stream that keeps the latest sample of every pod (created if missing), loaded at start so that values are served at once after a restart; empty: off, start cold on core NATS")
	fs.IntVar(&w.cfg.Replicas, "warm-restart-replicas", 1, fmt.Sprintf("replicas of the warm-restart stream in a NATS cluster (1 to %d; 3 survives the loss of a node)", maxStreamReplicas))
	fs.BoolVar(&w.cfg.Memory, "warm-restart-memory", false, "keep the warm-restart stream in NATS memory instead of on disk (a restart of NATS itself then empties it)")
	fs.DurationVar(&w.timeout, "warm-restart-timeout", 30*time.Second, "longest wait for the warm-restart stream at start; past it the adapter starts cold")
}

// subscribe loads the warm start, if on, then subscribes sub. A warm start
// that fails is logged and skipped: the adapter then starts cold, as
// without JetStream, and each pod is served from its next sample.
func (w *warmFlags) subscribe(ctx context.Context, nc *nats.Conn, sub *collector.Subscriber) error {
	if w.cfg.Stream != "" {
		w.load(ctx, nc, sub)
	}
	return sub.Start(nc)
}

func (w *warmFlags) load(ctx context.Context, nc *nats.Conn, sub *collector.Subscriber) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	js, err := jetstream.New(nc)
	if err == nil {
		err = collector.EnsureWarmStream(ctx, js, w.cfg)
	}
	if err != nil {
		klog.ErrorS(err, "Warm restart unavailable; starting cold (each pod is served from its next sample)", "stream", w.cfg.Stream)
		return
	}
	start := time.Now()
	st, err := sub.WarmLoad(ctx, js, w.cfg.Stream)
	if err != nil {
		klog.ErrorS(err, "Warm restart incomplete; the rest of the pods are served from their next sample", "stream", w.cfg.Stream, "loaded", st.Accepted)
		return
	}
	klog.InfoS("Loaded the latest sample of every pod", "stream", w.cfg.Stream, "samples", st.Messages, "accepted", st.Accepted, "took", time.Since(start))
}
