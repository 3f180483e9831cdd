package ingest

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/klogtest"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// inventedPods calls send with one sample per invented pod name in
// namespace ns, as a broken or hostile publisher sends them: every one a
// new series. body is reused between calls.
func inventedPods(ns string, n int, at time.Time, send func(subject string, body []byte)) {
	s := sample.Sample{Kind: sample.KindAsterisk, Namespace: ns, Time: at, Interval: 5 * time.Second, Gauges: []sample.Gauge{calls(1)}}
	pod := []byte("bogus-0000000")
	var buf []byte
	for i := range n {
		for j, k := len(pod)-1, i; j >= len(pod)-7; j, k = j-1, k/10 {
			pod[j] = byte('0' + k%10)
		}
		s.Pod = string(pod)
		buf = s.AppendJSON(buf[:0])
		send(s.Subject(sample.DefaultSubjectPrefix), buf)
	}
}

// flood hands n invented pods' samples straight to sub.
func flood(sub *Subscriber, ns string, n int, at time.Time) {
	inventedPods(ns, n, at, func(subject string, body []byte) { sub.HandleMessage(subject, body) })
}

// TestFloodOfInventedPods: publishers inventing 52,000 pod names in two
// namespaces (BenchmarkFlood sends a million) and one inventing gauge names
// are held to their quotas: the store keeps at most the limits, every
// refusal is counted, the log says so once per ten seconds per reason, and
// a legitimate namespace keeps being served.
func TestFloodOfInventedPods(t *testing.T) {
	logs := klogtest.Capture(t)
	reg := prometheus.NewRegistry()
	m := collector.NewMetrics(reg)
	c := newClock(t0)
	store := collector.NewStore(collector.Options{MaxUnknownSeries: 1000, MaxUnknownSeriesPerNamespace: 500, MaxGaugeNames: 8, Now: c.Now}, m)
	sub := NewSubscriber(store, sample.DefaultSubjectPrefix, nil)
	store.UpsertPod(readyPod("voice", "a-1", "a", collector.Workload{}))
	mustIngest(t, store, smp("voice", "a-1", t0, calls(5)))

	const bulk, viaNATS = 50000, 2000

	flood(sub, "evil", bulk, t0)
	// More of the same through a real server, on the collector's own
	// subscription.
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv.ClientURL())
	if err := sub.Start(nc); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	pub := natstest.Connect(t, srv.ClientURL())
	inventedPods("evil2", viaNATS, t0, func(subject string, body []byte) {
		if err := pub.Publish(subject, body); err != nil {
			t.Fatal(err)
		}
	})
	// And a publisher inventing gauge names, one new name per sample,
	// holding its last seven (a name no pod holds is freed).
	for i := range 100 {
		gs := []sample.Gauge{calls(5)}
		for j := max(0, i-6); j <= i; j++ {
			gs = append(gs, sample.Gauge{Name: fmt.Sprintf("g%d", j), Value: 1})
		}
		x := smp("voice", "a-1", t0.Add(time.Duration(i+1)*time.Millisecond), gs...)
		if err := pub.Publish(x.Subject(sample.DefaultSubjectPrefix), x.AppendJSON(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	// evil fills its namespace's quota of unknown pods (500), evil2 what
	// is left of the total (1000 - 500); voice's known pod is in neither.
	wantRefused := float64(bulk - 500 + viaNATS - 500)
	waitFor(t, "the flood counted", func() bool {
		return rejected(t, reg, sample.ReasonSeriesLimit) == wantRefused &&
			rejected(t, reg, sample.ReasonGaugeNameLimit) == 100-7
	})
	// Let the subscription's goroutine finish before the log capture ends.
	if err := nc.Drain(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "drained", nc.IsClosed)
	if st := store.Stats(); st.Unknown != 1000 || st.Series != 1001 || st.GaugeNames != 8 {
		t.Fatalf("after the flood the store holds %+v; want 1000 unknown pods' series (their total limit), voice's, and 8 gauge names", st)
	}
	// The log: one line per reason in ten seconds, however many refusals.
	if n := logs.Count("Rejected load sample", `"reason"="series_limit"`); n != 1 {
		t.Fatalf("%d log lines for series_limit, want 1:\n%s", n, logs)
	}
	if n := logs.Count("Rejected load sample", `"reason"="gauge_name_limit"`); n != 1 {
		t.Fatalf("%d log lines for gauge_name_limit, want 1", n)
	}
	// The legitimate namespace is untouched and keeps being served.
	mustIngest(t, store, smp("voice", "a-1", t0.Add(time.Second), calls(6)))
	if got := served(t, store, "voice", "app=a", "calls"); got["a-1"] != 6 {
		t.Fatalf("voice after the flood: %v", got)
	}
	// When the invented series go stale they are swept, and the quota is
	// free again.
	c.Add(time.Minute)
	store.Sweep()
	if st := store.Stats(); st.Series != 0 {
		t.Fatalf("after the sweep: %+v", st)
	}
}

// TestRejectionLogIsRateLimited: the first refusal of a reason is logged
// with how many were suppressed since; the rest of the ten seconds only
// count.
func TestRejectionLogIsRateLimited(t *testing.T) {
	logs := klogtest.Capture(t)
	store, c := newTestStore(collector.Options{})
	sub := NewSubscriber(store, sample.DefaultSubjectPrefix, nil)
	for range 1000 {
		sub.HandleMessage("rtcscale.load.v1.x", []byte("{"))
	}
	if n := logs.Count("Rejected load sample", "malformed"); n != 1 {
		t.Fatalf("%d lines", n)
	}
	if got := sub.suppressed[sample.ReasonMalformed]; got != 999 {
		t.Fatalf("suppressed %d, want 999", got)
	}
	c.Add(rejectLogEvery)
	sub.HandleMessage("rtcscale.load.v1.x", []byte("{"))
	c.Add(rejectLogEvery - time.Millisecond)
	sub.HandleMessage("rtcscale.load.v1.x", []byte("{"))
	if n := logs.Count("Rejected load sample", `"alsoRejectedSinceLastLog"=999`); n != 1 {
		t.Fatalf("the next line does not report the 999 suppressed:\n%s", logs)
	}
}

// BenchmarkFlood sends a million samples of invented pod names, each a new
// series, into one namespace of a collector with the default limits, and
// reports the heap it holds afterwards: bounded by the per-namespace quota
// of pods the cluster does not know (1,000 series), not by the flood.
func BenchmarkFlood(b *testing.B) {
	const n = 1000000
	now := time.Now()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		reg := prometheus.NewRegistry()
		store := collector.NewStore(collector.Options{Now: func() time.Time { return now }}, collector.NewMetrics(reg))
		flood(NewSubscriber(store, sample.DefaultSubjectPrefix, nil), "evil", n, now)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if st := store.Stats(); st.Series != 1000 {
			b.Fatalf("%+v", st)
		}
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "MiB-heap-held")
		b.ReportMetric(rejected(b, reg, sample.ReasonSeriesLimit), "refused")
		runtime.KeepAlive(store)
	}
}
