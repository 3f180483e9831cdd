// Package adapter serves the collector's values through the Kubernetes
// custom metrics API (custom.metrics.k8s.io v1beta2 and v1beta1) and the
// external metrics API (external.metrics.k8s.io v1beta1), with
// sigs.k8s.io/custom-metrics-apiserver. Every answer comes from memory.
package adapter

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
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

// Aggregations over several pods are asked for by a suffix of the metric
// name: "calls" is the sum, "calls_avg" the mean, "calls_max" the largest,
// and "calls_forecast" the sum the workload is expected to reach within its
// lead (forecast.go).
const (
	suffixAvg      = "_avg"
	suffixMax      = "_max"
	suffixForecast = "_forecast"
)

type aggregation uint8

const (
	aggSum aggregation = iota
	aggAvg
	aggMax
	aggForecast
)

func parseMetric(name string) (gauge string, agg aggregation) {
	if g, ok := strings.CutSuffix(name, suffixAvg); ok {
		return g, aggAvg
	}
	if g, ok := strings.CutSuffix(name, suffixMax); ok {
		return g, aggMax
	}
	if g, ok := strings.CutSuffix(name, suffixForecast); ok {
		return g, aggForecast
	}
	return name, aggSum
}

func (a aggregation) of(x collector.Aggregate) float64 {
	switch a {
	case aggAvg:
		if x.Count == 0 {
			return 0
		}
		return x.Sum / float64(x.Count)
	case aggMax:
		return x.Max
	}
	return x.Sum
}

// The resources rtcscale describes.
var (
	podsResource       = schema.GroupResource{Resource: "pods"}
	namespacesResource = schema.GroupResource{Resource: "namespaces"}
	workloadResources  = map[schema.GroupResource]collector.WorkloadKind{
		{Group: "apps", Resource: "deployments"}:  collector.WorkloadDeployment,
		{Group: "apps", Resource: "statefulsets"}: collector.WorkloadStatefulSet,
		{Group: "apps", Resource: "daemonsets"}:   collector.WorkloadDaemonSet,
		{Group: "apps", Resource: "replicasets"}:  collector.WorkloadReplicaSet,
	}
	supportedResources = "pods, namespaces, deployments.apps, statefulsets.apps, daemonsets.apps and replicasets.apps"
)

// normalize accepts a resource with or without its group ("deployments" or
// "deployments.apps") and in singular or plural form.
func normalize(gr schema.GroupResource) schema.GroupResource {
	r := strings.ToLower(gr.Resource)
	if !strings.HasSuffix(r, "s") {
		r += "s"
	}
	gr.Resource = r
	if gr.Group == "" {
		if _, ok := workloadResources[schema.GroupResource{Group: "apps", Resource: r}]; ok {
			gr.Group = "apps"
		}
	}
	return gr
}

// Options tune the provider.
type Options struct {
	// ExternalAllNamespaces lets an external metric's selector pick series
	// of other namespaces with a "namespace" label. Off by default: the
	// request's namespace is then the scope, so that access to external
	// metrics in one namespace reveals nothing of another.
	ExternalAllNamespaces bool
	// Forecaster serves the <gauge>_forecast metrics; nil turns them off.
	// It is fixed when the Provider is made: SetOptions leaves it.
	Forecaster Forecaster
}

// Provider answers the custom and external metrics APIs from a
// collector.Store.
type Provider struct {
	store *collector.Store
	// opts is swapped whole by SetOptions while requests are served.
	opts       atomic.Pointer[Options]
	forecaster Forecaster
	metrics    *Metrics

	// lists caches ListAllMetrics' answers; discovery asks often and the
	// set only changes when a gauge name appears or is freed.
	listMu     sync.Mutex
	listGauges []string
	custom     []provider.CustomMetricInfo
	external   []provider.ExternalMetricInfo

	pool sync.Pool // *[]collector.PodValue
}

