package ingest

import (
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the NATS side's self-metrics: the connection's state and the
// messages NATS dropped before they reached the Subscriber.
type Metrics struct {
	natsUp     prometheus.Gauge
	reconnects prometheus.Counter
	// dropped reads the Subscriber's subscription at scrape time (see
	// droppedMessages); droppedSeen is the highest count read so far.
	dropped     prometheus.CounterFunc
	sub         atomic.Pointer[nats.Subscription]
	droppedSeen atomic.Int64
}

// NewMetrics creates the NATS metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
	reg.MustRegister(m.natsUp, m.reconnects, m.dropped)
	return m
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
