package predictor

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natstest"
	wire "github.com/rtcscale/rtcscale/sample"
)

// testClock is a settable clock, in unix nanoseconds.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.Set(t)
	return c
}

func (c *testClock) Now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// ramp is a daily load with a sharp morning ramp: 20 calls at night, rising
// linearly from 08:00 to 200 at 08:30, back to 20 from 18:00 to 19:00.
func ramp(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	switch {
	case h < 8 || h >= 19:
		return 20
	case h < 8.5:
		return 20 + 180*(h-8)/0.5
	case h < 18:
		return 200
	}
	return 200 - 180*(h-18)
}

// fleet is a collector with one Deployment of two pods that publish a
// workload load split between them.
type fleet struct {
	t     *testing.T
	clock *testClock
	src   *collector.Store
	seq   uint64
}

var asterisk = collector.Workload{Kind: collector.WorkloadDeployment, Name: "asterisk"}

func newFleet(t *testing.T, now time.Time, startup time.Duration) *fleet {
	f := &fleet{t: t, clock: newTestClock(now)}
	f.src = collector.NewStore(collector.Options{Now: f.clock.Now}, nil)
	f.src.SetReplicaSet("voice", "asterisk-7c9", "asterisk")
	for i := range 2 {
		created := now.Add(-time.Duration(i+1) * time.Hour)
		f.src.UpsertPod(collector.PodInfo{Namespace: "voice", Name: fmt.Sprint("asterisk-7c9-", i),
			Owner: collector.Workload{Kind: collector.WorkloadReplicaSet, Name: "asterisk-7c9"},
			Ready: true, Created: created, ReadySince: created.Add(startup)})
	}
	return f
}

// publish sets the clock to now and stores a fresh sample of each pod,
// together carrying total calls (and twice as many channels).
func (f *fleet) publish(now time.Time, total float64) {
	f.t.Helper()
	f.clock.Set(now)
	for i := range 2 {
		f.seq++
		s := wire.Sample{Kind: wire.KindAsterisk, Namespace: "voice", Pod: fmt.Sprint("asterisk-7c9-", i), Time: now, Seq: f.seq,
			Interval: 5 * time.Second, Gauges: []wire.Gauge{{Name: "calls", Value: total / 2}, {Name: "channels", Value: total}}}
		if r := f.src.Ingest(&s); r != wire.Accepted {
			f.t.Fatalf("sample refused: %s", r.Description())
		}
	}
}

