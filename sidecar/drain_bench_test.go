package sidecar_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

// BenchmarkRTPEngineDrainToExit measures what a drain costs a pod after its
// last call: the time from the end of Debian's rtpengine's last session (ng
// delete) to the return of the sidecar's Drain, which is when the preStop
// hook returns and the kubelet stops the pod. It reports it in sample
// intervals (the goal: at most 2); the drain returns at the first poll that
// reads no session, so it is at most one interval plus a read.
//
// Needs the Debian package rtpengine-daemon.
func BenchmarkRTPEngineDrainToExit(b *testing.B) {
	const interval = 200 * time.Millisecond
	rtpe := startRTPEngine(b)
	st := startStack(b, "voice", "rtpengine-0")
	var total time.Duration
	b.StopTimer()
	for i := range b.N {
		// Each drain is a pod's last: a fresh sidecar, and rtpengine
		// taking sessions again.
		if got := rtpengineCLI(b, rtpe.cli, "set maxsessions -1"); !strings.HasPrefix(got, "Success setting maxsessions to -1") {
			b.Fatalf("undrain rtpengine: %q", got)
		}
		src, err := sidecar.New(sample.KindRTPEngine, sidecar.Options{URL: rtpe.metricsURL, RTPEngineCLI: rtpe.cli})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		p, err := sidecar.NewPublisher(dial(b, st.natsURL, "sidecar"), sidecar.Config{Source: src, Namespace: "voice", Pod: "rtpengine-0", Interval: interval})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		id := fmt.Sprint("last-", i)
		ngCommand(b, rtpe.ng, map[string]string{"command": "offer", "call-id": id, "from-tag": "caller", "sdp": audioSDP(i % 50)})
		drained := make(chan error, 1)
		go func() { _, err := p.Drain(ctx); drained <- err }()
		// The drain is under way, and has read the session, once a
		// sample says draining with a call.
		for s := st.nextSampleAfter(time.Time{}); !s.Draining || gauge(s, sample.GaugeCalls) != 1; s = st.nextSampleAfter(time.Time{}) {
		}
		b.StartTimer()
		end := time.Now()
		ngCommand(b, rtpe.ng, map[string]string{"command": "delete", "call-id": id, "from-tag": "caller"})
		if err := <-drained; err != nil {
			b.Fatal(err)
		}
		total += time.Since(end)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total)/float64(b.N)/float64(interval), "intervals/drain")
}