// NewProvider returns a Provider over store. metrics may be nil.
func NewProvider(store *collector.Store, opts Options, metrics *Metrics) *Provider {
	p := &Provider{store: store, forecaster: opts.Forecaster, metrics: metrics}
	p.SetOptions(opts)
	return p
}

// SetOptions applies opts to the requests that follow, as a reloaded
// configuration does; opts.Forecaster is ignored.
func (p *Provider) SetOptions(opts Options) { p.opts.Store(&opts) }

var (
	_ provider.CustomMetricsProvider   = (*Provider)(nil)
	_ provider.ExternalMetricsProvider = (*Provider)(nil)
)

// GetMetricByName returns a metric of one object: a pod's value, or the
// sum (average, maximum) over a workload's or a namespace's pods.
func (p *Provider) GetMetricByName(_ context.Context, name types.NamespacedName, info provider.CustomMetricInfo, metricSel labels.Selector) (*custom_metrics.MetricValue, error) {
	defer p.metrics.observe("custom", time.Now())
	gr := normalize(info.GroupResource)
	gauge, agg := parseMetric(info.Metric)
	if agg == aggForecast {
		return p.objectForecast(name, info, gr, gauge, metricSel)
	}
	ref := custom_metrics.ObjectReference{Namespace: name.Namespace, Name: name.Name}
	var value float64
	var ts time.Time
	switch {
	case gr == podsResource:
		if agg != aggSum {
			return nil, badRequest(podHasOneValue, info.Metric)
		}
		pv, cov, ok := p.store.PodValue(name.Namespace, name.Name, gauge, metricSel)
		if !ok {
			return nil, p.notFound(gauge, cov, fmt.Sprintf("pod %s/%s", name.Namespace, name.Name), target{namespace: name.Namespace, pod: name.Name})
		}
		ref.Kind, ref.APIVersion = "Pod", "v1"
		value, ts = pv.Value, pv.Time
	case gr == namespacesResource:
		ns := name.Name
		if ns == "" || (name.Namespace != "" && name.Namespace != ns) {
			ns = name.Namespace
		}
		a, cov := p.store.NamespaceAggregate(ns, gauge, metricSel)
		if err := p.complete(gauge, cov, "namespace "+ns, target{namespace: ns}); err != nil {
			return nil, err
		}
		ref = custom_metrics.ObjectReference{Kind: "Namespace", APIVersion: "v1", Name: ns}
		value, ts = agg.of(a), a.Oldest
	default:
		kind, ok := workloadResources[gr]
		if !ok {
			return nil, notFound("rtcscale serves metrics of %s, not of %s", supportedResources, info.GroupResource)
		}
		a, err := p.workloadAggregate(name.Namespace, collector.Workload{Kind: kind, Name: name.Name}, gauge, metricSel)
		if err != nil {
			return nil, err
		}
		ref.Kind, ref.APIVersion = kind.String(), "apps/v1"
		value, ts = agg.of(a), a.Oldest
	}
	p.metrics.age(ts)
	return &custom_metrics.MetricValue{
		DescribedObject: ref,
		Metric:          custom_metrics.MetricIdentifier{Name: info.Metric, Selector: labelSelector(metricSel)},
		Timestamp:       metav1.NewTime(ts),
		Value:           quantity(value),
	}, nil
}

