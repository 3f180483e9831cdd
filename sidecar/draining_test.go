package sidecar_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

// replayServer is an rtpengine on loopback that answers /metrics with a
// reply recorded from Debian's rtpengine: busy (3 own sessions) until the
// test empties it, or fails.
type replayServer struct {
	*httptest.Server
	empty, down atomic.Bool
}

func newReplayServer(t *testing.T) *replayServer {
	t.Helper()
	busy, err := os.ReadFile("testdata/rtpengine-metrics-busy.txt")
	if err != nil {
		t.Fatal(err)
	}
	idle, err := os.ReadFile("testdata/rtpengine-metrics-idle.txt")
	if err != nil {
		t.Fatal(err)
	}
	s := &replayServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if s.down.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if s.empty.Load() {
			w.Write(idle)
			return
		}
		w.Write(busy)
	}))
	t.Cleanup(s.Close)
	return s
}

// testDrainer is a server's drain control that refuses as often as told,
// then accepts, and counts what it was asked.
type testDrainer struct {
	sidecar.Source
	refusals atomic.Int32
	asked    atomic.Int32
}

func (d *testDrainer) Drain(context.Context) error {
	d.asked.Add(1)
	if d.refusals.Add(-1) >= 0 {
		return errors.New("drain mode refused")
	}
	return nil
}

// drainRig runs a sidecar reading src, published through a real NATS.
type drainRig struct {
	st          *stack
	p           *sidecar.Publisher
	reg         *prometheus.Registry
	sawDraining bool
}

func newDrainRig(t *testing.T, src sidecar.Source) *drainRig {
	st := startStack(t, "voice", "rtpengine-0")
	reg := prometheus.NewRegistry()
	p := st.runSidecar(sidecar.Config{Source: src, Namespace: "voice", Pod: "rtpengine-0", Interval: 100 * time.Millisecond, Metrics: reg})
	return &drainRig{st: st, p: p, reg: reg}
}

type drainResult struct {
	st  sidecar.DrainStatus
	err error
}

func (r *drainRig) drain(ctx context.Context) chan drainResult {
	done := make(chan drainResult, 1)
	go func() {
		st, err := r.p.Drain(ctx)
		done <- drainResult{st, err}
	}()
	return done
}

// drainingSamples waits for n samples that say draining with calls, and
// fails on a sample after the first draining one that does not say so.
func (r *drainRig) drainingSamples(n int, calls float64) {
	r.st.t.Helper()
	for seen := 0; seen < n; {
		s := r.st.nextSampleAfter(time.Time{})
		switch {
		case s.Draining:
			r.sawDraining = true
			if gauge(s, sample.GaugeCalls) == calls {
				seen++
			}
		case r.sawDraining:
			r.st.t.Fatalf("sample %d does not say draining after sample(s) that did", s.Seq)
		}
	}
}

// TestDrain: a drain puts the server in drain mode once, through its
// Drainer; every sample from then on says draining; the drain does not end
// while the server carries calls, and ends once a reading has none. A
// second drain is the same drain.
func TestDrain(t *testing.T) {
	srv := newReplayServer(t)
	src, err := sidecar.New(sample.KindRTPEngine, sidecar.Options{URL: srv.URL + "/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	d := &testDrainer{Source: src}
	d.refusals.Store(1)
	r := newDrainRig(t, d)
	if s := r.st.nextSampleAfter(time.Time{}); s.Draining || gauge(s, sample.GaugeCalls) != 3 {
		t.Fatalf("before the drain: %+v", s)
	}

	done := r.drain(context.Background())
	// The server refuses drain mode at first: the sidecar says draining
	// anyway (the dispatcher in front stops sending) and asks again.
	r.drainingSamples(3, 3)
	select {
	case res := <-done:
		t.Fatalf("the drain ended while the server had 3 calls: %v %v", res.st, res.err)
	default:
	}
	if n := d.asked.Load(); n != 2 {
		t.Errorf("the server was asked %d times to drain, want 2 (refused, then accepted)", n)
	}

	srv.empty.Store(true)
	res := <-done
	if res.err != nil || !res.st.Drained || res.st.Load != 0 || !res.st.Accepted || res.st.Gauge != sample.GaugeCalls {
		t.Fatalf("drain: %v, %+v", res.err, res.st)
	}
	if got := res.st.String(); !strings.HasPrefix(got, "drained: calls is 0 (draining for ") || !strings.HasSuffix(got, "; the server took drain mode)") {
		t.Errorf("status %q", got)
	}
	r.drainingSamples(1, 0)

	// Again: the same drain, over already; the server is not asked again.
	if st, err := r.p.Drain(context.Background()); err != nil || !st.Drained {
		t.Errorf("second drain: %v, %+v", err, st)
	}
	if n := d.asked.Load(); n != 2 {
		t.Errorf("the server was asked %d times to drain, want 2", n)
	}
	const draining = `
# HELP rtcscale_sidecar_draining 1 once a drain was requested: every sample since says draining.
# TYPE rtcscale_sidecar_draining gauge
rtcscale_sidecar_draining 1
`
	if err := testutil.GatherAndCompare(r.reg, strings.NewReader(draining), "rtcscale_sidecar_draining"); err != nil {
		t.Error(err)
	}
}

// TestDrainWithoutControl: a server without a drain control (a Kamailio
// proxy, drained by its dispatcher) is only marked draining, and its drain
// ends at its deadline while it carries calls.
func TestDrainWithoutControl(t *testing.T) {
	srv := newReplayServer(t)
	src, err := sidecar.New(sample.KindRTPEngine, sidecar.Options{URL: srv.URL + "/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	// Only Source's methods: whatever drain control the source has is
	// hidden.
	r := newDrainRig(t, struct{ sidecar.Source }{src})
	ctx, cancel := context.WithCancel(context.Background())
	done := r.drain(ctx)
	r.drainingSamples(2, 3)
	cancel()
	res := <-done
	if !errors.Is(res.err, context.Canceled) || res.st.Drained || res.st.Control || !res.st.Read || res.st.Load != 3 {
		t.Fatalf("drain: %v, %+v", res.err, res.st)
	}
	if got := res.st.String(); !strings.HasPrefix(got, "calls is 3 (draining for ") || !strings.HasSuffix(got, "; the server has no drain control; only the samples say draining)") {
		t.Errorf("status %q", got)
	}
}
