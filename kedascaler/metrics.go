package kedascaler

import (
	"context"
	"path"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Metrics are the scaler's self-metrics, in the adapter's registry.
type Metrics struct {
	requests *prometheus.CounterVec
	streams  prometheus.Gauge
}

// NewMetrics creates the scaler's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtcscale_keda_scaler_requests_total",
			Help: "KEDA external scaler calls answered, by method (IsActive, StreamIsActive, GetMetricSpec, GetMetrics) and gRPC code; a stream counts when it ends.",
		}, []string{"method", "code"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rtcscale_keda_scaler_active_streams",
			Help: "StreamIsActive streams open: one per external-push trigger KEDA watches.",
		}),
	}
	reg.MustRegister(m.requests, m.streams)
	return m
}

func (m *Metrics) count(fullMethod string, err error) {
	if m != nil {
		m.requests.WithLabelValues(path.Base(fullMethod), status.Code(err).String()).Inc()
	}
}

func (m *Metrics) streamOpened() {
	if m != nil {
		m.streams.Inc()
	}
}

func (m *Metrics) streamClosed() {
	if m != nil {
		m.streams.Dec()
	}
}

func (m *Metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	m.count(info.FullMethod, err)
	return resp, err
}

func (m *Metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	err := handler(srv, ss)
	m.count(info.FullMethod, err)
	return err
}