// GetMetricBySelector returns the values of every pod that matches
// selector. Pods without a fresh sample are left out; the HPA then treats
// them as missing, which never scales down on a guess.
func (p *Provider) GetMetricBySelector(_ context.Context, namespace string, selector labels.Selector, info provider.CustomMetricInfo, metricSel labels.Selector) (*custom_metrics.MetricValueList, error) {
	defer p.metrics.observe("custom", time.Now())
	gr := normalize(info.GroupResource)
	if gr != podsResource {
		return nil, badRequest("%s/*/%s: list queries are served for pods; ask for one %s by name", info.GroupResource, info.Metric, info.GroupResource)
	}
	if _, agg := parseMetric(info.Metric); agg != aggSum {
		return nil, badRequest(podHasOneValue, info.Metric)
	}
	buf, _ := p.pool.Get().(*[]collector.PodValue)
	if buf == nil {
		buf = new([]collector.PodValue)
	}
	values, cov := p.store.PodValues(namespace, selector, info.Metric, metricSel, (*buf)[:0])
	defer func() { *buf = values[:0]; p.pool.Put(buf) }()
	if len(values) == 0 {
		return nil, p.noPodValues(namespace, selector, info.Metric, metricSel, cov)
	}
	sel := labelSelector(metricSel)
	items := make([]custom_metrics.MetricValue, len(values))
	oldest := values[0].Time
	for i, v := range values {
		items[i] = custom_metrics.MetricValue{
			DescribedObject: custom_metrics.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: namespace, Name: v.Pod},
			Metric:          custom_metrics.MetricIdentifier{Name: info.Metric, Selector: sel},
			Timestamp:       metav1.NewTime(v.Time),
			Value:           quantity(v.Value),
		}
		if v.Time.Before(oldest) {
			oldest = v.Time
		}
	}
	p.metrics.age(oldest)
	return &custom_metrics.MetricValueList{Items: items}, nil
}

// GetExternalMetric returns one aggregate over the series that match
// selector: the fleet view (by namespace, workload, kind, region, node).
func (p *Provider) GetExternalMetric(_ context.Context, namespace string, selector labels.Selector, info provider.ExternalMetricInfo) (*external_metrics.ExternalMetricValueList, error) {
	defer p.metrics.observe("external", time.Now())
	scope := namespace
	if p.opts.Load().ExternalAllNamespaces {
		if _, named := selector.RequiresExactMatch(collector.LabelNamespace); named || hasRequirement(selector, collector.LabelNamespace) {
			scope = ""
		}
	} else if hasRequirement(selector, collector.LabelNamespace) {
		if v, ok := selector.RequiresExactMatch(collector.LabelNamespace); !ok || v != namespace {
			return nil, badRequest("selector %q names another namespace than the request's (%s); the adapter runs without --external-metrics-all-namespaces", selector.String(), namespace)
		}
	}
	gauge, agg := parseMetric(info.Metric)
	if agg == aggForecast {
		return p.externalForecast(namespace, selector, info, gauge)
	}
	a, cov := p.store.SeriesAggregate(scope, selector, gauge)
	what := fmt.Sprintf("series matching %q", selector.String())
	if scope != "" {
		what += " in namespace " + scope
	}
	if err := p.complete(gauge, cov, what, target{namespace: scope}); err != nil {
		return nil, err
	}
	p.metrics.age(a.Oldest)
	return &external_metrics.ExternalMetricValueList{Items: []external_metrics.ExternalMetricValue{{
		MetricName:   info.Metric,
		MetricLabels: exactLabels(selector),
		Timestamp:    metav1.NewTime(a.Oldest),
		Value:        quantity(agg.of(a)),
	}}}, nil
}

// complete refuses an aggregate that has no fresh part, or that misses a
// pod that should be in it: a partial sum looks like a drop in load and
// would scale the workload down.
func (p *Provider) complete(gauge string, cov collector.Coverage, what string, t target) error {
	if cov.Fresh == 0 || cov.Missing > 0 {
		return p.notFound(gauge, cov, what, t)
	}
	return nil
}

// notFound explains an empty or refused answer to the operator: first a
// namespace, workload or pod that does not exist, then a gauge no sidecar
// publishes, then the pods that should have published it.
func (p *Provider) notFound(gauge string, cov collector.Coverage, what string, t target) error {
	if cov.Pods == 0 {
		if err := p.absent(t); err != nil {
			return err
		}
	}
	if !cov.GaugeKnown {
		return notFound("no sidecar has published the gauge %q yet (gauges seen: %s)", gauge, strings.Join(p.store.Gauges(), ", "))
	}
	if cov.Missing > 0 {
		msg := fmt.Sprintf("%q of %s is incomplete: %d of %d pods stopped publishing it", gauge, what, cov.Missing, cov.Pods)
		if !cov.NewestStale.IsZero() {
			msg += fmt.Sprintf(" (newest of their samples is %s old)", time.Since(cov.NewestStale).Round(time.Second))
		}
		return noFreshValue(notFound("%s; a partial value is never served (samples go stale after a few publish intervals)", msg))
	}
	if cov.Pods == 0 {
		return noFreshValue(notFound("no fresh %q for %s: no pod in scope has published it (check the sidecars and the selector)", gauge, what))
	}
	return noFreshValue(notFound("no fresh %q for %s: %d pods match, none with a fresh sample (is their sidecar publishing?)", gauge, what, cov.Pods))
}

