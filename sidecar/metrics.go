package sidecar

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/prometheus/client_golang/prometheus"
)

// Why a poll published nothing, the result label of
// rtcscale_sidecar_reads_total besides "ok".
const (
	// readTimeout: the server did not answer within the interval.
	readTimeout = "timeout"
	// readUnreachable: no connection to the server, or it was lost.
	readUnreachable = "unreachable"
	// readHTTPStatus: the server answered with an HTTP error status.
	readHTTPStatus = "http_status"
	// readBadReply: the server answered, but with an error or something
	// unusable (not its documented shape, a value no load can be).
	readBadReply = "bad_reply"
	// readInvalidSample: the reading makes no valid sample.
	readInvalidSample = "invalid_sample"
)

// readResults are every value of the result label, so that each series
// exists from the start (a rate over a series that appears late misses
// its first increase).
var readResults = []string{"ok", readTimeout, readUnreachable, readHTTPStatus, readBadReply, readInvalidSample}

// metrics are the sidecar's self-metrics.
type metrics struct {
	reads         map[string]prometheus.Counter
	published     prometheus.Counter
	publishErrors prometheus.Counter
	draining      prometheus.Gauge
	lastRead      prometheus.Gauge
}

// newMetrics creates the metrics and registers them with reg, if not nil,
// with the NATS connection's state read at scrape time.
func newMetrics(reg prometheus.Registerer, natsUp func() bool) *metrics {
	reads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtcscale_sidecar_reads_total",
		Help: "Polls of the server, by result: ok, or why nothing was published (timeout, unreachable, http_status, bad_reply, invalid_sample).",
	}, []string{"result"})
	m := &metrics{
		reads: map[string]prometheus.Counter{},
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtcscale_sidecar_samples_published_total",
			Help: "Samples handed to NATS.",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtcscale_sidecar_publish_errors_total",
			Help: "Samples NATS refused to take (connection closed, reconnect buffer full).",
		}),
		draining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rtcscale_sidecar_draining",
			Help: "1 once a drain was requested: every sample since says draining.",
		}),
		lastRead: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rtcscale_sidecar_last_read_timestamp_seconds",
			Help: "When the server was last read successfully, in seconds since the epoch; 0 before the first read.",
		}),
	}
	for _, r := range readResults {
		m.reads[r] = reads.WithLabelValues(r)
	}
	if reg != nil {
		natsConnected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rtcscale_sidecar_nats_connected",
			Help: "1 while the connection to NATS is up.",
		}, func() float64 {
			if natsUp() {
				return 1
			}
			return 0
		})
		reg.MustRegister(reads, m.published, m.publishErrors, m.draining, m.lastRead, natsConnected)
	}
	return m
}

// readFailure says why a Source's Read failed, as a result label.
func readFailure(err error) string {
	var status *statusError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return readTimeout
	case errors.As(err, &status):
		return readHTTPStatus
	// A net.Error that is no timeout is a failed dial or a broken
	// connection; an AMI session the server closed reads as an EOF.
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return readUnreachable
	}
	return readBadReply
}

// Descriptions of the Dispatcher's self-metrics.
var (
	dispatcherSamplesDesc = prometheus.NewDesc("rtcscale_sidecar_dispatcher_samples_total",
		"Backends' samples the dispatcher received, by what became of them: used, or ignored as rejected (invalid, or not on their pod's subject), stale, no_addr (no --sip-address) or unknown_addr (no destination of the set).", []string{"result"}, nil)
	dispatcherChangesDesc = prometheus.NewDesc("rtcscale_sidecar_dispatcher_changes_total",
		"Destinations of the dispatcher set the sidecar disabled (a backend drains) or enabled again (it serves), by dispatcher.set_state.", []string{"state"}, nil)
	dispatcherResyncsDesc = prometheus.NewDesc("rtcscale_sidecar_dispatcher_resyncs_total",
		"Successful reads of the dispatcher set (dispatcher.list).", nil, nil)
	dispatcherRPCErrorsDesc = prometheus.NewDesc("rtcscale_sidecar_dispatcher_rpc_errors_total",
		"Failed dispatcher.list and dispatcher.set_state calls to Kamailio.", nil, nil)
)

// Collector exports the Dispatcher's counters (Stats) as self-metrics.
func (d *Dispatcher) Collector() prometheus.Collector { return dispatcherCollector{d} }

type dispatcherCollector struct{ d *Dispatcher }

func (dispatcherCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dispatcherSamplesDesc
	ch <- dispatcherChangesDesc
	ch <- dispatcherResyncsDesc
	ch <- dispatcherRPCErrorsDesc
}

func (c dispatcherCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.Stats()
	ignored := st.Rejected + st.Stale + st.NoAddr + st.UnknownAddr
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	counter(dispatcherSamplesDesc, st.Samples-min(ignored, st.Samples), "used")
	counter(dispatcherSamplesDesc, st.Rejected, "rejected")
	counter(dispatcherSamplesDesc, st.Stale, "stale")
	counter(dispatcherSamplesDesc, st.NoAddr, "no_addr")
	counter(dispatcherSamplesDesc, st.UnknownAddr, "unknown_addr")
	counter(dispatcherChangesDesc, st.Disabled, "disabled")
	counter(dispatcherChangesDesc, st.Enabled, "enabled")
	counter(dispatcherResyncsDesc, st.Resyncs)
	counter(dispatcherRPCErrorsDesc, st.RPCErrors)
}
