package collector

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/sample"
)

// populate fills a store with n pods of one Deployment in one namespace, each
// with a fresh sample, as the informers and NATS would.
func populate(tb testing.TB, n int) *Store {
	now := time.Now()
	store := NewStore(Options{MaxSeries: n, MaxSeriesPerNamespace: n, Now: func() time.Time { return now }}, nil)
	store.SetReplicaSet("voice", "asterisk-6f9c8d7b5", "asterisk")
	// The informer's cache owns pod labels; the store only points at them.
	podLabels := map[string]string{"app": "asterisk", "pod-template-hash": "6f9c8d7b5"}
	x := sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Node: "node-1", Region: "eu-west-1", Time: now, Seq: 1, Interval: 5 * time.Second,
		Gauges: []sample.Gauge{{Name: "calls", Value: 41}, {Name: "channels", Value: 82}, {Name: "bitrate_in", Value: 6.56e6}, {Name: "bitrate_out", Value: 6.56e6}}}
	for i := range n {
		x.Pod = fmt.Sprintf("asterisk-6f9c8d7b5-%06d", i)
		store.UpsertPod(PodInfo{Namespace: "voice", Name: x.Pod, Labels: podLabels,
			Owner: Workload{Kind: WorkloadReplicaSet, Name: "asterisk-6f9c8d7b5"}, Ready: true, ReadySince: now.Add(-time.Hour)})
		if r := store.Ingest(&x); r != sample.Accepted {
			tb.Fatalf("rejected: %s", r)
		}
	}
	return store
}

// BenchmarkPodValues is the store's part of the HPA's Pods-metric query:
// every pod of a namespace matched against the target's selector.
func BenchmarkPodValues(b *testing.B) {
	sel := labels.SelectorFromSet(labels.Set{"app": "asterisk"})
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			store := populate(b, n)
			buf := make([]PodValue, 0, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				vals, _ := store.PodValues("voice", sel, "calls", labels.Everything(), buf[:0])
				if len(vals) != n {
					b.Fatalf("%d values", len(vals))
				}
			}
		})
	}
}

// BenchmarkWorkloadAggregate is an Object metric's sum over a Deployment.
func BenchmarkWorkloadAggregate(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			store := populate(b, n)
			w := Workload{Kind: WorkloadDeployment, Name: "asterisk"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if a, _ := store.WorkloadAggregate("voice", w, "calls", labels.Everything()); a.Count != n {
					b.Fatalf("%d pods", a.Count)
				}
			}
		})
	}
}

// BenchmarkMemoryPerPod reports the heap one pod's series costs: its store
// entry, pod name and sample (labels belong to the informer's cache).
func BenchmarkMemoryPerPod(b *testing.B) {
	const n = 100000
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		store := populate(b, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/pod")
		runtime.KeepAlive(store)
	}
}
