package whatif

import (
	"fmt"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Settings a sweep can vary.
const (
	// SweepTarget sets the target of every metric of the HPA (and so of
	// the forecast metric), in the metric's units.
	SweepTarget = "target"
	// SweepLead sets the predictive mode's lead.
	SweepLead = "lead"
	// SweepStabilization sets the scale-down stabilization window:
	// behavior.scaleDown.stabilizationWindowSeconds when the HPA has a
	// behavior, else the controller's --horizontal-pod-autoscaler-
	// downscale-stabilization, which is what governs an HPA without one.
	SweepStabilization = "stabilization"
)

// ParseSweep parses "setting=v1,v2,...", e.g. "target=70,80,90" or
// "stabilization=0s,5m,15m".
func ParseSweep(s string) (setting string, values []string, err error) {
	setting, list, ok := strings.Cut(s, "=")
	if !ok || list == "" {
		return "", nil, fmt.Errorf("sweep %q: want setting=v1,v2,... with setting one of %s, %s, %s", s, SweepTarget, SweepLead, SweepStabilization)
	}
	switch setting {
	case SweepTarget, SweepLead, SweepStabilization:
	default:
		return "", nil, fmt.Errorf("sweep %q: unknown setting %q (want %s, %s or %s)", s, setting, SweepTarget, SweepLead, SweepStabilization)
	}
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v == "" {
			return "", nil, fmt.Errorf("sweep %q: empty value", s)
		}
		values = append(values, v)
	}
	return setting, values, nil
}

// Vary returns cfg and p with one setting changed; neither argument is
// modified. p may be nil unless the setting is the lead.
func Vary(cfg Config, p *Predictive, setting, value string) (Config, *Predictive, error) {
	switch setting {
	case SweepTarget:
		q, err := resource.ParseQuantity(value)
		if err != nil || q.Sign() <= 0 {
			return cfg, p, fmt.Errorf("sweep target %q: want a positive quantity", value)
		}
		h := cfg.HPA.DeepCopy()
		for i := range h.Spec.Metrics {
			setTarget(&h.Spec.Metrics[i], q)
		}
		cfg.HPA = h
	case SweepLead:
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return cfg, p, fmt.Errorf("sweep lead %q: want a positive duration", value)
		}
		if p == nil {
			return cfg, p, fmt.Errorf("sweep lead: needs predictive mode")
		}
		pp := *p
		pp.Lead = d
		p = &pp
	case SweepStabilization:
		d, err := time.ParseDuration(value)
		if err != nil || d < 0 || d%time.Second != 0 {
			return cfg, p, fmt.Errorf("sweep stabilization %q: want a non-negative whole number of seconds, like 300s or 5m", value)
		}
		if cfg.HPA.Spec.Behavior == nil {
			cfg.Controller.DownscaleStabilization = d
			break
		}
		h := cfg.HPA.DeepCopy()
		if h.Spec.Behavior.ScaleDown == nil {
			h.Spec.Behavior.ScaleDown = &autoscalingv2.HPAScalingRules{}
		}
		s := int32(d / time.Second)
		h.Spec.Behavior.ScaleDown.StabilizationWindowSeconds = &s
		cfg.HPA = h
	default:
		return cfg, p, fmt.Errorf("unknown sweep setting %q", setting)
	}
	return cfg, p, nil
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
