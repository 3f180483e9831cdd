package whatif

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Settings a sweep can vary.
const (
	// SweepTarget sets the target of every metric of the HPA, the
	// forecast metric's included, in the metric's units.
	SweepTarget = "target"
	// SweepForecastTarget sets the target of the forecast metrics alone
	// (predictive and foresight modes).
	SweepForecastTarget = "forecast-target"
	// SweepLead sets how far ahead the forecast looks (predictive and
	// foresight modes).
	SweepLead = "lead"
	// SweepStabilization sets the scale-down stabilization window:
	// behavior.scaleDown.stabilizationWindowSeconds when the HPA has a
	// behavior, else the controller's --horizontal-pod-autoscaler-
	// downscale-stabilization, which is what governs an HPA without one.
	SweepStabilization = "stabilization"
)

var sweepSettings = []string{SweepTarget, SweepForecastTarget, SweepLead, SweepStabilization}

// forecastOnly tells whether a setting changes only what the forecast
// metric does, so that a reactive replay ignores it.
func forecastOnly(setting string) bool {
	return setting == SweepForecastTarget || setting == SweepLead
}

// Sweep is one setting and the values a sweep gives it.
type Sweep struct {
	Setting string
	Values  []string
}

// ParseSweep parses "setting=v1,v2,...", e.g. "target=70,80,90" or
// "stabilization=0s,5m,15m". "a,b,...,z" is the arithmetic progression
// from a in steps of b-a up to z: "target=50,55,...,115" is 14 targets.
func ParseSweep(s string) (Sweep, error) {
	setting, list, ok := strings.Cut(s, "=")
	if !ok || list == "" {
		return Sweep{}, fmt.Errorf("sweep %q: want setting=v1,v2,... with setting one of %s", s, strings.Join(sweepSettings, ", "))
	}
	known := false
	for _, k := range sweepSettings {
		known = known || k == setting
	}
	if !known {
		return Sweep{}, fmt.Errorf("sweep %q: unknown setting %q (want one of %s)", s, setting, strings.Join(sweepSettings, ", "))
	}
	var values []string
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v == "" {
			return Sweep{}, fmt.Errorf("sweep %q: empty value", s)
		}
		values = append(values, v)
	}
	values, err := expand(values)
	if err != nil {
		return Sweep{}, fmt.Errorf("sweep %q: %w", s, err)
	}
	sw := Sweep{Setting: setting, Values: values}
	// Check every value now, not after minutes of replays.
	for _, v := range values {
		if err := (Settings{{setting, v}}).check(); err != nil {
			return Sweep{}, err
		}
	}
	return sw, nil
}

// maxSweepValues bounds an expanded progression.
const maxSweepValues = 1000

// expand replaces "a,b,...,z" by the progression a, b, ... up to z, for
// plain numbers and for durations.
func expand(vs []string) ([]string, error) {
	if len(vs) != 4 || vs[2] != "..." {
		for _, v := range vs {
			if v == "..." {
				return nil, fmt.Errorf(`"..." goes between the first two values and the last: a,b,...,z`)
			}
		}
		return vs, nil
	}
	num := func(s string) (float64, bool, error) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, false, nil
		}
		d, err := time.ParseDuration(s)
		return float64(d), true, err
	}
	a, da, err1 := num(vs[0])
	b, db, err2 := num(vs[1])
	z, dz, err3 := num(vs[3])
	if err1 != nil || err2 != nil || err3 != nil || da != db || db != dz {
		return nil, fmt.Errorf("%s,%s,...,%s: the ends and the step must be numbers, or durations", vs[0], vs[1], vs[3])
	}
	step := b - a
	if !(step > 0) || z < a {
		return nil, fmt.Errorf("%s,%s,...,%s: want a rising progression", vs[0], vs[1], vs[3])
	}
	if n := (z-a)/step + 1; n > maxSweepValues {
		return nil, fmt.Errorf("%s,%s,...,%s: %.0f values, more than %d", vs[0], vs[1], vs[3], n, maxSweepValues)
	}
	var out []string
	for i := 0; ; i++ {
		v := a + float64(i)*step
		if v > z+step*1e-9 {
			break
		}
		if da {
			out = append(out, time.Duration(math.Round(v)).String())
		} else {
			out = append(out, strconv.FormatFloat(math.Round(v*1e9)/1e9, 'f', -1, 64))
		}
	}
	return out, nil
}

