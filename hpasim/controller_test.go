package hpasim

import (
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
)

// world is a minimal scale target for Sync-level tests: every pod exists
// and is ready as soon as the HPA asks for it, and the HPA reads one
// External metric (the total load, or a failure).
type world struct {
	t        *testing.T
	c        *Controller
	replicas int32
	now      time.Time
}

func newWorld(t *testing.T, h *autoscalingv2.HorizontalPodAutoscaler, replicas int32) *world {
	return &world{t: t, c: New(mustCompile(t, h)), replicas: replicas, now: t0}
}

// sync runs one sync with the given external total (negative: the metric
// fails) and advances the clock by the default period.
func (w *world) sync(total float64) Decision {
	w.t.Helper()
	r := w.replicas
	obs := []Observation{{Milli: Milli(total), Failed: total < 0}}
	d, err := w.c.Sync(w.now, Target{SpecReplicas: r, StatusReplicas: r, Pods: r, ReadyPods: r}, obs)
	if err != nil {
		w.t.Fatal(err)
	}
	w.replicas = d.Replicas
	w.now = w.now.Add(15 * time.Second)
	return d
}

// run syncs n times with the same total and returns the replicas after each.
func (w *world) run(n int, total float64) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = w.sync(total).Replicas
	}
	return out
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReplicaLimits mirrors upstream's TestReplicaLimits and the first
// branches of reconcileAutoscaler: outside [min, max] the target is brought
// back without reading metrics, even failing ones.
func TestReplicaLimits(t *testing.T) {
	w := newWorld(t, hpa(ptr(int32(2)), 6, nil, externalMetric("calls", "10", true)), 9)
	if d := w.sync(-1); d.Replicas != 6 || d.Reason != ReasonAboveMax || !d.Rescaled {
		t.Fatalf("above max: %+v", d)
	}
	w.replicas = 1
	if d := w.sync(-1); d.Replicas != 2 || d.Reason != ReasonBelowMin {
		t.Fatalf("below min: %+v", d)
	}
}