func openStore(t *testing.T, url string) (*Store, jetstream.Stream) {
	t.Helper()
	js, err := jetstream.New(natstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(context.Background(), js, StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(context.Background(), "RTCSCALE_HISTORY")
	if err != nil {
		t.Fatal(err)
	}
	return st, stream
}

func streamMsgs(t *testing.T, s jetstream.Stream) uint64 {
	t.Helper()
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func newTestLive(t *testing.T, f *fleet, cfg LiveConfig, reg prometheus.Registerer) *Live {
	t.Helper()
	cfg.Now = f.clock.Now
	l, err := NewLive(f.src, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLiveForecastsAheadOfTheRampAndSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t, natstest.JetStream(t.TempDir()))
	st, stream := openStore(t, srv.ClientURL())

	// Four days of history, as an adapter wrote it before; the last two
	// hours come through the collector.
	rampAt := time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC)
	live := rampAt.Add(-2 * time.Hour)
	key := SeriesKey("voice", asterisk, "calls")
	for t0 := rampAt.Add(-4 * 24 * time.Hour); t0.Before(live); t0 = t0.Add(time.Minute) {
		if err := st.Append(ctx, key, time.Minute, t0, ramp(t0)); err != nil {
			t.Fatal(err)
		}
	}
	f := newFleet(t, live, 3*time.Minute+20*time.Second)
	reg := prometheus.NewRegistry()
	l := newTestLive(t, f, LiveConfig{Gauges: []string{"calls"}}, reg)
	if err := l.Load(ctx, st); err != nil {
		t.Fatal(err)
	}
	forecastAt := func(l *Live, at time.Time) (float64, float64) {
		t.Helper()
		f.clock.Set(at)
		cur := ramp(at)
		v, ok := l.Forecast("voice", asterisk, "calls", cur)
		if !ok {
			t.Fatal("calls not forecast")
		}
		return v, cur
	}
	var early, late float64
	for at := live; !at.After(rampAt); at = at.Add(time.Minute) {
		f.publish(at, ramp(at))
		if err := l.Tick(ctx, at); err != nil {
			t.Fatal(err)
		}
		l.Refit(ctx, at)
		switch at {
		case rampAt.Add(-15 * time.Minute):
			v, cur := forecastAt(l, at)
			if v < cur || v > 1.25*cur {
				t.Errorf("a quarter of an hour before the ramp, beyond the lead: forecast %.1f, current %.1f", v, cur)
			}
			early = v
		case rampAt.Add(-2 * time.Minute):
			v, cur := forecastAt(l, at)
			// The lead is the pods' start-up (3m20s) and a step: 4m20s,
			// so the forecast reaches 08:02, where the load is 32.
			if v < 32 || v < cur {
				t.Errorf("2 minutes before the ramp: forecast %.1f, current %.1f; want at least the 32 of 08:02", v, cur)
			}
			late = v
		}
	}
	t.Logf("forecast %.1f at 07:45, %.1f at 07:58", early, late)
	if !(late > early) {
		t.Fatalf("the forecast did not rise ahead of the ramp: %.1f then %.1f", early, late)
	}
	if got := streamMsgs(t, stream); got != 4*24*60+1 {
		t.Fatalf("stream holds %d values, want 4 days of minutes and the ramp's first", got)
	}

	// The forecast at 08:00 reaches 08:04, where the load is 44.
	at := rampAt
	before, cur := forecastAt(l, at)
	if before < 44 {
		t.Fatalf("forecast %v at the ramp's start", before)
	}
	want := map[string]float64{
		`rtcscale_forecast_lead_seconds{namespace="voice",workload="asterisk",workload_kind="Deployment"}`:        260,
		`rtcscale_history_points{gauge="calls",namespace="voice",workload="asterisk",workload_kind="Deployment"}`: 4*24*60 + 1,
	}
	checkMetrics(t, reg, want)
	if model := modelOf(t, reg); model == "reactive" || model == "" {
		t.Fatalf("model %q after 4 days of a daily pattern", model)
	}

	// The adapter restarts: a new Live, a new connection, the same stream.
	st2, _ := openStore(t, srv.ClientURL())
	l2 := newTestLive(t, f, LiveConfig{Gauges: []string{"calls"}}, nil)
	if v, _ := forecastAt(l2, at); v != cur {
		t.Fatalf("before loading, the forecast is %v, want the current %v", v, cur)
	}
	if err := l2.Load(ctx, st2); err != nil {
		t.Fatal(err)
	}
	if n := l2.Refit(ctx, rampAt); n != 1 {
		t.Fatalf("refitted %d series", n)
	}
	if after, _ := forecastAt(l2, at); after != before {
		t.Fatalf("after the restart the forecast is %v, want %v", after, before)
	}
}

func checkMetrics(t *testing.T, g prometheus.Gatherer, want map[string]float64) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			got[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func modelOf(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	mfs, _ := g.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "rtcscale_predictor_model_info" {
			for _, lp := range mf.GetMetric()[0].GetLabel() {
				if lp.GetName() == "model" {
					return lp.GetValue()
				}
			}
		}
	}
	return ""
}

func TestLiveReplicasDedupeAndEarlyStepsArePersisted(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t, natstest.JetStream(t.TempDir()))
	t0 := time.Date(2024, 6, 6, 8, 0, 20, 0, time.UTC)
	f := newFleet(t, t0, time.Minute)
	stA, stream := openStore(t, srv.ClientURL())
	stB, _ := openStore(t, srv.ClientURL())
	a := newTestLive(t, f, LiveConfig{}, nil) // every gauge: calls and channels
	b := newTestLive(t, f, LiveConfig{}, nil)
	if err := a.Load(ctx, stA); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Minute)
		f.publish(at, float64(10*i))
		if err := a.Tick(ctx, at); err != nil {
			t.Fatal(err)
		}
		// The second replica ticks a few seconds later; its store opens
		// only after five minutes.
		if i == 5 {
			if err := b.Load(ctx, stB); err != nil {
				t.Fatal(err)
			}
		}
		f.publish(at.Add(3*time.Second), float64(10*i)+1)
		if err := b.Tick(ctx, at.Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if got := streamMsgs(t, stream); got != 2*10 {
		t.Fatalf("stream holds %d values, want 20: 10 minutes of 2 gauges, written by two replicas", got)
	}
	// What was stored is the first write of each minute: replica A's for
	// minutes 0-4, whichever was first after; B's own history holds its
	// own values.
	hs, stats, err := stA.Load(ctx, time.Minute, 100)
	if err != nil || stats.Rejected != 0 {
		t.Fatal(err, stats)
	}
	y, _ := hs[SeriesKey("voice", asterisk, "calls")].Snapshot(nil)
	if len(y) != 10 || y[0] != 0 || y[4] != 40 {
		t.Fatalf("stored calls %v", y)
	}
	b.mu.RLock()
	yb, _ := b.series[seriesID{"voice", asterisk, "calls"}].hist.Snapshot(nil)
	b.mu.RUnlock()
	if len(yb) != 10 || yb[0] != 1 || yb[9] != 91 {
		t.Fatalf("replica B's history %v", yb)
	}
}

// TestLiveStepsBeforeAnEmptyStoreArePersisted: a first adapter that records
// minutes before its store opens appends them to the new, empty stream.
func TestLiveStepsBeforeAnEmptyStoreArePersisted(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t, natstest.JetStream(t.TempDir()))
	t0 := time.Date(2024, 6, 6, 8, 0, 20, 0, time.UTC)
	f := newFleet(t, t0, time.Minute)
	l := newTestLive(t, f, LiveConfig{}, nil) // every gauge: calls and channels
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Minute)
		f.publish(at, float64(10*i))
		if err := l.Tick(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	st, stream := openStore(t, srv.ClientURL())
	if err := l.Load(ctx, st); err != nil {
		t.Fatal(err)
	}
	if got := streamMsgs(t, stream); got != 2*3 {
		t.Fatalf("stream holds %d values, want 6: the 3 minutes of 2 gauges recorded before it opened", got)
	}
}

