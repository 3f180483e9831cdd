package ingest

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// publish sends samples on their own subjects and waits until the server
// has them.
func publish(t testing.TB, nc *nats.Conn, smps ...*sample.Sample) {
	t.Helper()
	for _, s := range smps {
		if err := nc.Publish(s.Subject(sample.DefaultSubjectPrefix), s.AppendJSON(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestWarmRestart is an adapter restart with the warm-start stream: a new
// store loads the latest sample of every pod before it subscribes, and
// serves them before any sidecar publishes again; a sample that went stale
// in between is refused as too_old, as if it had arrived late.
func TestWarmRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := natstest.Start(t, natstest.JetStream(t.TempDir()))
	js, err := jetstream.New(natstest.Connect(t, srv.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := WarmConfig{Stream: "RTCSCALE_LATEST", Memory: true}
	if err := EnsureWarmStream(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	// A second replica ensuring the same stream changes nothing.
	if err := EnsureWarmStream(ctx, js, cfg); err != nil {
		t.Fatalf("second EnsureWarmStream: %v", err)
	}

	// The first adapter runs and hears the fleet.
	first, c := newTestStore(collector.Options{})
	sub1 := NewSubscriber(first, sample.DefaultSubjectPrefix, nil)
	nc1 := natstest.Connect(t, srv.ClientURL())
	if err := sub1.Start(nc1); err != nil {
		t.Fatal(err)
	}
	if err := nc1.Flush(); err != nil {
		t.Fatal(err)
	}
	pub := natstest.Connect(t, srv.ClientURL())
	for i := range 3 { // three rounds: only the last of each pod counts
		at := t0.Add(time.Duration(i-2) * time.Second)
		publish(t, pub, smp("voice", "a-1", at, calls(float64(10+i))), smp("voice", "a-2", at, calls(float64(20+i))))
	}
	// A pod that stopped publishing long ago (stale at t0+5s), and garbage
	// on a third pod's subject.
	publish(t, pub, smp("voice", "gone", t0.Add(-10*time.Second), calls(99)))
	if err := pub.Publish("rtcscale.load.v1.voice.asterisk.junk", []byte(`{"v":1,`)); err != nil {
		t.Fatal(err)
	}
	publish(t, pub)
	waitFor(t, "the first adapter hears the fleet", func() bool { return first.Stats().Series == 3 })
	if err := sub1.Stop(); err != nil {
		t.Fatal(err)
	}
	str, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	// The stream stores what the server received, in its own time.
	waitFor(t, "the stream holds one message per subject", func() bool {
		info, err := str.Info(ctx)
		return err == nil && info.State.Msgs == 4 && info.State.NumSubjects == 4
	})

	// The adapter restarts 6 seconds later, while no sidecar publishes.
	c.Add(6 * time.Second)
	reg := prometheus.NewRegistry()
	second := collector.NewStore(collector.Options{Now: c.Now}, collector.NewMetrics(reg))
	for _, p := range []string{"a-1", "a-2", "gone"} {
		second.UpsertPod(readyPod("voice", p, "a", collector.Workload{}))
	}
	sub2 := NewSubscriber(second, sample.DefaultSubjectPrefix, nil)
	if err := sub2.Ready(); err == nil {
		t.Fatal("ready before loading and subscribing")
	}
	st, err := sub2.WarmLoad(ctx, js, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 4 || st.Accepted != 2 || st.Rejected[sample.ReasonTooOld] != 1 || st.Rejected[sample.ReasonMalformed] != 1 {
		t.Fatalf("warm load %+v", st)
	}
	if got := served(t, second, "voice", "app=a", "calls"); len(got) != 2 || got["a-1"] != 12 || got["a-2"] != 22 {
		t.Fatalf("served after the warm load: %v, want a-1=12 a-2=22 and nothing for the stale pod", got)
	}
	if got := rejected(t, reg, sample.ReasonTooOld); got != 1 {
		t.Fatalf("too_old counted %v times", got)
	}
	nc2 := natstest.Connect(t, srv.ClientURL())
	if err := sub2.Start(nc2); err != nil {
		t.Fatal(err)
	}
	if err := nc2.Flush(); err != nil { // the server has the subscription
		t.Fatal(err)
	}
	if err := sub2.Ready(); err != nil {
		t.Fatalf("not ready after Start: %v", err)
	}
	// Live samples follow the loaded ones.
	publish(t, pub, smp("voice", "a-1", c.Now(), calls(5)))
	waitFor(t, "a live sample after the warm load", func() bool { return served(t, second, "voice", "app=a", "calls")["a-1"] == 5 })

	// An empty stream loads nothing, without error.
	if err := EnsureWarmStream(ctx, js, WarmConfig{Stream: "EMPTY", Prefix: "other.prefix", Memory: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := NewSubscriber(second, "other.prefix", nil).WarmLoad(ctx, js, "EMPTY"); err != nil || st.Messages != 0 {
		t.Fatalf("empty stream: %+v %v", st, err)
	}
}

// TestWarmStartWithoutJetStream: on a server without JetStream, ensuring
// the stream fails fast with an error naming it, and the collector runs on
// core NATS as before.
func TestWarmStartWithoutJetStream(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = EnsureWarmStream(ctx, js, WarmConfig{Stream: "RTCSCALE_LATEST"})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("EnsureWarmStream on core NATS: %v (context %v)", err, ctx.Err())
	}
	store, c := newTestStore(collector.Options{})
	sub := NewSubscriber(store, sample.DefaultSubjectPrefix, nil)
	if _, err := sub.WarmLoad(ctx, js, "RTCSCALE_LATEST"); err == nil {
		t.Fatal("warm load without JetStream: no error")
	}
	if err := sub.Start(nc); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the server has the subscription
		t.Fatal(err)
	}
	publish(t, natstest.Connect(t, srv.ClientURL()), smp("voice", "a-1", c.Now(), calls(3)))
	waitFor(t, "core NATS ingest", func() bool { return store.Stats().Series == 1 })
}

// BenchmarkWarmLoad measures how long a starting adapter takes to load the
// latest sample of every pod from the stream: the time between its start
// and its first correct answer.
func BenchmarkWarmLoad(b *testing.B) {
	const pods = 100000
	srv := natstest.Start(b, natstest.JetStream(b.TempDir()))
	nc := natstest.Connect(b, srv.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := EnsureWarmStream(ctx, js, WarmConfig{Stream: "W"}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	subjects, bodies := fleetMessages(pods, now)
	for i := range subjects {
		if err := nc.Publish(subjects[i], bodies[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	str, _ := js.Stream(ctx, "W")
	for {
		info, err := str.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.State.Msgs == pods {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The machine is shared: CPU time, unlike wall time, does not count
	// other processes' turns.
	cpu0 := processCPU(b)
	b.ResetTimer()
	for b.Loop() {
		store := collector.NewStore(collector.Options{MaxSeriesPerNamespace: pods, Now: func() time.Time { return now }}, nil)
		st, err := NewSubscriber(store, sample.DefaultSubjectPrefix, nil).WarmLoad(ctx, js, "W")
		if err != nil || st.Accepted != pods {
			b.Fatalf("%+v %v", st, fmt.Sprint(err))
		}
	}
	b.ReportMetric(float64(pods)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric((processCPU(b)-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// processCPU is the CPU time this process has used, user and system: the
// server's and the client's, since both run here.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
