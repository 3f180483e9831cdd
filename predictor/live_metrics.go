package predictor

import (
	"github.com/prometheus/client_golang/prometheus"
)

// liveMetrics are a Live's self-metrics. The per-workload values are read
// from the Live at scrape time (liveCollector), so their series come and go
// with the workloads and cost nothing between scrapes.
type liveMetrics struct {
	fitSeconds   prometheus.Histogram
	writes       prometheus.Counter
	writeErrors  prometheus.Counter
	refused      prometheus.Counter
	loaded       prometheus.Counter
	loadRejected prometheus.Counter
	storeErrors  *prometheus.CounterVec
}

func newLiveMetrics(l *Live, reg prometheus.Registerer) *liveMetrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &liveMetrics{
		fitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rtcscale_predictor_fit_duration_seconds",
			Help:    "Time one fit of one workload's predictor took.",
			Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
		writes:       counter("rtcscale_history_writes_total", "Workload values appended to the JetStream history store (a value several adapter replicas write is stored once)."),
		writeErrors:  counter("rtcscale_history_write_errors_total", "Workload values the JetStream history store did not take; they are kept in memory, not persisted."),
		refused:      counter("rtcscale_forecast_series_refused_total", "Workload gauges given no history because the limit on histories (--forecast-max-series) was reached."),
		loaded:       counter("rtcscale_history_loaded_total", "Messages read from the JetStream history store at start."),
		loadRejected: counter("rtcscale_history_load_rejected_total", "Messages of the history store that did not decode or did not fit a history."),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtcscale_history_store_errors_total",
			Help: "Failed attempts to open and load the JetStream history store, by reason (permissions, jetstream_disabled, jetstream_error, unavailable, other); forecasts are reactive until one succeeds.",
		}, []string{"reason"}),
	}
	// Every reason from the start, so that a rate over it is defined.
	for _, r := range storeReasons {
		m.storeErrors.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.fitSeconds, m.writes, m.writeErrors, m.refused, m.loaded, m.loadRejected, m.storeErrors, liveCollector{l})
	}
	return m
}

// liveCollector reads the forecasts for dashboards at scrape time.
type liveCollector struct{ l *Live }

var (
	gaugeLabels    = []string{"namespace", "workload_kind", "workload", "gauge"}
	forecastDesc   = prometheus.NewDesc("rtcscale_forecast", "The forecast metric (<gauge>_forecast) as of the last recorded value of the workload's gauge: max(value, its level plus what the same time of past days adds over the lead).", gaugeLabels, nil)
	leadDesc       = prometheus.NewDesc("rtcscale_forecast_lead_seconds", "How far ahead the workload's forecast looks.", gaugeLabels[:3], nil)
	modelDesc      = prometheus.NewDesc("rtcscale_predictor_model_info", "The model of the workload's gauge's predictor (reactive: none yet, or no pattern).", append(gaugeLabels, "model"), nil)
	pointsDesc     = prometheus.NewDesc("rtcscale_history_points", "Steps of the workload's gauge's history that hold a value.", gaugeLabels, nil)
	seriesCountDsc = prometheus.NewDesc("rtcscale_forecast_series", "Workload gauges with a history.", nil, nil)
	storeReadyDesc = prometheus.NewDesc("rtcscale_history_store_ready", "1 once the JetStream history store is opened and loaded; 0 while it is not, and forecasts are reactive (<gauge>_forecast equals <gauge>).", nil, nil)
)

func (c liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{forecastDesc, leadDesc, modelDesc, pointsDesc, seriesCountDsc, storeReadyDesc} {
		ch <- d
	}
}

func (c liveCollector) Collect(ch chan<- prometheus.Metric) {
	l := c.l
	now := l.cfg.Now()
	// A value older than a few steps is a workload that stopped being
	// recorded: it is not shown as current.
	fresh := 3 * l.cfg.Step
	l.mu.RLock()
	defer l.mu.RUnlock()
	leads := map[seriesID]bool{}
	for _, s := range l.series {
		s.mu.Lock()
		p, lead, cur, at, h := s.pred, s.lead, s.current, s.currentAt, s.hist
		s.mu.Unlock()
		lv := []string{s.id.namespace, s.id.workload.Kind.String(), s.id.workload.Name, s.id.gauge}
		model := "reactive"
		if p != nil {
			model = p.Model()
		}
		ch <- prometheus.MustNewConstMetric(modelDesc, prometheus.GaugeValue, 1, append(lv, model)...)
		ch <- prometheus.MustNewConstMetric(pointsDesc, prometheus.GaugeValue, float64(h.Observed()), lv...)
		if at.IsZero() || now.Sub(at) > fresh {
			continue
		}
		ch <- prometheus.MustNewConstMetric(forecastDesc, prometheus.GaugeValue, p.Serve(now, cur), lv...)
		if w := (seriesID{namespace: s.id.namespace, workload: s.id.workload}); !leads[w] {
			leads[w] = true
			ch <- prometheus.MustNewConstMetric(leadDesc, prometheus.GaugeValue, lead.Seconds(), lv[:3]...)
		}
	}
	ch <- prometheus.MustNewConstMetric(seriesCountDsc, prometheus.GaugeValue, float64(len(l.series)))
	ready := 0.0
	if l.store != nil {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(storeReadyDesc, prometheus.GaugeValue, ready)
}
