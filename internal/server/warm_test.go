package server

import (
	"context"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/collector/ingest"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// TestWarmSubscribe runs the adapter's start-up path: with JetStream,
// the stream is created and loaded before the subscription; without, the
// adapter logs it and subscribes cold, ready all the same.
func TestWarmSubscribe(t *testing.T) {
	for _, withJS := range []bool{true, false} {
		var configure []func(*natsserver.Options)
		if withJS {
			configure = append(configure, natstest.JetStream(t.TempDir()))
		}
		srv := natstest.Start(t, configure...)
		nc := natstest.Connect(t, srv.ClientURL())
		store := collector.NewStore(collector.Options{}, nil)
		sub := ingest.NewSubscriber(store, sample.DefaultSubjectPrefix, nil)
		w := &Warm{WarmConfig: ingest.WarmConfig{Stream: "RTCSCALE_LATEST", Prefix: sample.DefaultSubjectPrefix}, Timeout: 10 * time.Second}
		if err := w.subscribe(context.Background(), nc, sub); err != nil {
			t.Fatalf("JetStream %v: %v", withJS, err)
		}
		if err := sub.Ready(); err != nil {
			t.Fatalf("JetStream %v: not ready after subscribing: %v", withJS, err)
		}
		js, _ := jetstream.New(nc)
		_, err := js.Stream(context.Background(), "RTCSCALE_LATEST")
		if withJS && err != nil {
			t.Fatalf("the warm-restart stream was not created: %v", err)
		}
		if !withJS && err == nil {
			t.Fatal("a stream without JetStream")
		}
	}
}