// TestScaleDownStabilizeInitialSize mirrors upstream's test of the same
// name: the first sync records the current count as a recommendation, so a
// new HPA does not scale down for a full window.
func TestScaleDownStabilizeInitialSize(t *testing.T) {
	w := newWorld(t, hpa(nil, 20, nil, externalMetric("calls", "10", true)), 5)
	got := w.run(22, 20) // wants 2
	// Syncs at 0..300 s see the initial 5 (a sample exactly one window old
	// still counts without behavior); the one at 315 s scales down.
	want := []int32{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 2}
	if !equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

// TestStabilizeDownscale mirrors upstream's test of the same name over
// time: after a peak the HPA keeps the highest recommendation of the
// window and follows the load down as the window slides.
func TestStabilizeDownscale(t *testing.T) {
	w := newWorld(t, hpa(nil, 20, nil, externalMetric("calls", "10", true)), 4)
	w.run(21, 40) // settle at 4 beyond the initial window
	if d := w.sync(80); d.Replicas != 8 {
		t.Fatalf("scale-up: %+v", d)
	}
	got := w.run(21, 40) // wants 4
	for i, r := range got[:20] {
		if r != 8 {
			t.Fatalf("sync %d after the peak: %d replicas, want 8 (stabilized) in %v", i+1, r, got)
		}
	}
	if got[20] != 4 {
		t.Fatalf("after the window: %v", got)
	}
}

// TestUpscaleCap mirrors upstream's TestUpscaleCap and
// TestUpscaleCapGreaterThanMaxReplicas: without behavior a sync at most
// doubles the replicas (or brings them to 4), and never past max.
func TestUpscaleCap(t *testing.T) {
	w := newWorld(t, hpa(nil, 30, nil, externalMetric("calls", "10", true)), 1)
	got := w.run(5, 1000)
	if want := []int32{4, 8, 16, 30, 30}; !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestScalingWithDefaultBehavior runs the defaults an empty behavior gets:
// scale-up by max(4 pods, 100%) per 15 s with no window, scale-down by 100%
// per 15 s after the controller's 5-minute window.
func TestScalingWithDefaultBehavior(t *testing.T) {
	b := &autoscalingv2.HorizontalPodAutoscalerBehavior{}
	w := newWorld(t, hpa(nil, 100, b, externalMetric("calls", "10", true)), 1)
	if got, want := w.run(5, 1000), []int32{5, 10, 20, 40, 80}; !equal(got, want) {
		t.Fatalf("scale-up: got %v, want %v", got, want)
	}
	got := w.run(21, 50) // wants 5
	// With behavior the window is (now-300s, now]: the sample of the 20th
	// sync back no longer counts, so the scale-down comes one sync earlier
	// than without behavior.
	if got[18] != 80 || got[19] != 5 {
		t.Fatalf("scale-down: %v", got)
	}
}

// TestScaleUpPolicyPeriod checks that the policies count from the replicas
// at the start of their period, with events stored by Sync itself.
func TestScaleUpPolicyPeriod(t *testing.T) {
	b := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rulesOf(2, 60, 0, 0, 0)}
	w := newWorld(t, hpa(nil, 100, b, externalMetric("calls", "10", true)), 1)
	got := w.run(9, 1000)
	// +2 per 60 s: two pods at once, then nothing until the first event
	// leaves the period (strictly older than 60 s).
	if want := []int32{3, 3, 3, 3, 5, 5, 5, 5, 7}; !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestScaleUpStabilizationWindow: a scale-up window takes the lowest
// recommendation of the window, so a short spike does not scale up.
func TestScaleUpStabilizationWindow(t *testing.T) {
	b := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rulesOf(100, 15, 0, 0, 60)}
	w := newWorld(t, hpa(nil, 100, b, externalMetric("calls", "10", true)), 2)
	w.run(21, 20)
	if got := w.run(3, 100); !equal(got, []int32{2, 2, 2}) {
		t.Fatalf("spike: %v", got)
	}
	w.run(1, 20)
	got := w.run(6, 100)
	// The low sample holds the next three syncs back; at 60 s it has left
	// the window (now-60s, now].
	if want := []int32{2, 2, 2, 10, 10, 10}; !equal(got, want) {
		t.Fatalf("sustained: got %v, want %v", got, want)
	}
}

// TestConfigurableTolerance mirrors upstream's test of the same name:
// behavior.scaleUp/scaleDown.tolerance override the global 10% per
// direction.
func TestConfigurableTolerance(t *testing.T) {
	b := &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   &autoscalingv2.HPAScalingRules{Tolerance: ptr(resource.MustParse("0.01"))},
		ScaleDown: &autoscalingv2.HPAScalingRules{Tolerance: ptr(resource.MustParse("0.5")), StabilizationWindowSeconds: ptr(int32(0))},
	}
	w := newWorld(t, hpa(nil, 100, b, externalMetric("calls", "10", false)), 10)
	if d := w.sync(10.5); d.Replicas != 11 {
		t.Fatalf("5%% over a 1%% scale-up tolerance: %+v", d)
	}
	if d := w.sync(6.5); d.Replicas != 11 {
		t.Fatalf("41%% under a 50%% scale-down tolerance: %+v", d)
	}
	if d := w.sync(4.0); d.Replicas != 5 {
		t.Fatalf("60%% under a 50%% scale-down tolerance: %+v", d)
	}
}

// TestMetricsFailedBlocks: a failed sync keeps the replicas and records no
// recommendation (reconcileAutoscaler returns before normalizing).
func TestMetricsFailedBlocks(t *testing.T) {
	w := newWorld(t, hpa(nil, 100, nil, externalMetric("calls", "10", true)), 4)
	if d := w.sync(-1); d.Replicas != 4 || d.Reason != ReasonMetricsFailed || d.Rescaled || d.Proposal != -1 {
		t.Fatalf("%+v", d)
	}
	if len(w.c.recs) != 1 {
		t.Fatalf("recommendations %+v, want the initial one only", w.c.recs)
	}
}

