package adapter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/sample"
)

// benchProvider serves n pods of one Deployment, each with a fresh sample.
func benchProvider(b *testing.B, n int) *Provider {
	now := time.Now()
	store := collector.NewStore(collector.Options{MaxSeries: n, MaxSeriesPerNamespace: n, Now: func() time.Time { return now }}, nil)
	store.SetReplicaSet("voice", "asterisk-6f9c8d7b5", "asterisk")
	podLabels := map[string]string{"app": "asterisk"}
	s := sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Time: now, Interval: 5 * time.Second,
		Gauges: []sample.Gauge{{Name: "calls", Value: 41}, {Name: "bitrate_in", Value: 6.56e6}}}
	for i := range n {
		s.Pod = fmt.Sprintf("asterisk-6f9c8d7b5-%06d", i)
		store.UpsertPod(collector.PodInfo{Namespace: "voice", Name: s.Pod, Labels: podLabels, Ready: true, ReadySince: now.Add(-time.Hour),
			Owner: collector.Workload{Kind: collector.WorkloadReplicaSet, Name: "asterisk-6f9c8d7b5"}})
		if r := store.Ingest(&s); r != sample.Accepted {
			b.Fatal(r)
		}
	}
	return NewProvider(store, Options{}, nil)
}

// BenchmarkGetMetricBySelector is the HPA's Pods-metric request as the
// provider answers it: every pod matching the target's selector, as a
// MetricValueList. Serialization is the API server library's.
func BenchmarkGetMetricBySelector(b *testing.B) {
	sel := labels.SelectorFromSet(labels.Set{"app": "asterisk"})
	info := provider.CustomMetricInfo{GroupResource: schema.GroupResource{Resource: "pods"}, Namespaced: true, Metric: "calls"}
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			p := benchProvider(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				l, err := p.GetMetricBySelector(context.Background(), "voice", sel, info, labels.Everything())
				if err != nil || len(l.Items) != n {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetMetricByName is an Object metric on the Deployment.
func BenchmarkGetMetricByName(b *testing.B) {
	info := provider.CustomMetricInfo{GroupResource: schema.GroupResource{Group: "apps", Resource: "deployments"}, Namespaced: true, Metric: "calls"}
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			p := benchProvider(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "voice", Name: "asterisk"}, info, labels.Everything()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
