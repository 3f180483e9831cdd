package collector

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/sample"
)

// TestGaugeNamesAreFreed: a namespace's publisher that fills the gauge-name
// table locks the others out only while its pods hold the names: a name no
// pod holds (the pod switched gauges, was deleted, or went stale and was
// swept) is freed and its place taken by another.
func TestGaugeNamesAreFreed(t *testing.T) {
	s, c := newTestStore(Options{MaxGaugeNames: 3})
	g := func(name string) sample.Gauge { return sample.Gauge{Name: name, Value: 1} }
	s.UpsertPod(readyPod("voice", "a-1", "a", Workload{}))
	mustIngest(t, s, smp("voice", "a-1", t0, calls(1)))
	mustIngest(t, s, smp("evil", "bogus-1", t0, g("x1"), g("x2")))
	if r := s.Ingest(smp("voice", "a-1", t0.Add(time.Millisecond), calls(1), g("channels"))); r != sample.ReasonGaugeNameLimit {
		t.Fatalf("with the table full: %s, want gauge_name_limit", r)
	}

	// The unknown pod goes stale and is swept: its names go with it.
	c.Add(16 * time.Second)
	s.Sweep()
	mustIngest(t, s, smp("voice", "a-1", c.Now(), calls(2), g("channels")))
	if got := s.Gauges(); !slices.Equal(got, []string{"calls", "channels"}) {
		t.Fatalf("after the sweep: gauges %v, want calls and channels", got)
	}

	// A pod that stops publishing a gauge frees it; one still held by
	// another pod stays.
	s.UpsertPod(readyPod("voice", "a-2", "a", Workload{}))
	mustIngest(t, s, smp("voice", "a-2", c.Now(), calls(1), g("stress")))
	mustIngest(t, s, smp("voice", "a-1", c.Now().Add(time.Millisecond), g("channels")))
	if got := s.Gauges(); !slices.Equal(got, []string{"calls", "channels", "stress"}) {
		t.Fatalf("a-2 still holds calls: gauges %v", got)
	}
	mustIngest(t, s, smp("voice", "a-2", c.Now().Add(time.Millisecond), g("stress")))
	if got := s.Gauges(); !slices.Equal(got, []string{"channels", "stress"}) {
		t.Fatalf("no pod holds calls: gauges %v", got)
	}
	// A deleted pod frees its names; a new name reuses the free place.
	s.DeletePod("voice", "a-2")
	mustIngest(t, s, smp("voice", "a-1", c.Now().Add(2*time.Millisecond), g("channels"), g("calls"), g("bitrate_in")))
	if got := s.Gauges(); !slices.Equal(got, []string{"channels", "calls", "bitrate_in"}) {
		t.Fatalf("after a-2's deletion: gauges %v", got)
	}
	if got := podValues(s, "voice", "app=a", "bitrate_in"); got["a-1"] != 1 {
		t.Fatalf("a reused ID serves the new name's value: %v", got)
	}
	if _, ok := s.gaugeID("stress"); ok {
		t.Fatal("the freed name stress still resolves")
	}
}

// TestGaugeNamesCannotWrap: the table holds at most GaugeNamesLimit names
// (their IDs are 16 bits), whatever limit it is given (the command refuses
// a larger one at start-up).
func TestGaugeNamesCannotWrap(t *testing.T) {
	s, _ := newTestStore(Options{MaxGaugeNames: 1 << 20})
	gauges := make([]sample.Gauge, sample.MaxGauges)
	next := 0
	for pod := 0; next < GaugeNamesLimit; pod++ {
		n := min(sample.MaxGauges, GaugeNamesLimit-next)
		for i := range n {
			gauges[i] = sample.Gauge{Name: fmt.Sprintf("g%d", next+i), Value: float64(next + i)}
		}
		name := fmt.Sprintf("p%d", pod)
		s.UpsertPod(readyPod("wide", name, "a", Workload{}))
		mustIngest(t, s, smp("wide", name, t0, gauges[:n]...))
		next += n
	}
	if r := s.Ingest(smp("wide", "p0", t0.Add(time.Millisecond), sample.Gauge{Name: "last", Value: 1})); r != sample.ReasonGaugeNameLimit {
		t.Fatalf("name %d: %s, want gauge_name_limit", GaugeNamesLimit+1, r)
	}
	// Every name still reads its own value: no ID was given twice.
	for i := range GaugeNamesLimit {
		pod, name := fmt.Sprintf("p%d", i/sample.MaxGauges), fmt.Sprintf("g%d", i)
		if v, _, ok := s.PodValue("wide", pod, name, labels.Everything()); !ok || v.Value != float64(i) {
			t.Fatalf("%s of %s: %+v, want %d", name, pod, v, i)
		}
	}
}