// TestScaleToZero mirrors upstream's TestScaleToZeroBehavior: with
// minReplicas 0 and an External metric the HPA scales to zero and, having
// done so itself, scales back up; a target someone else scaled to zero is
// left alone.
func TestScaleToZero(t *testing.T) {
	b := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(0))}}
	w := newWorld(t, hpa(ptr(int32(0)), 10, b, externalMetric("calls", "10", true)), 2)
	if d := w.sync(0); d.Replicas != 0 || !d.Rescaled {
		t.Fatalf("to zero: %+v", d)
	}
	if d := w.sync(0); d.Replicas != 0 || d.Reason != ReasonMetrics {
		t.Fatalf("at zero, idle: %+v", d)
	}
	if d := w.sync(25); d.Replicas != 3 {
		t.Fatalf("from zero: %+v", d)
	}

	manual := newWorld(t, hpa(ptr(int32(0)), 10, b, externalMetric("calls", "10", true)), 0)
	if d := manual.sync(25); d.Replicas != 0 || d.Reason != ReasonScalingDisabled || d.Rescaled {
		t.Fatalf("scaled to zero by hand: %+v", d)
	}
}

func TestSyncRejectsBadInput(t *testing.T) {
	c := New(mustCompile(t, hpa(nil, 10, nil, externalMetric("calls", "10", true))))
	if _, err := c.Sync(t0, Target{SpecReplicas: 1}, nil); err == nil {
		t.Fatal("missing observation accepted")
	}
	if _, err := c.Sync(t0, Target{SpecReplicas: -1}, make([]Observation, 1)); err == nil {
		t.Fatal("negative replicas accepted")
	}
}

// TestSyncDoesNotAllocate: the replay runs Sync about a million times per
// mode, so once the history has its steady size a sync allocates nothing.
func TestSyncDoesNotAllocate(t *testing.T) {
	for name, b := range map[string]*autoscalingv2.HorizontalPodAutoscalerBehavior{"no behavior": nil, "behavior": {}} {
		w := newWorld(t, hpa(nil, 50, b, podsMetric("calls", "80"), externalMetric("total", "80", true)), 3)
		obs := make([]Observation, 2)
		i := 0
		step := func() {
			load := 100 + float64(i%97)*30
			obs[0] = Observation{Pods: PodValues{WithValue: w.replicas, SumMilli: Milli(load)}}
			obs[1] = Observation{Milli: Milli(load)}
			r := w.replicas
			d, _ := w.c.Sync(w.now, Target{r, r, r, r}, obs)
			w.replicas = d.Replicas
			w.now = w.now.Add(15 * time.Second)
			i++
		}
		for range 1000 {
			step()
		}
		if a := testing.AllocsPerRun(1000, step); a != 0 {
			t.Errorf("%s: %.2f allocations per sync", name, a)
		}
	}
}

func BenchmarkSync(b *testing.B) {
	for name, bh := range map[string]*autoscalingv2.HorizontalPodAutoscalerBehavior{"no-behavior": nil, "behavior": {}} {
		b.Run(name, func(b *testing.B) {
			spec, err := Compile(hpa(nil, 50, bh, podsMetric("calls", "80")), DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			c := New(spec)
			obs := make([]Observation, 1)
			now, r := t0, int32(3)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				obs[0].Pods = PodValues{WithValue: r, SumMilli: Milli(100 + float64(i%97)*30)}
				d, _ := c.Sync(now, Target{r, r, r, r}, obs)
				r = d.Replicas
				now = now.Add(15 * time.Second)
			}
		})
	}
}

