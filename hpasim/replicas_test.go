package hpasim

import (
	"math"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
)

// pods builds the PodValues of a Pods metric: one entry per Running pod
// with a value (in thousandths), plus missing and pending pods.
func pods(missing, pending int32, milli ...int64) PodValues {
	var p PodValues
	for _, m := range milli {
		p.Add(PodRunning, m, true)
	}
	for range missing {
		p.Add(PodRunning, 0, false)
	}
	for range pending {
		p.Add(PodPending, 123456, true) // a pending pod's value is ignored
	}
	return p
}

// TestCalcPlainMetricReplicas mirrors upstream's TestReplicaCalcPodMetric
// and the custom-metric cases of TestReplicaCalcScale*: mean per pod over
// target, the missing-pod and unready-pod corrections, and the guards
// against a correction that flips the direction.
func TestCalcPlainMetricReplicas(t *testing.T) {
	for _, tc := range []struct {
		name      string
		current   int32
		target    int64
		tolerance *float64 // scale-up tolerance, else 0.1
		p         PodValues
		want      int32
		fails     bool
	}{
		{name: "scale up", current: 3, target: 15000, p: pods(0, 0, 20000, 10000, 30000), want: 4},
		{name: "not-ready Running pods count with their value", current: 3, target: 15000, p: pods(0, 0, 50000, 10000, 30000), want: 6},
		{name: "scale down", current: 5, target: 20000, p: pods(0, 0, 12000, 12000, 12000, 12000, 12000), want: 3},
		{name: "within default tolerance", current: 3, target: 20000, p: pods(0, 0, 20000, 21000, 21000), want: 3},
		{name: "outside a 1% scale-up tolerance", current: 3, target: 20000, tolerance: ptr(0.01), p: pods(0, 0, 20000, 21000, 21000), want: 4},
		{name: "tolerance bound is inclusive", current: 4, target: 10000, p: pods(0, 0, 11000, 11000, 11000, 11000), want: 4},
		{name: "just outside tolerance", current: 4, target: 10000, p: pods(0, 0, 11001, 11001, 11001, 11001), want: 5},
		{name: "mean is integer division of thousandths", current: 3, target: 1000, p: pods(0, 0, 1100, 1100, 1101), want: 3},
		// Missing pods: at target on a scale-down, zero on a scale-up.
		{name: "no change: missing pods at target", current: 5, target: 20000, p: pods(2, 0, 20000, 19000, 21000), want: 5},
		{name: "scale down: missing pods at target dampen it", current: 4, target: 10000, p: pods(1, 0, 2000, 2000, 2000), want: 2},
		{name: "scale up: missing pods count zero", current: 4, target: 10000, p: pods(1, 0, 30000, 30000, 30000), want: 9},
		{name: "rolling update: missing pod flips to scale-up, keep", current: 2, target: 17000, p: pods(1, 0, 10000, 10000), want: 2},
		{name: "scale up: missing pod pulls the ratio into tolerance", current: 4, target: 10000, p: pods(1, 0, 13000, 13000, 13000), want: 4},
		// Pending pods: ignored unless scaling up, then zero.
		{name: "scale down ignores pending pods", current: 4, target: 10000, p: pods(0, 2, 5000, 5000), want: 1},
		{name: "scale up: pending pods count zero", current: 4, target: 10000, p: pods(0, 2, 20000, 20000), want: 4},
		{name: "scale up: pending pods count zero, still up", current: 4, target: 10000, p: pods(0, 1, 30000, 30000), want: 6},
		{name: "scale up: pending pods flip direction, keep", current: 3, target: 10000, p: pods(0, 3, 15000, 15000, 15000), want: 3},
		{name: "no scale up when the new count is lower", current: 8, target: 10000, p: pods(0, 2, 20000, 20000, 20000), want: 8},
		{name: "pending pods and scale-down", current: 4, target: 10000, p: pods(0, 1, 8000, 8000, 8000), want: 3},
		{name: "no values: error", current: 3, target: 10000, p: pods(2, 1), fails: true},
		{name: "no pods: error", current: 0, target: 10000, p: pods(0, 0), fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hpa(nil, 100, nil, podsMetric("calls", "10"))
			if tc.tolerance != nil {
				h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleUp: &autoscalingv2.HPAScalingRules{Tolerance: ptr(resource.MustParse("10m"))},
				}
			}
			c := New(mustCompile(t, h))
			if tc.tolerance != nil {
				c.spec.ToleranceUp = *tc.tolerance
			}
			got, ok := c.podsReplicas(tc.current, tc.target, &tc.p)
			if ok == tc.fails {
				t.Fatalf("ok=%v, want failure %v", ok, tc.fails)
			}
			if ok && got != tc.want {
				t.Fatalf("got %d replicas, want %d", got, tc.want)
			}
		})
	}
}