// Assignment gives one setting one value.
type Assignment struct{ Setting, Value string }

// Settings are one point of a sweep's grid: a value for each swept setting.
type Settings []Assignment

// String is the point as a table shows it: "target=95" or
// "target=95,lead=10m"; "" for the HPA as written.
func (p Settings) String() string {
	parts := make([]string, len(p))
	for i, a := range p {
		parts[i] = a.Setting + "=" + a.Value
	}
	return strings.Join(parts, ",")
}

// shared is the part of p that a reactive replay sees.
func (p Settings) shared() Settings {
	var out Settings
	for _, a := range p {
		if !forecastOnly(a.Setting) {
			out = append(out, a)
		}
	}
	return out
}

// Grid is every combination of the sweeps' values, in order (the last
// sweep varies fastest).
func Grid(sweeps []Sweep) []Settings {
	points := []Settings{nil}
	for _, sw := range sweeps {
		var next []Settings
		for _, p := range points {
			for _, v := range sw.Values {
				next = append(next, append(append(Settings(nil), p...), Assignment{sw.Setting, v}))
			}
		}
		points = next
	}
	if len(sweeps) == 0 {
		return nil
	}
	return points
}

func (p Settings) check() error {
	_, _, err := p.apply(Config{HPA: &autoscalingv2.HorizontalPodAutoscaler{}}, time.Minute)
	return err
}

// apply returns cfg and the lead with p's settings; cfg is not modified.
func (p Settings) apply(cfg Config, lead time.Duration) (Config, time.Duration, error) {
	h := cfg.HPA.DeepCopy()
	for _, a := range p {
		switch a.Setting {
		case SweepTarget, SweepForecastTarget:
			q, err := resource.ParseQuantity(a.Value)
			if err != nil || q.Sign() <= 0 {
				return cfg, lead, fmt.Errorf("sweep %s %q: want a positive quantity", a.Setting, a.Value)
			}
			for i := range h.Spec.Metrics {
				if m := &h.Spec.Metrics[i]; a.Setting == SweepTarget || strings.HasSuffix(metricName(m), ForecastSuffix) {
					setTarget(m, q)
				}
			}
		case SweepLead:
			d, err := time.ParseDuration(a.Value)
			if err != nil || d <= 0 {
				return cfg, lead, fmt.Errorf("sweep lead %q: want a positive duration", a.Value)
			}
			lead = d
		case SweepStabilization:
			d, err := time.ParseDuration(a.Value)
			if err != nil || d < 0 || d%time.Second != 0 {
				return cfg, lead, fmt.Errorf("sweep stabilization %q: want a non-negative whole number of seconds, like 300s or 5m", a.Value)
			}
			if h.Spec.Behavior == nil {
				cfg.Controller.DownscaleStabilization = d
				break
			}
			if h.Spec.Behavior.ScaleDown == nil {
				h.Spec.Behavior.ScaleDown = &autoscalingv2.HPAScalingRules{}
			}
			s := int32(d / time.Second)
			h.Spec.Behavior.ScaleDown.StabilizationWindowSeconds = &s
		default:
			return cfg, lead, fmt.Errorf("unknown sweep setting %q", a.Setting)
		}
	}
	cfg.HPA = h
	return cfg, lead, nil
}

func metricName(m *autoscalingv2.MetricSpec) string {
	switch {
	case m.Pods != nil:
		return m.Pods.Metric.Name
	case m.Object != nil:
		return m.Object.Metric.Name
	case m.External != nil:
		return m.External.Metric.Name
	}
	return ""
}

func setTarget(m *autoscalingv2.MetricSpec, q resource.Quantity) {
	var t *autoscalingv2.MetricTarget
	switch {
	case m.Pods != nil:
		t = &m.Pods.Target
	case m.Object != nil:
		t = &m.Object.Target
	case m.External != nil:
		t = &m.External.Target
	default:
		return
	}
	if t.AverageValue != nil {
		t.AverageValue = &q
	} else if t.Value != nil {
		t.Value = &q
	}
}
