package collector

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// fleetMessages encodes one sample per pod, as a fleet of Asterisk pods
// publishes them: four gauges each.
func fleetMessages(pods int, at time.Time) (subjects []string, bodies [][]byte) {
	for i := range pods {
		s := sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Pod: fmt.Sprintf("asterisk-6f9c8d7b5-%06d", i),
			Node: "node-1", Region: "eu-west-1", Time: at, Seq: 1, Interval: 5 * time.Second,
			Gauges: []sample.Gauge{{Name: "calls", Value: 41}, {Name: "channels", Value: 82}, {Name: "bitrate_in", Value: 6.56e6}, {Name: "bitrate_out", Value: 6.56e6}}}
		subjects = append(subjects, s.Subject(sample.DefaultSubjectPrefix))
		bodies = append(bodies, s.AppendJSON(nil))
	}
	return subjects, bodies
}

// BenchmarkIngest measures decode + validate + store of one sample on one
// core: what every NATS message costs the collector. As in steady state,
// every pod already has a series and each sample is newer than its last.
func BenchmarkIngest(b *testing.B) {
	const pods, rounds = 1000, 64
	now := time.Now()
	var subjects []string
	msgs := make([][][]byte, rounds)
	for r := range msgs {
		subjects, msgs[r] = fleetMessages(pods, now.Add(time.Duration(r)*time.Millisecond))
	}
	var sub *Subscriber
	fresh := func() {
		sub = NewSubscriber(NewStore(Options{Now: func() time.Time { return now }}, nil), sample.DefaultSubjectPrefix)
		for i := range pods {
			sub.HandleMessage(subjects[i], msgs[0][i])
		}
	}
	fresh()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, p := 1+(i/pods)%(rounds-1), i%pods
		if r == 1 && p == 0 && i > 0 {
			// Every round has been sent once: start over on a new store.
			b.StopTimer()
			fresh()
			b.StartTimer()
		}
		if got := sub.HandleMessage(subjects[p], msgs[r][p]); got != sample.Accepted {
			b.Fatalf("rejected: %s", got)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkNATS sends samples through a real nats-server on loopback. "raw"
// is a plain nats.go subscriber that only counts: the ceiling. "collector"
// decodes and stores each one. Both run in the same process and server, and
// the publisher encodes every sample anew (each newer than the pod's last)
// in both, so their ratio is what the collector costs end to end.
func BenchmarkNATS(b *testing.B) {
	srv := natstest.Start(b)
	const pods = 10000
	now := time.Now()
	subjects, _ := fleetMessages(pods, now)
	store := NewStore(Options{MaxFuture: time.Hour, StaleAfter: 1e6}, nil)
	col := NewSubscriber(store, sample.DefaultSubjectPrefix)
	smp := sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Node: "node-1", Region: "eu-west-1", Time: now, Interval: 5 * time.Second,
		Gauges: []sample.Gauge{{Name: "calls", Value: 41}, {Name: "channels", Value: 82}, {Name: "bitrate_in", Value: 6.56e6}, {Name: "bitrate_out", Value: 6.56e6}}}
	var buf []byte
	var seq uint64
	for _, mode := range []string{"raw", "collector"} {
		b.Run(mode, func(b *testing.B) {
			subConn := natstest.Connect(b, srv.ClientURL())
			pubConn := natstest.Connect(b, srv.ClientURL())
			done := make(chan struct{})
			received := 0
			handle := func(subject string, data []byte) {
				if mode == "collector" {
					col.HandleMessage(subject, data)
				}
				received++
				if received == b.N {
					close(done)
				}
			}
			sub, err := subConn.Subscribe(sample.DefaultSubjectPrefix+".>", func(m *nats.Msg) { handle(m.Subject, m.Data) })
			if err != nil {
				b.Fatal(err)
			}
			if err := sub.SetPendingLimits(-1, -1); err != nil {
				b.Fatal(err)
			}
			if err := subConn.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq++
				smp.Pod, smp.Seq = subjects[i%pods][len(sample.DefaultSubjectPrefix+".voice.asterisk."):], seq
				buf = smp.AppendJSON(buf[:0])
				if err := pubConn.Publish(subjects[i%pods], buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := pubConn.Flush(); err != nil {
				b.Fatal(err)
			}
			<-done
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			sub.Unsubscribe()
		})
	}
}

// populate fills a store with n pods of one Deployment in one namespace, each
// with a fresh sample, as the informers and NATS would.
func populate(tb testing.TB, n int) *Store {
	now := time.Now()
	store := NewStore(Options{MaxSeries: n, MaxSeriesPerNamespace: n, Now: func() time.Time { return now }}, nil)
	store.SetReplicaSet("voice", "asterisk-6f9c8d7b5", "asterisk")
	sub := NewSubscriber(store, sample.DefaultSubjectPrefix)
	subjects, bodies := fleetMessages(n, now)
	// The informer's cache owns pod labels; the store only points at them.
	podLabels := map[string]string{"app": "asterisk", "pod-template-hash": "6f9c8d7b5"}
	for i := range n {
		name := subjects[i][len(sample.DefaultSubjectPrefix+".voice.asterisk."):]
		store.UpsertPod(PodInfo{Namespace: "voice", Name: name, Labels: podLabels,
			Owner: Workload{Kind: WorkloadReplicaSet, Name: "asterisk-6f9c8d7b5"}, Ready: true, ReadySince: now.Add(-time.Hour)})
		if r := sub.HandleMessage(subjects[i], bodies[i]); r != sample.Accepted {
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
