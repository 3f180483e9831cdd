package adapter

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/metrics/pkg/apis/custom_metrics"
	"k8s.io/metrics/pkg/apis/external_metrics"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/rtcscale/rtcscale/collector"
)

// Forecaster gives a workload's <gauge>_forecast from the gauge's current
// sum over the workload: predictor.Live. It must answer from memory, at
// once: the HPA asks at every sync.
type Forecaster interface {
	// Forecast returns the value to serve, never below current, and false
	// when the gauge is not forecast at all.
	Forecast(namespace string, w collector.Workload, gauge string, current float64) (float64, bool)
}

const podHasOneValue = "%s: a pod has one value; the _avg and _max suffixes apply to workloads and namespaces, _forecast to workloads"

// workloadKinds are tried in this order for an external forecast whose
// selector does not say the workload's kind.
var workloadKinds = []collector.WorkloadKind{collector.WorkloadDeployment, collector.WorkloadStatefulSet, collector.WorkloadDaemonSet, collector.WorkloadReplicaSet}

// objectForecast serves <gauge>_forecast of a workload as an object metric.
func (p *Provider) objectForecast(name types.NamespacedName, info provider.CustomMetricInfo, gr schema.GroupResource, gauge string, metricSel labels.Selector) (*custom_metrics.MetricValue, error) {
	kind, ok := workloadResources[gr]
	if !ok {
		return nil, badRequest("%s: forecasts are of workloads (deployments, statefulsets, daemonsets, replicasets), not of %s", info.Metric, info.GroupResource)
	}
	if !metricSel.Empty() {
		return nil, badRequest("%s: a forecast is of the whole workload, so it takes no metric label selector (got %q)", info.Metric, metricSel.String())
	}
	v, ts, err := p.forecast(name.Namespace, []collector.WorkloadKind{kind}, name.Name, gauge)
	if err != nil {
		return nil, err
	}
	return &custom_metrics.MetricValue{
		DescribedObject: custom_metrics.ObjectReference{Kind: kind.String(), APIVersion: "apps/v1", Namespace: name.Namespace, Name: name.Name},
		Metric:          custom_metrics.MetricIdentifier{Name: info.Metric},
		Timestamp:       metav1.NewTime(ts),
		Value:           quantity(v),
	}, nil
}

// externalForecast serves <gauge>_forecast as an external metric. The
// selector names one workload: workload=NAME, and optionally
// workload_kind=KIND and the namespace.
func (p *Provider) externalForecast(namespace string, selector labels.Selector, info provider.ExternalMetricInfo, gauge string) (*external_metrics.ExternalMetricValueList, error) {
	reqs, _ := selector.Requirements()
	oneWorkload := func() error {
		return badRequest("%s: a forecast is of one workload; its selector may only say workload=NAME, workload_kind=KIND and namespace=NAMESPACE (got %q)", info.Metric, selector.String())
	}
	var name string
	kinds := workloadKinds
	for _, r := range reqs {
		if op := r.Operator(); r.Values().Len() != 1 || (op != selection.Equals && op != selection.DoubleEquals && op != selection.In) {
			return nil, oneWorkload()
		}
		v := r.Values().List()[0]
		switch r.Key() {
		case collector.LabelWorkload:
			name = v
		case collector.LabelWorkloadKind:
			k := collector.ParseWorkloadKind(v)
			if k == collector.WorkloadNone {
				return nil, badRequest("%s: workload_kind %q is not Deployment, StatefulSet, DaemonSet or ReplicaSet", info.Metric, v)
			}
			kinds = []collector.WorkloadKind{k}
		case collector.LabelNamespace:
			// Another namespace than the request's only gets here with
			// --external-metrics-all-namespaces.
			namespace = v
		default:
			return nil, oneWorkload()
		}
	}
	if name == "" {
		return nil, badRequest("%s: a forecast is of one workload; name it in the selector, workload=NAME (got %q)", info.Metric, selector.String())
	}
	v, ts, err := p.forecast(namespace, kinds, name, gauge)
	if err != nil {
		return nil, err
	}
	return &external_metrics.ExternalMetricValueList{Items: []external_metrics.ExternalMetricValue{{
		MetricName:   info.Metric,
		MetricLabels: exactLabels(selector),
		Timestamp:    metav1.NewTime(ts),
		Value:        quantity(v),
	}}}, nil
}

// forecast is the forecast of the workload name of the first of kinds
// that has pods, from its current sum. The sum must be whole, as for the
// gauge itself: a partial one would look like a drop.
func (p *Provider) forecast(namespace string, kinds []collector.WorkloadKind, name, gauge string) (float64, time.Time, error) {
	if p.forecaster == nil {
		return 0, time.Time{}, notFound("forecasts are turned off (rtcscale adapter --forecast=false)")
	}
	w := collector.Workload{Kind: kinds[0], Name: name}
	a, cov := p.store.WorkloadAggregate(namespace, w, gauge, labels.Everything())
	for _, k := range kinds[1:] {
		if cov.Pods > 0 {
			break
		}
		w.Kind = k
		a, cov = p.store.WorkloadAggregate(namespace, w, gauge, labels.Everything())
	}
	t := target{namespace: namespace}
	if len(kinds) == 1 {
		// A selector without workload_kind asks of several kinds: only a
		// namespace without pods can then be named as the mistake.
		t.workload = w
	}
	if err := p.complete(gauge, cov, fmt.Sprintf("%s %s/%s", strings.ToLower(w.Kind.String()), namespace, name), t); err != nil {
		return 0, time.Time{}, err
	}
	v, ok := p.forecaster.Forecast(namespace, w, gauge, a.Sum)
	if !ok {
		return 0, time.Time{}, notFound("%q is not forecast (rtcscale adapter --forecast-gauges lists the gauges that are)", gauge)
	}
	p.metrics.age(a.Oldest)
	return v, a.Oldest, nil
}

// appendForecasts lists gauge's forecast metric for the workload resources
// among objects and as an external metric.
func appendForecasts(custom []provider.CustomMetricInfo, external []provider.ExternalMetricInfo, objects []schema.GroupResource, gauge string) ([]provider.CustomMetricInfo, []provider.ExternalMetricInfo) {
	name := gauge + suffixForecast
	for _, gr := range objects {
		if _, ok := workloadResources[gr]; ok {
			custom = append(custom, provider.CustomMetricInfo{GroupResource: gr, Namespaced: true, Metric: name})
		}
	}
	return custom, append(external, provider.ExternalMetricInfo{Metric: name})
}
