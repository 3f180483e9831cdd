package adapter

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the adapter's self-metrics.
type Metrics struct {
	latency  *prometheus.HistogramVec
	custom   prometheus.Observer
	extern   prometheus.Observer
	valueAge prometheus.Histogram
}

// NewMetrics creates the adapter's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rtcscale_api_request_duration_seconds",
			Help:    "Time the provider took to answer a metrics API request, by API (custom, external).",
			Buckets: []float64{1e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 0.1},
		}, []string{"api"}),
		valueAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rtcscale_served_value_age_seconds",
			Help:    "Age of the oldest sample in each answer: how fresh what the HPA sees is.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 15, 30, 60},
		}),
	}
	m.custom = m.latency.WithLabelValues("custom")
	m.extern = m.latency.WithLabelValues("external")
	reg.MustRegister(m.latency, m.valueAge)
	return m
}

func (m *Metrics) observe(api string, start time.Time) {
	if m == nil {
		return
	}
	o := m.custom
	if api == "external" {
		o = m.extern
	}
	o.Observe(time.Since(start).Seconds())
}

func (m *Metrics) age(ts time.Time) {
	if m != nil && !ts.IsZero() {
		m.valueAge.Observe(time.Since(ts).Seconds())
	}
}
