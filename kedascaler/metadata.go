package kedascaler

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/sample"
)

// The trigger metadata keys rtcscale reads (docs/keda.md#metadata).
const (
	keyGauge               = "gauge"
	keyWorkload            = "workload"
	keyLabelSelector       = "labelSelector"
	keyForecast            = "forecast"
	keyTarget              = "target"
	keyActivationThreshold = "activationThreshold"
)

// kedaKeys are keys of the same trigger metadata that KEDA reads itself
// (pkg/scalers/external_scaler.go) and passes on: they are not rtcscale's
// mistake to report.
var kedaKeys = map[string]bool{
	"scalerAddress": true, "enableTLS": true, "unsafeSsl": true,
	"caCert": true, "tlsClientCert": true, "tlsClientKey": true,
}

// suffixForecast names the forecast metric, as the metrics APIs do.
const suffixForecast = "_forecast"

// maxQuoted bounds what an error quotes of the metadata, so that it stays
// one readable line in the ScaledObject's events whatever was sent.
const maxQuoted = 100

// maxListed bounds the unknown keys an error lists.
const maxListed = 5

// query is one trigger's metadata, parsed.
type query struct {
	namespace string
	gauge     string
	// Exactly one of workload and pods is the scope.
	workload   collector.Workload
	pods       labels.Selector
	forecast   bool
	target     float64
	activation float64
}

// metricName is the name GetMetricSpec and GetMetrics use.
func (q *query) metricName() string {
	if q.forecast {
		return q.gauge + suffixForecast
	}
	return q.gauge
}

// parseQuery reads a trigger's metadata. Its errors name the key and what
// it must be; an unknown key is refused, so that a typo such as
// `activationthreshold` does not silently fall back to the default.
func parseQuery(namespace string, md map[string]string) (*query, error) {
	if !sample.IsDNSLabel(namespace) {
		return nil, fmt.Errorf("the ScaledObject's namespace %q is not a namespace name", clip(namespace))
	}
	q := &query{namespace: namespace}
	var unknown []string
	for k := range md {
		switch k {
		case keyGauge, keyWorkload, keyLabelSelector, keyForecast, keyTarget, keyActivationThreshold:
		default:
			if !kedaKeys[k] {
				unknown = append(unknown, clip(k))
			}
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		if len(unknown) > maxListed {
			unknown = append(unknown[:maxListed], fmt.Sprintf("and %d more", len(unknown)-maxListed))
		}
		return nil, fmt.Errorf("unknown metadata %s: rtcscale reads %s, %s, %s, %s, %s and %s", strings.Join(unknown, ", "),
			keyGauge, keyWorkload, keyLabelSelector, keyForecast, keyTarget, keyActivationThreshold)
	}

	q.gauge = md[keyGauge]
	if !sample.ValidGaugeName(q.gauge) {
		return nil, fmt.Errorf("metadata %s %q: want a gauge name, such as calls or participants", keyGauge, clip(q.gauge))
	}
	w, hasWorkload := md[keyWorkload]
	sel, hasSelector := md[keyLabelSelector]
	switch {
	case hasWorkload == hasSelector:
		return nil, fmt.Errorf("metadata: want exactly one of %s (RESOURCE.GROUP/NAME, e.g. deployments.apps/asterisk) and %s (e.g. app=kamailio)", keyWorkload, keyLabelSelector)
	case hasWorkload:
		var err error
		if q.workload, err = parseWorkload(w); err != nil {
			return nil, err
		}
	default:
		s, err := labels.Parse(sel)
		if err != nil {
			return nil, fmt.Errorf("metadata %s %q is not a label selector: %s", keyLabelSelector, clip(sel), clip(err.Error()))
		}
		q.pods = s
	}
	if v, ok := md[keyForecast]; ok {
		f, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("metadata %s %q: want true or false", keyForecast, clip(v))
		}
		if f && !hasWorkload {
			return nil, fmt.Errorf("metadata %s: a forecast is of one workload; give %s, not %s", keyForecast, keyWorkload, keyLabelSelector)
		}
		q.forecast = f
	}
	t, ok := md[keyTarget]
	if !ok {
		return nil, fmt.Errorf("metadata %s is required: the value per replica (replicas = ceil(value / target))", keyTarget)
	}
	var err error
	if q.target, err = parseNumber(keyTarget, t); err != nil {
		return nil, err
	}
	if q.target <= 0 {
		return nil, fmt.Errorf("metadata %s %q: want a number above 0", keyTarget, clip(t))
	}
	if a, ok := md[keyActivationThreshold]; ok {
		if q.activation, err = parseNumber(keyActivationThreshold, a); err != nil {
			return nil, err
		}
		if q.activation < 0 {
			return nil, fmt.Errorf("metadata %s %q: want a number at least 0", keyActivationThreshold, clip(a))
		}
	}
	return q, nil
}

// parseWorkload reads RESOURCE.GROUP/NAME, as an Object metric names its
// described object: deployments.apps/asterisk.
func parseWorkload(s string) (collector.Workload, error) {
	res, name, ok := strings.Cut(s, "/")
	kind, known := adapter.WorkloadKind(schema.ParseGroupResource(res))
	switch {
	case !ok || name == "":
		return collector.Workload{}, fmt.Errorf("metadata %s %q: want RESOURCE.GROUP/NAME, e.g. deployments.apps/asterisk or statefulsets.apps/jvb", keyWorkload, clip(s))
	case !known:
		return collector.Workload{}, fmt.Errorf("metadata %s %q: %q is not deployments.apps, statefulsets.apps, daemonsets.apps or replicasets.apps", keyWorkload, clip(s), clip(res))
	case !sample.IsDNSSubdomain(name):
		return collector.Workload{}, fmt.Errorf("metadata %s %q: %q is not a workload name", keyWorkload, clip(s), clip(name))
	}
	return collector.Workload{Kind: kind, Name: name}, nil
}

// parseNumber reads a finite decimal number.
func parseNumber(key, s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("metadata %s %q: want a number", key, clip(s))
	}
	return v, nil
}

// clip shortens s to maxQuoted bytes.
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "..."
}
