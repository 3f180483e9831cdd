package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtcscale/rtcscale/sample"
)

// Metrics are the store's self-metrics: what it accepted, refused and
// forgot, and what it holds (read at scrape time). Counters are resolved
// once per label value, so that counting a sample does not allocate.
type Metrics struct {
	accepted  prometheus.Counter
	rejected  [sample.NumReasons]prometheus.Counter
	evictions prometheus.Counter

	reg prometheus.Registerer
}

// NewMetrics creates the store's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtcscale_samples_accepted_total",
			Help: "Load samples stored as their pod's latest.",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtcscale_stale_evictions_total",
			Help: "Samples forgotten because they went stale (their pod stopped publishing).",
		}),
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtcscale_samples_rejected_total",
		Help: "Load samples refused, by reason (see docs/wire-format.md).",
	}, []string{"reason"})
	for r := sample.Accepted + 1; r < sample.NumReasons; r++ {
		m.rejected[r] = rejected.WithLabelValues(r.String())
	}
	reg.MustRegister(m.accepted, rejected, m.evictions)
	m.reg = reg
	return m
}

// bind registers the gauges that read the store at scrape time.
func (m *Metrics) bind(s *Store) { m.reg.MustRegister(storeCollector{s}) }

// storeCollector reads the store's counts once per scrape.
type storeCollector struct{ s *Store }

var (
	seriesDesc    = prometheus.NewDesc("rtcscale_series", "Pods with a load sample held in memory.", nil, nil)
	unknownDesc   = prometheus.NewDesc("rtcscale_series_unknown", "Of the pods with a load sample, those the cluster has not reported: counted in no metric.", nil, nil)
	freshDesc     = prometheus.NewDesc("rtcscale_series_fresh", "Pods whose latest sample is fresh enough to serve.", nil, nil)
	knownPodsDesc = prometheus.NewDesc("rtcscale_pods_known", "Pods the cluster told the collector about.", nil, nil)
	gaugesDesc    = prometheus.NewDesc("rtcscale_gauge_names", "Distinct gauge names seen.", nil, nil)

	// Per workload, for dashboards: what the HPA's Object metrics see. One
	// series per workload and gauge its pods publish.
	workloadValueDesc = prometheus.NewDesc("rtcscale_workload_value",
		"A gauge summed over a workload's pods with a fresh sample (what <workload>/<gauge> serves).",
		[]string{LabelNamespace, LabelWorkloadKind, LabelWorkload, "gauge"}, nil)
	workloadPodsDesc = prometheus.NewDesc("rtcscale_workload_pods",
		"A workload's pods with a fresh sample.",
		[]string{LabelNamespace, LabelWorkloadKind, LabelWorkload}, nil)
)

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- seriesDesc
	ch <- unknownDesc
	ch <- freshDesc
	ch <- knownPodsDesc
	ch <- gaugesDesc
	ch <- workloadValueDesc
	ch <- workloadPodsDesc
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(seriesDesc, prometheus.GaugeValue, float64(st.Series))
	ch <- prometheus.MustNewConstMetric(unknownDesc, prometheus.GaugeValue, float64(st.Unknown))
	ch <- prometheus.MustNewConstMetric(freshDesc, prometheus.GaugeValue, float64(st.Fresh))
	ch <- prometheus.MustNewConstMetric(knownPodsDesc, prometheus.GaugeValue, float64(st.KnownPods))
	ch <- prometheus.MustNewConstMetric(gaugesDesc, prometheus.GaugeValue, float64(st.GaugeNames))
	// One pass over the store for every workload's gauges; a workload's
	// fresh pods are the most any of its gauges counts.
	type key struct {
		ns string
		w  Workload
	}
	pods := map[key]int{}
	for _, g := range c.s.Workloads(nil) {
		kind := g.Workload.Kind.String()
		ch <- prometheus.MustNewConstMetric(workloadValueDesc, prometheus.GaugeValue, g.Aggregate.Sum, g.Namespace, kind, g.Workload.Name, g.Gauge)
		k := key{g.Namespace, g.Workload}
		pods[k] = max(pods[k], g.Coverage.Fresh)
	}
	for k, n := range pods {
		ch <- prometheus.MustNewConstMetric(workloadPodsDesc, prometheus.GaugeValue, float64(n), k.ns, k.w.Kind.String(), k.w.Name)
	}
}

func (m *Metrics) count(r sample.Reason) {
	if m == nil {
		return
	}
	if r == sample.Accepted {
		m.accepted.Inc()
		return
	}
	m.rejected[r].Inc()
}

func (m *Metrics) evicted(n int) {
	if m != nil && n > 0 {
		m.evictions.Add(float64(n))
	}
}
