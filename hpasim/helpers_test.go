package hpasim

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
)

// t0 is an arbitrary origin for the simulated clock.
var t0 = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

func ns(d time.Duration) int64 { return t0.Add(d).UnixNano() }

func ptr[T any](v T) *T { return &v }

// podsMetric is a Pods metric with an averageValue target.
func podsMetric(name, target string) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.PodsMetricSourceType,
		Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: name},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse(target))},
		},
	}
}

// targetOf is a value (average=false) or averageValue target.
func targetOf(target string, average bool) autoscalingv2.MetricTarget {
	q := ptr(resource.MustParse(target))
	if average {
		return autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: q}
	}
	return autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: q}
}

// externalMetric is an External metric.
func externalMetric(name, target string, average bool) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type:     autoscalingv2.ExternalMetricSourceType,
		External: &autoscalingv2.ExternalMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: name}, Target: targetOf(target, average)},
	}
}

// objectMetric is an Object metric on a Service.
func objectMetric(name, target string, average bool) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ObjectMetricSourceType,
		Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: "Service", Name: "sip", APIVersion: "v1"},
			Metric:          autoscalingv2.MetricIdentifier{Name: name},
			Target:          targetOf(target, average),
		},
	}
}

func hpa(minR *int32, maxR int32, b *autoscalingv2.HorizontalPodAutoscalerBehavior, metrics ...autoscalingv2.MetricSpec) *autoscalingv2.HorizontalPodAutoscaler {
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	h.Spec.MinReplicas, h.Spec.MaxReplicas, h.Spec.Behavior, h.Spec.Metrics = minR, maxR, b, metrics
	return h
}

// rulesOf mirrors generateScalingRules in upstream's horizontal_test.go:
// a Pods and a Percent policy (each left out when zero), Max selection.
func rulesOf(pods, podsPeriod, percent, percentPeriod, window int32) *autoscalingv2.HPAScalingRules {
	r := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr(window),
		SelectPolicy:               ptr(autoscalingv2.MaxChangePolicySelect),
	}
	if pods != 0 {
		r.Policies = append(r.Policies, autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: pods, PeriodSeconds: podsPeriod})
	}
	if percent != 0 {
		r.Policies = append(r.Policies, autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: percent, PeriodSeconds: percentPeriod})
	}
	return r
}

// spreadEvents mirrors generateEventsUniformDistribution: the events are
// placed in the middle of equal segments of the last period seconds before
// now (t0 + 1h in these tests).
func spreadEvents(now int64, changes []int32, period int) []scaleEvent {
	out := make([]scaleEvent, len(changes))
	seg := float64(period) / float64(len(changes))
	for i, c := range changes {
		back := time.Duration(float64(period)-seg*float64(i+1)+seg/2) * time.Second
		out[i] = scaleEvent{change: c, at: now - int64(back)}
	}
	return out
}

func mustCompile(t *testing.T, h *autoscalingv2.HorizontalPodAutoscaler) *Spec {
	t.Helper()
	s, err := Compile(h, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
