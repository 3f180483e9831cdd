package hpasim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Config holds the kube-controller-manager settings that shape every HPA's
// decisions. The zero value is not useful; start from DefaultConfig.
type Config struct {
	// SyncPeriod is --horizontal-pod-autoscaler-sync-period: how often the
	// controller reconciles each HPA. The Controller does not keep time; a
	// replay uses this to space its calls to Sync.
	SyncPeriod time.Duration
	// Tolerance is --horizontal-pod-autoscaler-tolerance: no scaling while
	// the usage ratio stays within [1-Tolerance, 1+Tolerance], unless the
	// HPA's behavior overrides it per direction.
	Tolerance float64
	// DownscaleStabilization is
	// --horizontal-pod-autoscaler-downscale-stabilization: the scale-down
	// window of an HPA without behavior, and of one whose
	// behavior.scaleDown.stabilizationWindowSeconds is unset.
	DownscaleStabilization time.Duration
}

// DefaultConfig returns kube-controller-manager's defaults
// (pkg/controller/podautoscaler/config/v1alpha1/defaults.go).
func DefaultConfig() Config {
	return Config{
		SyncPeriod:             15 * time.Second,
		Tolerance:              0.1,
		DownscaleStabilization: 5 * time.Minute,
	}
}

// MetricKind is the source type of one of the HPA's metrics.
type MetricKind uint8

// Metric source types that the simulation supports.
const (
	PodsMetric MetricKind = iota
	ObjectMetric
	ExternalMetric
)

func (k MetricKind) String() string {
	switch k {
	case PodsMetric:
		return "Pods"
	case ObjectMetric:
		return "Object"
	case ExternalMetric:
		return "External"
	}
	return fmt.Sprintf("MetricKind(%d)", k)
}

// Metric is one entry of spec.metrics as the controller uses it.
type Metric struct {
	Name string
	Kind MetricKind
	// AverageValue tells which target is set: true for
	// target.averageValue (per pod), false for target.value (the whole).
	// Pods metrics always have an average value.
	AverageValue bool
	// TargetMilli is the target in thousandths, as the controller reads it
	// with Quantity.MilliValue (which rounds up).
	TargetMilli int64
}

// Target is the metric's target in its own units.
func (m Metric) Target() float64 { return float64(m.TargetMilli) / 1000 }

// selectPolicy is behavior.scale{Up,Down}.selectPolicy.
type selectPolicy uint8

const (
	selectMax selectPolicy = iota
	selectMin
	selectDisabled
)

// policy is one HPAScalingPolicy.
type policy struct {
	percent bool // Percent, else Pods
	value   int32
	period  int64 // nanoseconds
}

// rules is one direction of a defaulted behavior.
type rules struct {
	window   int64 // stabilization window, nanoseconds
	selected selectPolicy
	policies []policy
	longest  int64 // longest policy period, nanoseconds
}

// Spec is the part of a defaulted, validated HorizontalPodAutoscaler that
// drives decisions, in the form the simulation uses on its hot path.
type Spec struct {
	MinReplicas int32
	MaxReplicas int32
	Metrics     []Metric
	// Behavior tells whether spec.behavior was set: it switches the
	// controller between its two normalizations.
	Behavior bool
	// ToleranceUp and ToleranceDown are the tolerances in force: the
	// controller's global one unless the behavior sets its own.
	ToleranceUp, ToleranceDown float64

	up, down rules
	// objectOrExternal tells whether the HPA may scale to zero.
	objectOrExternal bool
}

// ReadHPA reads a HorizontalPodAutoscaler of apiVersion autoscaling/v2
// from YAML or JSON. The input may hold several documents (a Deployment
// and its HPA, say); exactly one of them must be an HPA. Unknown fields are
// errors, as a typo in a manifest would otherwise silently change nothing.
func ReadHPA(r io.Reader) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	want := autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")
	docs := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var found *autoscalingv2.HorizontalPodAutoscaler
	for i := 1; ; i++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if meta.Kind != want.Kind {
			continue
		}
		if gv, err := schema.ParseGroupVersion(meta.APIVersion); err != nil || gv != want.GroupVersion() {
			return nil, fmt.Errorf("document %d: HorizontalPodAutoscaler of apiVersion %q: only %s is supported (convert with kubectl convert or rewrite the metrics block)", i, meta.APIVersion, want.GroupVersion())
		}
		if found != nil {
			return nil, fmt.Errorf("document %d: a second HorizontalPodAutoscaler; give one HPA per file", i)
		}
		found = new(autoscalingv2.HorizontalPodAutoscaler)
		if err := yaml.UnmarshalStrict(doc, found); err != nil {
			return nil, fmt.Errorf("document %d (HorizontalPodAutoscaler): %w", i, err)
		}
	}
	if found == nil {
		return nil, errors.New("no HorizontalPodAutoscaler (apiVersion autoscaling/v2) in the input")
	}
	return found, nil
}

