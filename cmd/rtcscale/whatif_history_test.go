package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/predictor"
)

// TestWhatifFromHistory replays a day of a workload's history as the
// adapter records it, from a real NATS server with JetStream.
func TestWhatifFromHistory(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t, natstest.JetStream(t.TempDir()))
	js, err := jetstream.New(natstest.Connect(t, srv.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	st, err := predictor.OpenStore(ctx, js, predictor.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	asterisk := predictor.SeriesKey("voice", collector.Workload{Kind: collector.WorkloadDeployment, Name: "asterisk"}, "calls")
	other := predictor.SeriesKey("voice", collector.Workload{Kind: collector.WorkloadStatefulSet, Name: "kamailio"}, "calls")
	t0 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	for i := range 24 * 60 {
		at := t0.Add(time.Duration(i) * time.Minute)
		v := 100.0
		if i >= 7*60 && i < 19*60 {
			v = 1000
		}
		if i == 600 {
			continue // a gap
		}
		for _, key := range []string{asterisk, other} {
			if err := st.Append(ctx, key, time.Minute, at, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	args := func(workload string) []string {
		return []string{"--history", srv.ClientURL(), "--workload", workload, "--gauge", "calls", "--hpa", hpaManifest, "--modes", "reactive,oracle", "--out", ""}
	}
	var stdout, stderr bytes.Buffer
	if err := runCommand(ctx, "whatif", args("voice/asterisk"), &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "reactive") || !strings.Contains(stdout.String(), "oracle") {
		t.Fatalf("output:\n%s", stdout.String())
	}
	err = runCommand(ctx, "whatif", args("voice/nobody"), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), asterisk) || !strings.Contains(err.Error(), other) {
		t.Fatalf("unknown workload: %v", err)
	}
	for name, a := range map[string][]string{
		"trace and history": append(args("voice/asterisk"), "--trace", "x.csv"),
		"bad workload":      args("asterisk"),
		"no server":         append(args("voice/asterisk")[2:], "--history", "nats://127.0.0.1:1"),
	} {
		if err := runCommand(ctx, "whatif", a, &stdout, &stderr); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