// TestObjectAndExternalReplicas mirrors upstream's TestReplicaCalcObjectMetric,
// TestReplicaCalcObjectPerPodMetric, TestReplicaCalcExternalMetric and
// TestReplicaCalcExternalPerPodMetric: a Value target scales the ready pods
// by value/target, an AverageValue target asks for ceil(value/target) unless
// the usage per status replica is within tolerance.
func TestObjectAndExternalReplicas(t *testing.T) {
	for _, tc := range []struct {
		name  string
		m     autoscalingv2.MetricSpec
		t     Target
		milli int64
		want  int32
		fails bool
	}{
		{name: "object value: scale up by ready pods", m: objectMetric("calls", "10", false), t: Target{3, 3, 3, 3}, milli: 15000, want: 5},
		{name: "object value: not-ready pods do not count", m: objectMetric("calls", "10", false), t: Target{3, 3, 3, 2}, milli: 15000, want: 3},
		{name: "object value: within tolerance", m: objectMetric("calls", "10", false), t: Target{3, 3, 3, 3}, milli: 10500, want: 3},
		{name: "object value: scale down", m: objectMetric("calls", "10", false), t: Target{4, 4, 4, 4}, milli: 5000, want: 2},
		{name: "object value: no pods is an error", m: objectMetric("calls", "10", false), t: Target{3, 0, 0, 0}, milli: 15000, fails: true},
		{name: "object value: from zero, ceil(ratio)", m: objectMetric("calls", "10", false), t: Target{0, 0, 0, 0}, milli: 25000, want: 3},
		{name: "object average: total over target", m: objectMetric("calls", "10", true), t: Target{3, 3, 3, 3}, milli: 55000, want: 6},
		{name: "object average: within tolerance keeps status replicas", m: objectMetric("calls", "10", true), t: Target{5, 3, 3, 3}, milli: 31000, want: 3},
		{name: "external value: sum of series", m: externalMetric("calls", "100", false), t: Target{2, 2, 2, 2}, milli: 300000, want: 6},
		{name: "external value: from zero", m: externalMetric("calls", "100", false), t: Target{0, 0, 0, 0}, milli: 1, want: 1},
		{name: "external average: total over target", m: externalMetric("calls", "80", true), t: Target{4, 4, 4, 4}, milli: 1000000, want: 13},
		{name: "external average: scale down", m: externalMetric("calls", "80", true), t: Target{10, 10, 10, 10}, milli: 400000, want: 5},
		{name: "external average: zero load asks for zero", m: externalMetric("calls", "80", true), t: Target{3, 3, 3, 3}, milli: 0, want: 0},
		{name: "external average: at zero status replicas", m: externalMetric("calls", "80", true), t: Target{0, 0, 0, 0}, milli: 100000, want: 2},
		{name: "external average: huge value saturates", m: externalMetric("calls", "1m", true), t: Target{1, 1, 1, 1}, milli: math.MaxInt64, want: math.MaxInt32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(mustCompile(t, hpa(ptr(int32(0)), 100, nil, tc.m)))
			got, ok := c.metricReplicas(&c.spec.Metrics[0], tc.t, &Observation{Milli: tc.milli})
			if ok == tc.fails {
				t.Fatalf("ok=%v, want failure %v", ok, tc.fails)
			}
			if ok && got != tc.want {
				t.Fatalf("got %d replicas, want %d", got, tc.want)
			}
		})
	}
}

// TestComputeReplicasForMetrics mirrors upstream's TestScaleWithOneInvalidMetric,
// TestScaleUpOneMetricEmpty, TestNoScaleDownOneMetricInvalid and
// TestNoScaleDownOneMetricEmpty: the largest proposal wins; a failed metric
// blocks a scale-down but not a scale-up; all failed blocks everything.
func TestComputeReplicasForMetrics(t *testing.T) {
	spec := func(t *testing.T) *Spec {
		return mustCompile(t, hpa(nil, 100, nil, podsMetric("calls", "10"), externalMetric("queue", "10", true)))
	}
	tg := Target{SpecReplicas: 4, StatusReplicas: 4, Pods: 4, ReadyPods: 4}
	for _, tc := range []struct {
		name string
		obs  []Observation
		want int32
		ok   bool
	}{
		{"largest wins", []Observation{{Pods: pods(0, 0, 20000, 20000, 20000, 20000)}, {Milli: 50000}}, 8, true},
		{"largest wins, other order", []Observation{{Pods: pods(0, 0, 5000, 5000, 5000, 5000)}, {Milli: 100000}}, 10, true},
		{"one failed, other scales up", []Observation{{Failed: true}, {Milli: 100000}}, 10, true},
		{"one failed, other keeps", []Observation{{Failed: true}, {Milli: 40000}}, 4, true},
		{"one failed, other scales down: blocked", []Observation{{Pods: pods(0, 0, 1000, 1000, 1000, 1000)}, {Failed: true}}, -1, false},
		{"all failed", []Observation{{Failed: true}, {Failed: true}}, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(spec(t))
			got, ok := c.proposal(tg, tc.obs)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("got %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestMilli(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want int64
	}{{0, 0}, {1, 1000}, {0.0001, 1}, {80.5, 80500}, {-1.5, -1500}, {math.Inf(1), math.MaxInt64}, {math.NaN(), 0}} {
		if got := Milli(tc.v); got != tc.want {
			t.Errorf("Milli(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}
