package predictor

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtcscale/rtcscale/internal/natstest"
)

// startJetStream runs a real NATS server with JetStream on loopback, storing
// in dir, and returns it with a JetStream client; both stop with the test.
func startJetStream(t *testing.T, dir string) (*server.Server, jetstream.JetStream) {
	t.Helper()
	srv := natstest.Start(t, natstest.JetStream(dir))
	js, err := jetstream.New(natstest.Connect(t, srv.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	return srv, js
}

func TestStoreSurvivesRestartAndDedupes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, js := startJetStream(t, dir)
	st, err := OpenStore(ctx, js, StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// A second adapter replica with its own connection writes the same
	// minutes.
	nc2, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js2, _ := jetstream.New(nc2)
	st2, err := OpenStore(ctx, js2, StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 3, 4, 8, 0, 0, 0, time.UTC)
	workloads := []string{"voice/asterisk", "video.jvb/jitsi videobridge"}
	for i := range 30 {
		ts := t0.Add(time.Duration(i)*time.Minute + 17*time.Second)
		for wi, w := range workloads {
			v := float64(100*wi + i)
			if err := st.Append(ctx, w, time.Minute, ts, v); err != nil {
				t.Fatal(err)
			}
			if err := st2.Append(ctx, w, time.Minute, ts.Add(3*time.Second), v); err != nil {
				t.Fatal(err)
			}
		}
	}
	nc2.Close()
	if err := st.Append(ctx, "voice/asterisk", time.Minute, t0, math.NaN()); err == nil {
		t.Fatal("NaN stored")
	}
	info, err := js.Stream(ctx, "RTCSCALE_HISTORY")
	if err != nil {
		t.Fatal(err)
	}
	si, _ := info.Info(ctx)
	if si.State.Msgs != 60 {
		t.Fatalf("stream holds %d messages, want 60 (two replicas deduplicated)", si.State.Msgs)
	}
	if si.Config.MaxAge < 5*7*24*time.Hour {
		t.Fatalf("max age %s, want at least 5 weeks", si.Config.MaxAge)
	}

	// Restart the server on the same store, reconnect, reload.
	srv.Shutdown()
	srv.WaitForShutdown()
	_, js3 := startJetStream(t, dir)
	st3, err := OpenStore(ctx, js3, StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hs, stats, err := st3.Load(ctx, time.Minute, 60)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Messages != 60 || stats.Rejected != 0 || len(hs) != 2 {
		t.Fatalf("loaded %+v into %d histories", stats, len(hs))
	}
	for wi, w := range workloads {
		y, start := hs[w].Snapshot(nil)
		if !start.Equal(t0) || len(y) != 30 {
			t.Fatalf("%s: %d slots from %s", w, len(y), start)
		}
		for i, v := range y {
			if v != float64(100*wi+i) {
				t.Fatalf("%s slot %d: %v", w, i, v)
			}
		}
	}
}

func TestStoreLoadEmpty(t *testing.T) {
	ctx := context.Background()
	_, js := startJetStream(t, t.TempDir())
	st, err := OpenStore(ctx, js, StoreConfig{Stream: "H", Subject: "h.v1", MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st.cfg.MaxAge < 5*7*24*time.Hour {
		t.Fatalf("max age %s accepted below 5 weeks", st.cfg.MaxAge)
	}
	hs, stats, err := st.Load(ctx, time.Minute, 10)
	if err != nil || len(hs) != 0 || stats.Messages != 0 {
		t.Fatalf("empty stream: %v %+v %v", hs, stats, err)
	}
}
