package whatif

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/rtcscale/rtcscale/hpasim"
)

// ForecastSuffix ends the name of a forecast metric: <gauge>_forecast is
// what the adapter serves as a workload's forecast of <gauge>.
const ForecastSuffix = "_forecast"

// gaugeUnits are the gauges rtcscale's sidecars publish and their units
// (docs/wire-format.md). A replay's load and --capacity are in calls or
// participants; any other unit is read as if it were one.
var gaugeUnits = map[string]string{
	"calls":              "",
	"participants":       "",
	"channels":           "channels (call legs)",
	"conferences":        "conferences",
	"largest_conference": "participants in the largest conference",
	"bitrate_in":         "bit/s",
	"bitrate_out":        "bit/s",
	"packetrate_in":      "packets/s",
	"packetrate_out":     "packets/s",
	"stress":             "a fraction of capacity (1 = full)",
}

// role is what a metric of the HPA reads in a replay.
type role uint8

const (
	// loadRole: the gauge, per pod for a Pods metric, over all pods for
	// an Object or External metric.
	loadRole role = iota
	// forecastRole: <gauge>_forecast, the workload's forecast total.
	forecastRole
)

// roleOf classifies one metric as the adapter would serve it.
func roleOf(m hpasim.Metric) (role, error) {
	for _, s := range []string{"_avg", "_max"} {
		if strings.HasSuffix(m.Name, s) {
			return 0, fmt.Errorf("metric %q: the replay models a gauge and its %s, not its %s", m.Name, ForecastSuffix, s)
		}
	}
	if !strings.HasSuffix(m.Name, ForecastSuffix) {
		return loadRole, nil
	}
	if m.Kind == hpasim.PodsMetric {
		return 0, fmt.Errorf("metric %q: a forecast is of a workload, not of each pod; make it an Object metric on the scale target (or an External one)", m.Name)
	}
	return forecastRole, nil
}

// HPAs are the two HPAs a replay compares, from the one the operator wrote.
type HPAs struct {
	// Reactive is the HPA without its forecast metrics.
	Reactive *autoscalingv2.HorizontalPodAutoscaler
	// Predictive is the HPA as written when it has forecast metrics, else
	// with <gauge>_forecast added as an Object metric on its scale target
	// with the target of its first metric, as deploy/examples does.
	Predictive *autoscalingv2.HorizontalPodAutoscaler
	// Added tells whether the forecast metric was added.
	Added bool
	// Gauge is the gauge the load metrics read.
	Gauge string
	// Warnings say what the replay reads differently from what the
	// operator may think it does.
	Warnings []string
}

// SplitHPA derives the reactive and predictive HPAs from h, refusing the
// metrics the adapter would not serve.
func SplitHPA(h *autoscalingv2.HorizontalPodAutoscaler, ctrl hpasim.Config) (*HPAs, error) {
	spec, err := hpasim.Compile(h, ctrl)
	if err != nil {
		return nil, err
	}
	out := &HPAs{Reactive: h.DeepCopy(), Predictive: h}
	out.Reactive.Spec.Metrics = out.Reactive.Spec.Metrics[:0]
	var first *autoscalingv2.MetricSpec
	forecasts := 0
	for i, m := range spec.Metrics {
		r, err := roleOf(m)
		if err != nil {
			return nil, fmt.Errorf("spec.metrics[%d]: %w", i, err)
		}
		ms := h.Spec.Metrics[i]
		if r == forecastRole {
			forecasts++
			continue
		}
		out.Reactive.Spec.Metrics = append(out.Reactive.Spec.Metrics, ms)
		if first == nil {
			first = &h.Spec.Metrics[i]
			out.Gauge = m.Name
		}
		if unit, known := gaugeUnits[m.Name]; !known {
			out.Warnings = append(out.Warnings, fmt.Sprintf("metric %s: no rtcscale sidecar publishes a gauge of that name (the adapter serves them by their own names: calls, participants, ...); replayed as the trace's load, in the unit of --capacity", m.Name))
		} else if unit != "" {
			out.Warnings = append(out.Warnings, fmt.Sprintf("metric %s is in %s, but the trace and --capacity are read as calls; its target is compared with calls", m.Name, unit))
		}
	}
	if first == nil {
		return nil, fmt.Errorf("the HPA has only forecast metrics; give it the gauge itself too (a Pods metric of calls, say), which the forecast adds to")
	}
	for i, m := range spec.Metrics {
		if r, _ := roleOf(m); r == forecastRole && strings.TrimSuffix(m.Name, ForecastSuffix) != out.Gauge {
			out.Warnings = append(out.Warnings, fmt.Sprintf("spec.metrics[%d]: %s forecasts another gauge than the HPA's %s; the replay forecasts the trace's load for both", i, m.Name, out.Gauge))
		}
	}
	if forecasts == 0 {
		out.Predictive, out.Added = withForecast(h, *first, out.Gauge), true
	}
	return out, nil
}

// withForecast returns a copy of h with <gauge>_forecast added as an
// Object metric on its scale target, with the target of metric first:
// an average value stays one (ceil(forecast / target) replicas), a value
// stays a value.
func withForecast(h *autoscalingv2.HorizontalPodAutoscaler, first autoscalingv2.MetricSpec, gauge string) *autoscalingv2.HorizontalPodAutoscaler {
	out := h.DeepCopy()
	var target autoscalingv2.MetricTarget
	switch {
	case first.Pods != nil:
		target = first.Pods.Target
	case first.Object != nil:
		target = first.Object.Target
	case first.External != nil:
		target = first.External.Target
	}
	t := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: target.AverageValue}
	if target.AverageValue == nil {
		t = autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: target.Value}
	}
	ref := h.Spec.ScaleTargetRef
	out.Spec.Metrics = append(out.Spec.Metrics, autoscalingv2.MetricSpec{
		Type: autoscalingv2.ObjectMetricSourceType,
		Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name},
			Metric:          autoscalingv2.MetricIdentifier{Name: gauge + ForecastSuffix},
			Target:          t,
		},
	})
	return out
}

// stuckTargets lists the load metrics of spec whose average target the
// load can never exceed by the tolerance: a pod carries at most capacity,
// so with target >= capacity / (1 + tolerance) the ratio stays within the
// tolerance and the metric never scales up.
func stuckTargets(spec *hpasim.Spec, capacity int) []string {
	var out []string
	limit := float64(capacity) / (1 + spec.ToleranceUp)
	for _, m := range spec.Metrics {
		if r, _ := roleOf(m); r == loadRole && m.AverageValue && m.Target() >= limit {
			out = append(out, fmt.Sprintf("%s (target %g)", m.Name, m.Target()))
		}
	}
	return out
}
