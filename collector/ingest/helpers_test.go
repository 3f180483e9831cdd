package ingest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/klogtest"
	"github.com/rtcscale/rtcscale/sample"
)

func TestMain(m *testing.M) { klogtest.Main(m) }

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// clock is a test clock that NATS's delivery goroutine may read while the
// test moves it.
type clock struct{ at atomic.Int64 } // Unix nanoseconds

func newClock(t time.Time) *clock {
	c := &clock{}
	c.at.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.at.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.at.Add(int64(d)) }

// newTestStore is a store on a clock at t0.
func newTestStore(opts collector.Options) (*collector.Store, *clock) {
	c := newClock(t0)
	opts.Now = c.Now
	return collector.NewStore(opts, nil), c
}

// smp is an Asterisk pod's sample.
func smp(ns, pod string, at time.Time, gauges ...sample.Gauge) *sample.Sample {
	return &sample.Sample{Kind: sample.KindAsterisk, Namespace: ns, Pod: pod, Region: "eu", Time: at, Interval: 5 * time.Second, Gauges: gauges}
}

func calls(v float64) sample.Gauge { return sample.Gauge{Name: sample.GaugeCalls, Value: v} }

// readyPod is a pod labelled app=app, Ready for an hour at t0.
func readyPod(ns, name, app string, owner collector.Workload) collector.PodInfo {
	return collector.PodInfo{Namespace: ns, Name: name, Labels: map[string]string{"app": app}, Owner: owner, Ready: true, ReadySince: t0.Add(-time.Hour)}
}

// mustIngest stores x straight into s, past the subscription.
func mustIngest(t *testing.T, s *collector.Store, x *sample.Sample) {
	t.Helper()
	if r := s.Ingest(x); r != sample.Accepted {
		t.Fatalf("sample for %s/%s rejected: %s", x.Namespace, x.Pod, r.Description())
	}
}

// served is what the Pods metric of gauge serves in ns for the pods that
// selector picks, by pod.
func served(t *testing.T, s *collector.Store, ns, selector, gauge string) map[string]float64 {
	t.Helper()
	sel, err := labels.Parse(selector)
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := s.PodValues(ns, sel, gauge, labels.Everything(), nil)
	out := make(map[string]float64, len(vals))
	for _, v := range vals {
		out[v.Pod] = v.Value
	}
	return out
}

// accepted reads rtcscale_samples_accepted_total from reg, as Prometheus
// would scrape it.
func accepted(t testing.TB, reg prometheus.Gatherer) float64 {
	return counter(t, reg, "rtcscale_samples_accepted_total", "")
}

// rejected reads rtcscale_samples_rejected_total{reason}.
func rejected(t testing.TB, reg prometheus.Gatherer, r sample.Reason) float64 {
	return counter(t, reg, "rtcscale_samples_rejected_total", r.String())
}

// counter is the value of the counter name, of the series whose reason
// label is reason ("" for a counter without labels), from reg.
func counter(t testing.TB, reg prometheus.Gatherer, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					got = l.GetValue()
				}
			}
			if got == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("%s{reason=%q} not registered", name, reason)
	return 0
}
