// Package kedascaler serves rtcscale's values to KEDA through KEDA's
// external scaler gRPC protocol (externalscaler.proto, KEDA's own generated
// code), for clusters where KEDA owns external.metrics.k8s.io and
// workloads scale through ScaledObjects. It answers from the adapter's
// memory, with the metrics APIs' staleness and draining rules, and fails
// safe by itself: KEDA's fallback does not fire when an external scaler is
// unreachable or errs on activity (kedacore/keda#8056), so missing data
// reports the workload active rather than idle.
package kedascaler

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
)

// Source is where the scaler reads its values: adapter.Provider. Its
// errors are the metrics APIs' (a 404 naming what does not exist, a 400
// naming the mistake), and adapter.IsNoFreshValue tells the refusals for
// stale or missing samples apart.
type Source interface {
	WorkloadSum(namespace string, w collector.Workload, gauge string) (adapter.Value, error)
	WorkloadForecast(namespace string, w collector.Workload, gauge string) (adapter.Value, error)
	SelectorSum(namespace string, pods labels.Selector, gauge string) (adapter.Value, error)
}

var _ Source = (*adapter.Provider)(nil)

// Scaler implements externalscaler.ExternalScalerServer over a Source.
type Scaler struct {
	externalscaler.UnimplementedExternalScalerServer
	src      Source
	interval time.Duration
	metrics  *Metrics
}

// NewScaler returns a Scaler over src. StreamIsActive checks the activity
// of each stream every interval: the store has no hook for arriving
// samples, and samples arrive once per publish interval, so checking at
// that interval notices a crossing within one. metrics may be nil.
func NewScaler(src Source, interval time.Duration, metrics *Metrics) *Scaler {
	return &Scaler{src: src, interval: interval, metrics: metrics}
}

// GetMetricSpec names the trigger's metric and its value per replica. It
// reads the metadata only: KEDA asks for it when it builds the HPA, which
// must work while the workload has no pods.
func (s *Scaler) GetMetricSpec(_ context.Context, ref *externalscaler.ScaledObjectRef) (*externalscaler.GetMetricSpecResponse, error) {
	q, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	return &externalscaler.GetMetricSpecResponse{MetricSpecs: []*externalscaler.MetricSpec{{
		MetricName: q.metricName(),
		// The deprecated integer field, for a KEDA that predates the
		// float one: the target rounded up, so that it never asks for
		// fewer replicas than the float would.
		TargetSize:      int64(math.Ceil(q.target)),
		TargetSizeFloat: q.target,
	}}}, nil
}

// GetMetrics returns the trigger's value, or an error when it is not known
// now: a stale value is never returned.
func (s *Scaler) GetMetrics(_ context.Context, req *externalscaler.GetMetricsRequest) (*externalscaler.GetMetricsResponse, error) {
	q, err := parseRef(req.GetScaledObjectRef())
	if err != nil {
		return nil, err
	}
	// KEDA strips its sN- prefix before asking; an empty name is a client
	// that does not say.
	if name := req.GetMetricName(); name != "" && name != q.metricName() {
		return nil, status.Errorf(codes.InvalidArgument, "metric %q: this trigger's metric is %q (metadata gauge and forecast)", clip(name), q.metricName())
	}
	v, err := s.value(q)
	if err != nil {
		return nil, grpcError(err)
	}
	return &externalscaler.GetMetricsResponse{MetricValues: []*externalscaler.MetricValue{{
		MetricName:       q.metricName(),
		MetricValue:      int64(math.Ceil(v.Value)),
		MetricValueFloat: v.Value,
	}}}, nil
}

// IsActive reports whether the value is above the activation threshold;
// a value not known now (stale or missing samples) is active.
func (s *Scaler) IsActive(_ context.Context, ref *externalscaler.ScaledObjectRef) (*externalscaler.IsActiveResponse, error) {
	q, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	active, err := s.active(q)
	if err != nil {
		return nil, err
	}
	return &externalscaler.IsActiveResponse{Result: active}, nil
}

// StreamIsActive sends the activity at once, then again whenever it
// changes, until the stream ends. A mistake that appears later (the
// workload's pods all deleted) ends the stream with its error; KEDA
// reopens it with a backoff.
func (s *Scaler) StreamIsActive(ref *externalscaler.ScaledObjectRef, stream externalscaler.ExternalScaler_StreamIsActiveServer) error {
	q, err := parseRef(ref)
	if err != nil {
		return err
	}
	s.metrics.streamOpened()
	defer s.metrics.streamClosed()
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	var last, sent bool
	for {
		active, err := s.active(q)
		if err != nil {
			return err
		}
		if !sent || active != last {
			if err := stream.Send(&externalscaler.IsActiveResponse{Result: active}); err != nil {
				return err
			}
			last, sent = active, true
		}
		select {
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		case <-tick.C:
		}
	}
}

// active is the fail-safe activity of q: above the threshold, or unknown.
func (s *Scaler) active(q *query) (bool, error) {
	v, err := s.value(q)
	switch {
	case adapter.IsNoFreshValue(err):
		return true, nil
	case err != nil:
		return false, grpcError(err)
	}
	return v.Value > q.activation, nil
}

func (s *Scaler) value(q *query) (adapter.Value, error) {
	switch {
	case q.pods != nil:
		return s.src.SelectorSum(q.namespace, q.pods, q.gauge)
	case q.forecast:
		return s.src.WorkloadForecast(q.namespace, q.workload, q.gauge)
	}
	return s.src.WorkloadSum(q.namespace, q.workload, q.gauge)
}

func parseRef(ref *externalscaler.ScaledObjectRef) (*query, error) {
	q, err := parseQuery(ref.GetNamespace(), ref.GetScalerMetadata())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return q, nil
}

// grpcError maps the metrics APIs' errors to gRPC codes, keeping their
// message: stale or missing samples are Unavailable (the value exists but
// is not known now), a namespace, workload or gauge that does not exist is
// NotFound, a request the APIs refuse is InvalidArgument.
func grpcError(err error) error {
	code := codes.Internal
	switch {
	case adapter.IsNoFreshValue(err):
		code = codes.Unavailable
	case apierrors.IsNotFound(err):
		code = codes.NotFound
	case apierrors.IsBadRequest(err):
		code = codes.InvalidArgument
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return status.Error(code, se.Status().Message)
	}
	return status.Error(code, err.Error())
}
