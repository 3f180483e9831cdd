package collector

import (
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtcscale/rtcscale/sample"
)

// Metrics are the collector's self-metrics. Counters are resolved once per
// label value, so that counting a sample does not allocate.
type Metrics struct {
	accepted  prometheus.Counter
	rejected  [sample.NumReasons]prometheus.Counter
	evictions prometheus.Counter

	natsUp     prometheus.Gauge
	reconnects prometheus.Counter
	// dropped reads the Subscriber's subscription at scrape time (see
	// droppedMessages); droppedSeen is the highest count read so far.
	dropped     prometheus.CounterFunc
	sub         atomic.Pointer[nats.Subscription]
	droppedSeen atomic.Int64

	reg prometheus.Registerer
}

// NewMetrics creates the collector's metrics and registers them with reg.
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
		natsUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rtcscale_nats_connected",
			Help: "1 while the connection to NATS is up.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtcscale_nats_reconnects_total",
			Help: "Reconnections to NATS.",
		}),
	}
	m.dropped = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "rtcscale_nats_dropped_total",
		Help: "Messages NATS dropped because the collector fell behind (slow consumer).",
	}, m.droppedMessages)
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtcscale_samples_rejected_total",
		Help: "Load samples refused, by reason (see docs/wire-format.md).",
	}, []string{"reason"})
	for r := sample.Accepted + 1; r < sample.NumReasons; r++ {
		m.rejected[r] = rejected.WithLabelValues(r.String())
	}
	reg.MustRegister(m.accepted, rejected, m.evictions, m.natsUp, m.reconnects, m.dropped)
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

// watch makes rtcscale_nats_dropped_total count the messages NATS drops
// for sub, the Subscriber's one subscription.
func (m *Metrics) watch(sub *nats.Subscription) {
	if m != nil {
		m.sub.Store(sub)
	}
}

// droppedMessages is how many messages the subscription has dropped. The
// client counts each one, where its slow-consumer error comes once per
// episode, however many it drops. A drained subscription answers no more,
// and two scrapes may read in either order: the highest count read is
// kept, so that the counter never goes back.
func (m *Metrics) droppedMessages() float64 {
	if sub := m.sub.Load(); sub != nil {
		if n, err := sub.Dropped(); err == nil {
			for {
				seen := m.droppedSeen.Load()
				if int64(n) <= seen || m.droppedSeen.CompareAndSwap(seen, int64(n)) {
					break
				}
			}
		}
	}
	return float64(m.droppedSeen.Load())
}

// NATSConnected and NATSReconnected make Metrics a natsconn.Observer of the
// collector's connection.
func (m *Metrics) NATSConnected(up bool) {
	if m == nil {
		return
	}
	if up {
		m.natsUp.Set(1)
	} else {
		m.natsUp.Set(0)
	}
}

func (m *Metrics) NATSReconnected() {
	if m != nil {
		m.reconnects.Inc()
	}
}