// Compile defaults and validates hpa as the API server does on create
// (SetDefaults_HorizontalPodAutoscaler in pkg/apis/autoscaling/v2 and the
// checks of pkg/apis/autoscaling/validation) and returns the Spec the
// controller runs. hpa itself is not modified.
func Compile(hpa *autoscalingv2.HorizontalPodAutoscaler, cfg Config) (*Spec, error) {
	if hpa == nil {
		return nil, errors.New("no HorizontalPodAutoscaler")
	}
	if cfg.SyncPeriod <= 0 || cfg.Tolerance < 0 || cfg.DownscaleStabilization < 0 {
		return nil, fmt.Errorf("controller config: sync period must be positive and tolerance and downscale stabilization non-negative, got %+v", cfg)
	}
	hs := hpa.Spec
	s := &Spec{MinReplicas: 1, MaxReplicas: hs.MaxReplicas, ToleranceUp: cfg.Tolerance, ToleranceDown: cfg.Tolerance}
	if hs.MinReplicas != nil {
		s.MinReplicas = *hs.MinReplicas
	}
	if s.MaxReplicas < 1 {
		return nil, fmt.Errorf("spec.maxReplicas: must be at least 1, got %d", s.MaxReplicas)
	}
	if s.MinReplicas < 0 || s.MinReplicas > s.MaxReplicas {
		return nil, fmt.Errorf("spec.minReplicas: must be within [0, maxReplicas=%d], got %d", s.MaxReplicas, s.MinReplicas)
	}
	if len(hs.Metrics) == 0 {
		// The API server would default to 80% CPU utilization.
		return nil, errors.New("spec.metrics: empty (the API server would default to CPU utilization, which is not simulated); give a Pods, Object or External metric")
	}
	for i, ms := range hs.Metrics {
		m, err := compileMetric(ms)
		if err != nil {
			return nil, fmt.Errorf("spec.metrics[%d]: %w", i, err)
		}
		s.Metrics = append(s.Metrics, m)
		s.objectOrExternal = s.objectOrExternal || m.Kind != PodsMetric
	}
	if s.MinReplicas == 0 && !s.objectOrExternal {
		return nil, errors.New("spec.minReplicas: 0 needs at least one Object or External metric to scale back from zero")
	}
	if b := hs.Behavior; b != nil {
		s.Behavior = true
		var err error
		if s.up, err = compileRules(b.ScaleUp, true, cfg, &s.ToleranceUp); err != nil {
			return nil, fmt.Errorf("spec.behavior.scaleUp: %w", err)
		}
		if s.down, err = compileRules(b.ScaleDown, false, cfg, &s.ToleranceDown); err != nil {
			return nil, fmt.Errorf("spec.behavior.scaleDown: %w", err)
		}
	} else {
		s.down.window = int64(cfg.DownscaleStabilization)
	}
	return s, nil
}

func compileMetric(ms autoscalingv2.MetricSpec) (Metric, error) {
	var (
		m      Metric
		target autoscalingv2.MetricTarget
	)
	switch ms.Type {
	case autoscalingv2.PodsMetricSourceType:
		if ms.Pods == nil {
			return m, errors.New("type Pods without a pods block")
		}
		m.Kind, m.Name, target = PodsMetric, ms.Pods.Metric.Name, ms.Pods.Target
		if target.AverageValue == nil {
			return m, errors.New("a Pods metric needs target.averageValue")
		}
		m.AverageValue = true
	case autoscalingv2.ObjectMetricSourceType:
		if ms.Object == nil {
			return m, errors.New("type Object without an object block")
		}
		m.Kind, m.Name, target = ObjectMetric, ms.Object.Metric.Name, ms.Object.Target
		// The controller goes by target.type here, and fails every sync
		// when the matching field is unset: refuse such an HPA up front.
		switch {
		case target.Type == autoscalingv2.ValueMetricType && target.Value != nil:
		case target.Type == autoscalingv2.AverageValueMetricType && target.AverageValue != nil:
			m.AverageValue = true
		default:
			return m, fmt.Errorf("object metric %q: target.type %q needs the matching target.value or target.averageValue (the controller would report FailedGetObjectMetric at every sync)", m.Name, target.Type)
		}
	case autoscalingv2.ExternalMetricSourceType:
		if ms.External == nil {
			return m, errors.New("type External without an external block")
		}
		m.Kind, m.Name, target = ExternalMetric, ms.External.Metric.Name, ms.External.Target
		if (target.Value == nil) == (target.AverageValue == nil) {
			return m, fmt.Errorf("external metric %q: set exactly one of target.value and target.averageValue", m.Name)
		}
		// The controller goes by which field is set, not by target.type.
		m.AverageValue = target.AverageValue != nil
	case autoscalingv2.ResourceMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType:
		return m, fmt.Errorf("%s metrics (CPU, memory) are not simulated; use a Pods, Object or External metric of the workload's load", ms.Type)
	default:
		return m, fmt.Errorf("unknown metric type %q", ms.Type)
	}
	if m.Name == "" {
		return m, errors.New("metric.name is required")
	}
	switch target.Type {
	case autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType:
	default:
		return m, fmt.Errorf("metric %q: target.type must be Value or AverageValue, got %q", m.Name, target.Type)
	}
	q := target.Value
	if m.AverageValue {
		q = target.AverageValue
	}
	if q.Sign() != 1 {
		return m, fmt.Errorf("metric %q: target must be positive, got %s", m.Name, q.String())
	}
	m.TargetMilli = q.MilliValue()
	return m, nil
}