func TestLiveBoundsAndGaps(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2024, 6, 6, 8, 0, 30, 0, time.UTC)
	f := newFleet(t, t0, time.Minute)
	reg := prometheus.NewRegistry()
	l := newTestLive(t, f, LiveConfig{MaxSeries: 1, Keep: time.Hour}, reg)
	f.publish(t0, 10)
	if err := l.Tick(ctx, t0); err != nil {
		t.Fatal(err)
	}
	// Two gauges, room for one: the other is refused and counted.
	if got := testutil.ToFloat64(l.metrics.refused); got != 1 {
		t.Fatalf("refused %v", got)
	}
	// No history yet: the forecast is the current value, not an error;
	// an invalid current counts as 0.
	if v, ok := l.Forecast("voice", asterisk, "calls", 7); !ok || v != 7 {
		t.Fatalf("forecast %v %v", v, ok)
	}
	if v, ok := l.Forecast("voice", asterisk, "calls", math.NaN()); !ok || v != 0 {
		t.Fatalf("forecast of NaN: %v %v", v, ok)
	}
	if _, ok := l.Forecast("voice", collector.Workload{Kind: collector.WorkloadDeployment, Name: "nobody"}, "calls", 3); !ok {
		t.Fatal("a forecast gauge of an unknown workload is not served as its current value")
	}
	l2 := newTestLive(t, f, LiveConfig{Gauges: []string{"participants"}}, nil)
	if _, ok := l2.Forecast("voice", asterisk, "calls", 3); ok {
		t.Fatal("a gauge that is not forecast is served")
	}

	// The pods stop publishing: the workload's sum is incomplete, and the
	// minute is a gap rather than a drop to 0.
	f.clock.Set(t0.Add(time.Minute))
	if err := l.Tick(ctx, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.publish(t0.Add(2*time.Minute), 12)
	if err := l.Tick(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	l.mu.RLock()
	var s *series
	for _, s = range l.series {
	}
	y, _ := s.hist.Snapshot(nil)
	l.mu.RUnlock()
	if len(y) != 3 || !math.IsNaN(y[1]) || s.hist.Observed() != 2 {
		t.Fatalf("history %v", y)
	}
	// A workload gone for longer than histories are kept is forgotten.
	f.clock.Set(t0.Add(3 * time.Hour))
	if err := l.Tick(ctx, t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(l.series); n != 0 {
		t.Fatalf("%d series left", n)
	}
}

func TestLeadLearnedOrConfigured(t *testing.T) {
	f := newFleet(t, time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC), 90*time.Second)
	leads, err := ParseLeads("voice/kamailio=5m,default=learned")
	if err != nil {
		t.Fatal(err)
	}
	l := newTestLive(t, f, LiveConfig{Leads: leads}, nil)
	kamailio := collector.Workload{Kind: collector.WorkloadStatefulSet, Name: "kamailio"}
	for w, want := range map[collector.Workload]time.Duration{
		asterisk: 90*time.Second + time.Minute, // p90 start-up and a step
		kamailio: 5 * time.Minute,              // configured
		{Kind: collector.WorkloadDeployment, Name: "new"}: time.Minute, // no pod seen: the floor
	} {
		if got := l.lead("voice", w); got != want {
			t.Errorf("%s: lead %s, want %s", w.Name, got, want)
		}
	}
	leads, _ = ParseLeads("default=10m,voice/asterisk=learned")
	l = newTestLive(t, f, LiveConfig{Leads: leads}, nil)
	if got := l.lead("voice", asterisk); got != 150*time.Second {
		t.Errorf("asterisk learned: %s", got)
	}
	if got := l.lead("voice", kamailio); got != 10*time.Minute {
		t.Errorf("kamailio by default: %s", got)
	}
	for _, bad := range []string{"5m", "voice=5m", "voice/asterisk=soon", "voice/asterisk=-1m", "default=48h", "Voice/x=1m", "a/b=1m,a/b=2m"} {
		if _, err := ParseLeads(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSeriesKeys(t *testing.T) {
	k := SeriesKey("voice", collector.Workload{Kind: collector.WorkloadStatefulSet, Name: "kamailio.edge"}, "calls")
	ns, w, g, err := ParseSeriesKey(k)
	if err != nil || ns != "voice" || w.Kind != collector.WorkloadStatefulSet || w.Name != "kamailio.edge" || g != "calls" {
		t.Fatalf("%s: %s %v %s %v", k, ns, w, g, err)
	}
	for _, bad := range []string{"", "voice/asterisk", "voice/Pod/a/calls", "voice/Deployment/a/calls/x", "voice/Deployment/a/Calls"} {
		if _, _, _, err := ParseSeriesKey(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestRollingLearnsAsItGoes forecasts five days of a daily ramp: nothing
// on the first day (too little history), then the ramp ahead of time, each
// forecast from the data before it only.
func TestRollingLearnsAsItGoes(t *testing.T) {
	start := time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC)
	lead := 5 * time.Minute
	y := make([]float64, 5*24*60-2)
	for k := range y {
		y[k] = ramp(start.Add(time.Duration(k) * time.Minute))
	}
	f, err := Rolling{}.Forecast(context.Background(), start, time.Minute, y, lead)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 24 * 60 {
		if !math.IsNaN(f[k]) {
			t.Fatalf("%s: forecast %v with under a day of history", start.Add(time.Duration(k)*time.Minute), f[k])
		}
	}
	before, ahead := f[4*24*60+7*60+45], f[4*24*60+7*60+58]
	if before > 1.25*20 || ahead < 32 {
		t.Fatalf("forecast %v at 07:45, %v at 07:58; want about 20, then the 32 of 08:02", before, ahead)
	}
	// Causal: changing the future changes no forecast before it.
	z := slices.Clone(y)
	for k := 4*24*60 + 8*60; k < len(z); k++ {
		z[k] *= 3
	}
	g, err := Rolling{}.Forecast(context.Background(), start, time.Minute, z, lead)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 4*24*60 + 8*60 {
		if f[k] != g[k] && !(math.IsNaN(f[k]) && math.IsNaN(g[k])) {
			t.Fatalf("slot %d: forecast %v became %v when only later load changed", k, f[k], g[k])
		}
	}
}

// subscribeAppends returns the values appended to the history stream from
// now on, as they reach its subjects.
func subscribeAppends(t *testing.T, url string) <-chan *nats.Msg {
	t.Helper()
	appended := make(chan *nats.Msg, 64)
	nc := natstest.Connect(t, url)
	if _, err := nc.ChanSubscribe("rtcscale.history.v1.>", appended); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return appended
}

// TestLiveRun runs the whole loop on the wall clock with one-second steps:
// it opens the store, records every step and stops with its context.
func TestLiveRun(t *testing.T) {
	srv := natstest.Start(t, natstest.JetStream(t.TempDir()))
	st, _ := openStore(t, srv.ClientURL())
	appended := subscribeAppends(t, srv.ClientURL())
	f := newFleet(t, time.Now(), time.Minute)
	f.publish(f.clock.Now(), 10) // fresh for as long as the fleet's clock stands still
	l, err := NewLive(f.src, LiveConfig{Step: time.Second, Keep: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, func(context.Context) (*Store, error) { return st, nil })
	}()
	timeout := time.After(20 * time.Second)
	for n := 0; n < 4; n++ { // two gauges, two steps
		select {
		case <-appended:
		case <-timeout:
			t.Fatalf("Run appended %d values in 20 s", n)
		}
	}
	cancel()
	<-done
	if v, ok := l.Forecast("voice", asterisk, "calls", 10); !ok || v != 10 {
		t.Fatalf("forecast %v %v", v, ok)
	}
}

// TestLiveRunTicksOnItsClock runs the loop on a clock of the test's, as the
// demo runs it on its faster one: Run records the step of that clock's now
// and waits on that clock's After until the middle of the next step.
func TestLiveRunTicksOnItsClock(t *testing.T) {
	srv := natstest.Start(t, natstest.JetStream(t.TempDir()))
	st, _ := openStore(t, srv.ClientURL())
	t0 := time.Date(2024, 6, 6, 8, 0, 10, 0, time.UTC)
	// A minute already stored, so that a first tick that comes before the
	// store is attached is appended when Load merges it.
	if err := st.Append(context.Background(), SeriesKey("voice", asterisk, "calls"), time.Minute, t0.Add(-time.Minute), 10); err != nil {
		t.Fatal(err)
	}
	appended := subscribeAppends(t, srv.ClientURL())
	f := newFleet(t, t0, time.Minute)
	f.publish(t0, 10)
	type wait struct {
		d    time.Duration
		wake chan time.Time
	}
	waits := make(chan wait, 8) // After must not block Run once the test stops listening
	cfg := LiveConfig{Gauges: []string{"calls"}, After: func(d time.Duration) <-chan time.Time {
		w := wait{d, make(chan time.Time, 1)}
		waits <- w
		return w.wake
	}}
	l := newTestLive(t, f, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, func(context.Context) (*Store, error) { return st, nil })
	}()
	defer func() { cancel(); <-done }()
	timeout := time.After(20 * time.Second)
	next := func() wait {
		t.Helper()
		select {
		case w := <-waits:
			return w
		case <-timeout:
			t.Fatal("Run did not wait on its clock")
		}
		return wait{}
	}
	slot := func() time.Time {
		t.Helper()
		select {
		case m := <-appended:
			var v struct{ T int64 }
			if err := json.Unmarshal(m.Data, &v); err != nil {
				t.Fatal(err)
			}
			return time.Unix(v.T, 0).UTC()
		case <-timeout:
			t.Fatal("Run appended nothing")
		}
		return time.Time{}
	}
	if w := next(); w.d != 0 {
		t.Fatalf("first wait %s, want an immediate tick", w.d)
	} else {
		w.wake <- t0
	}
	if got := slot(); !got.Equal(t0.Truncate(time.Minute)) {
		t.Fatalf("first tick recorded %s, want the step of the clock's %s", got, t0)
	}
	// 08:00:10 to the middle of the next step, 08:00:30, on the clock.
	w := next()
	if w.d != 20*time.Second {
		t.Fatalf("Run waits %s for its next tick, want 20s of its clock", w.d)
	}
	t1 := t0.Add(80 * time.Second) // 08:01:30
	f.publish(t1, 12)
	w.wake <- t1
	if got := slot(); !got.Equal(t1.Truncate(time.Minute)) {
		t.Fatalf("second tick recorded %s, want %s", got, t1.Truncate(time.Minute))
	}
}