func TestCompileDefaultsAndValidation(t *testing.T) {
	s := mustCompile(t, hpa(nil, 10, &autoscalingv2.HorizontalPodAutoscalerBehavior{}, podsMetric("calls", "80")))
	if s.MinReplicas != 1 || !s.Behavior || s.ToleranceUp != 0.1 || s.ToleranceDown != 0.1 {
		t.Fatalf("defaults: %+v", s)
	}
	if s.up.window != 0 || len(s.up.policies) != 2 || s.up.longest != int64(15*time.Second) {
		t.Fatalf("scaleUp defaults: %+v", s.up)
	}
	if s.down.window != int64(5*time.Minute) || len(s.down.policies) != 1 || !s.down.policies[0].percent {
		t.Fatalf("scaleDown defaults: %+v", s.down)
	}
	if s.Metrics[0].TargetMilli != 80000 || s.Metrics[0].Kind != PodsMetric {
		t.Fatalf("metric: %+v", s.Metrics[0])
	}

	bad := map[string]*autoscalingv2.HorizontalPodAutoscaler{
		"maxReplicas 0":      hpa(nil, 0, nil, podsMetric("calls", "80")),
		"min above max":      hpa(ptr(int32(5)), 4, nil, podsMetric("calls", "80")),
		"no metrics":         hpa(nil, 4, nil),
		"zero min, pods":     hpa(ptr(int32(0)), 4, nil, podsMetric("calls", "80")),
		"zero target":        hpa(nil, 4, nil, podsMetric("calls", "0")),
		"negative target":    hpa(nil, 4, nil, externalMetric("calls", "-1", false)),
		"resource metric":    hpa(nil, 4, nil, autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType}),
		"empty policies":     hpa(nil, 4, &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{}}}, podsMetric("calls", "80")),
		"long period":        hpa(nil, 4, &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rulesOf(1, 1801, 0, 0, 0)}, podsMetric("calls", "80")),
		"long window":        hpa(nil, 4, &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rulesOf(1, 60, 0, 0, 3601)}, podsMetric("calls", "80")),
		"bad select":         hpa(nil, 4, &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: withSelect(rulesOf(1, 60, 0, 0, 0), "Most")}, podsMetric("calls", "80")),
		"negative tolerance": hpa(nil, 4, &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{Tolerance: ptr(resource.MustParse("-0.1"))}}, podsMetric("calls", "80")),
		"object type mismatch": func() *autoscalingv2.HorizontalPodAutoscaler {
			m := objectMetric("calls", "10", true)
			m.Object.Target.Type = autoscalingv2.ValueMetricType
			return hpa(nil, 4, nil, m)
		}(),
	}
	for name, h := range bad {
		if _, err := Compile(h, DefaultConfig()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

const manifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: kamailio
spec: {}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: kamailio
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: kamailio}
  minReplicas: 2
  maxReplicas: 60
  metrics:
  - type: Pods
    pods:
      metric: {name: sip_active_calls}
      target: {type: AverageValue, averageValue: "80"}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 600
      policies: [{type: Pods, value: 2, periodSeconds: 60}]
`

func TestReadHPA(t *testing.T) {
	h, err := ReadHPA(strings.NewReader(manifest))
	if err != nil {
		t.Fatal(err)
	}
	s := mustCompile(t, h)
	if s.MinReplicas != 2 || s.MaxReplicas != 60 || s.Metrics[0].Name != "sip_active_calls" || s.down.window != int64(10*time.Minute) || s.down.policies[0].value != 2 {
		t.Fatalf("%+v", s)
	}
	for name, in := range map[string]string{
		"no hpa":        "apiVersion: v1\nkind: Service\n",
		"v1 hpa":        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nspec: {maxReplicas: 3}\n",
		"unknown field": strings.Replace(manifest, "minReplicas: 2", "minReplica: 2", 1),
		"two hpas":      manifest + "---\n" + manifest[strings.Index(manifest, "apiVersion: autoscaling"):],
		"not yaml":      "{{{",
	} {
		if _, err := ReadHPA(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