// Limits the API server enforces on behavior (pkg/apis/autoscaling/validation).
const (
	maxPeriodSeconds              = 1800
	maxStabilizationWindowSeconds = 3600
)

// compileRules applies GenerateHPAScaleUpRules / GenerateHPAScaleDownRules
// (the fields left unset take the defaults) and validates the result.
func compileRules(r *autoscalingv2.HPAScalingRules, up bool, cfg Config, tolerance *float64) (rules, error) {
	out := rules{selected: selectMax}
	if up {
		// scaleUp defaults: no window, max of {4 Pods, 100%} per 15 s.
		out.policies = []policy{
			{percent: false, value: 4, period: int64(15 * time.Second)},
			{percent: true, value: 100, period: int64(15 * time.Second)},
		}
	} else {
		// scaleDown defaults: the controller's window, 100% per 15 s.
		out.window = int64(time.Duration(int32(cfg.DownscaleStabilization.Seconds())) * time.Second)
		out.policies = []policy{{percent: true, value: 100, period: int64(15 * time.Second)}}
	}
	if r != nil {
		if w := r.StabilizationWindowSeconds; w != nil {
			if *w < 0 || *w > maxStabilizationWindowSeconds {
				return out, fmt.Errorf("stabilizationWindowSeconds must be within [0, %d], got %d", maxStabilizationWindowSeconds, *w)
			}
			out.window = int64(time.Duration(*w) * time.Second)
		}
		if p := r.SelectPolicy; p != nil {
			switch *p {
			case autoscalingv2.MaxChangePolicySelect:
			case autoscalingv2.MinChangePolicySelect:
				out.selected = selectMin
			case autoscalingv2.DisabledPolicySelect:
				out.selected = selectDisabled
			default:
				return out, fmt.Errorf("selectPolicy must be Max, Min or Disabled, got %q", *p)
			}
		}
		if r.Policies != nil {
			if len(r.Policies) == 0 {
				return out, errors.New("policies: must specify at least one policy")
			}
			out.policies = out.policies[:0:0]
			for i, p := range r.Policies {
				if p.Type != autoscalingv2.PodsScalingPolicy && p.Type != autoscalingv2.PercentScalingPolicy {
					return out, fmt.Errorf("policies[%d].type must be Pods or Percent, got %q", i, p.Type)
				}
				if p.Value <= 0 || p.PeriodSeconds <= 0 || p.PeriodSeconds > maxPeriodSeconds {
					return out, fmt.Errorf("policies[%d]: value must be positive and periodSeconds within [1, %d], got %d per %d s", i, maxPeriodSeconds, p.Value, p.PeriodSeconds)
				}
				out.policies = append(out.policies, policy{
					percent: p.Type == autoscalingv2.PercentScalingPolicy,
					value:   p.Value,
					period:  int64(time.Duration(p.PeriodSeconds) * time.Second),
				})
			}
		}
		if t := r.Tolerance; t != nil {
			f := t.AsApproximateFloat64()
			if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
				return out, fmt.Errorf("tolerance must be a non-negative number, got %s", t.String())
			}
			*tolerance = f
		}
	}
	for _, p := range out.policies {
		out.longest = max(out.longest, p.period)
	}
	return out, nil
}
