package adapter

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/sample"
)

// FuzzProvider asks the provider anything a client can put in a request:
// any resource, name, metric name and selectors that parse. Every answer
// is a value or a 400/404 that says why, never a panic or a server error.
func FuzzProvider(f *testing.F) {
	f.Add("pods", "voice", "asterisk-0", "calls", "app=asterisk", "kind=asterisk")
	f.Add("deployments.apps", "voice", "asterisk", "calls_max", "", "region in (eu,us)")
	f.Add("namespaces", "", "voice", "calls_avg", "app", "!draining")
	f.Add("Deployment", "voice", "asterisk", "_avg", "x!=y", "namespace=meet")
	now := time.Now()
	store := collector.NewStore(collector.Options{Now: func() time.Time { return now }}, nil)
	store.SetReplicaSet("voice", "asterisk-7c9", "asterisk")
	for i, pod := range []string{"asterisk-7c9-0", "asterisk-7c9-1"} {
		store.UpsertPod(collector.PodInfo{Namespace: "voice", Name: pod, Labels: map[string]string{"app": "asterisk"}, Ready: true,
			Owner: collector.Workload{Kind: collector.WorkloadReplicaSet, Name: "asterisk-7c9"}})
		store.Ingest(&sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Pod: pod, Time: now, Interval: time.Second,
			Gauges: []sample.Gauge{{Name: "calls", Value: float64(i)}}})
	}
	p := NewProvider(store, Options{}, nil)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, resource, namespace, name, metric, selector, metricSelector string) {
		sel, err1 := labels.Parse(selector)
		msel, err2 := labels.Parse(metricSelector)
		if err1 != nil || err2 != nil {
			return // the API server refuses these before the provider sees them
		}
		gr := schema.ParseGroupResource(resource)
		info := provider.CustomMetricInfo{GroupResource: gr, Namespaced: true, Metric: metric}
		v, err := p.GetMetricByName(ctx, types.NamespacedName{Namespace: namespace, Name: name}, info, msel)
		check(t, "GetMetricByName", err)
		if err == nil && (v.Value.Sign() < 0 || v.Timestamp.IsZero()) {
			t.Fatalf("GetMetricByName: %+v", v)
		}
		l, err := p.GetMetricBySelector(ctx, namespace, sel, info, msel)
		check(t, "GetMetricBySelector", err)
		if err == nil && len(l.Items) == 0 {
			t.Fatal("GetMetricBySelector: an empty list is an error to the HPA")
		}
		e, err := p.GetExternalMetric(ctx, namespace, sel, provider.ExternalMetricInfo{Metric: metric})
		check(t, "GetExternalMetric", err)
		if err == nil && (len(e.Items) != 1 || math.IsNaN(e.Items[0].Value.AsApproximateFloat64())) {
			t.Fatalf("GetExternalMetric: %+v", e)
		}
	})
}

func check(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("%s: %v is not an API status", what, err)
	}
	if code := status.Status().Code; code != 400 && code != 404 {
		t.Fatalf("%s: code %d: %v", what, code, err)
	}
}