// ListAllMetrics lists every gauge seen, for every resource rtcscale
// describes. It never fails and costs a lock and a length check once the
// set is built.
func (p *Provider) ListAllMetrics() []provider.CustomMetricInfo {
	p.refreshLists()
	p.listMu.Lock()
	defer p.listMu.Unlock()
	return p.custom
}

// ListAllExternalMetrics lists every gauge seen and its aggregations.
func (p *Provider) ListAllExternalMetrics() []provider.ExternalMetricInfo {
	p.refreshLists()
	p.listMu.Lock()
	defer p.listMu.Unlock()
	return p.external
}

func (p *Provider) refreshLists() {
	gauges := p.store.Gauges()
	p.listMu.Lock()
	defer p.listMu.Unlock()
	if slices.Equal(gauges, p.listGauges) && p.custom != nil {
		return
	}
	objects := []schema.GroupResource{namespacesResource}
	for gr := range workloadResources {
		objects = append(objects, gr)
	}
	sort.Slice(objects, func(i, j int) bool { return objects[i].String() < objects[j].String() })
	custom := make([]provider.CustomMetricInfo, 0, len(gauges)*(1+3*len(objects)))
	external := make([]provider.ExternalMetricInfo, 0, len(gauges)*3)
	for _, g := range gauges {
		custom = append(custom, provider.CustomMetricInfo{GroupResource: podsResource, Namespaced: true, Metric: g})
		for _, name := range []string{g, g + suffixAvg, g + suffixMax} {
			for _, gr := range objects {
				custom = append(custom, provider.CustomMetricInfo{GroupResource: gr, Namespaced: gr != namespacesResource, Metric: name})
			}
			external = append(external, provider.ExternalMetricInfo{Metric: name})
		}
		if p.forecaster != nil {
			custom, external = appendForecasts(custom, external, objects, g)
		}
	}
	p.custom, p.external, p.listGauges = custom, external, gauges
}

// quantity keeps milli-precision where it fits in an int64.
func quantity(v float64) resource.Quantity {
	if m := v * 1000; m < math.MaxInt64/2 {
		return *resource.NewMilliQuantity(int64(math.Round(m)), resource.DecimalSI)
	}
	return *resource.NewQuantity(int64(math.Min(v, math.MaxInt64/2)), resource.DecimalSI)
}

func labelSelector(sel labels.Selector) *metav1.LabelSelector {
	if sel == nil || sel.Empty() {
		return nil
	}
	ls, err := metav1.ParseToLabelSelector(sel.String())
	if err != nil {
		return nil
	}
	return ls
}

func hasRequirement(sel labels.Selector, key string) bool {
	reqs, _ := sel.Requirements()
	for _, r := range reqs {
		if r.Key() == key {
			return true
		}
	}
	return false
}

// exactLabels are the labels a selector pins to one value: they identify
// the aggregate's series.
func exactLabels(sel labels.Selector) map[string]string {
	reqs, _ := sel.Requirements()
	out := map[string]string{}
	for _, r := range reqs {
		if (r.Operator() == selection.Equals || r.Operator() == selection.DoubleEquals || r.Operator() == selection.In) && r.Values().Len() == 1 {
			out[r.Key()] = r.Values().List()[0]
		}
	}
	return out
}

func notFound(format string, args ...any) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: fmt.Sprintf(format, args...),
	}}
}

func badRequest(format string, args ...any) error {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}
