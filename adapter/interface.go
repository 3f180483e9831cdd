package adapter

import (
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/collector"
)

// Store is what the provider reads: the latest sample of every pod and what
// the cluster says of the pods (collector.Store). Every method answers from
// memory.
type Store interface {
	// PodValues and PodValue serve Pods metrics and a pod's Object metric.
	PodValues(namespace string, podSel labels.Selector, gauge string, metricSel labels.Selector, out []collector.PodValue) ([]collector.PodValue, collector.Coverage)
	PodValue(namespace, name, gauge string, metricSel labels.Selector) (collector.PodValue, collector.Coverage, bool)
	// WorkloadAggregate, NamespaceAggregate and SeriesAggregate serve the
	// sums of Object and External metrics.
	WorkloadAggregate(namespace string, w collector.Workload, gauge string, metricSel labels.Selector) (collector.Aggregate, collector.Coverage)
	NamespaceAggregate(namespace, gauge string, metricSel labels.Selector) (collector.Aggregate, collector.Coverage)
	SeriesAggregate(namespace string, sel labels.Selector, gauge string) (collector.Aggregate, collector.Coverage)
	// SelectorAggregate serves the KEDA scaler's labelSelector scope.
	SelectorAggregate(namespace string, podSel labels.Selector, gauge string) (collector.Aggregate, collector.Coverage)
	// Gauges lists the gauge names held, for discovery.
	Gauges() []string
	// KnownPod and Scope tell a 404's cause: no such pod, namespace or
	// workload, or no fresh sample.
	KnownPod(namespace, name string) bool
	Scope(namespace string) collector.Scope
}

var _ Store = (*collector.Store)(nil)
