package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// soakSetting reads a positive setting of the soak from the environment.
func soakSetting(b *testing.B, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return f
}

// BenchmarkSoak runs the adapter under a sustained sample rate through a
// real NATS server on loopback while HPA-style queries run, and reports
// what the operator cares about: whether the heap stays flat, how long a
// query takes under that load, and whether NATS dropped anything.
//
// RTCSCALE_SOAK_SECONDS (default 10), RTCSCALE_SOAK_RATE (samples/s,
// default 20000) and RTCSCALE_SOAK_PODS (default 40000, in Deployments of
// 1000) set it; each pod publishes every pods/rate (2s by default). Run it
// with -benchtime 1x.
//
// A query that finds a pod's sample stale (the publisher or the collector
// fell behind by more than three intervals) is refused, as it would be in
// production; the benchmark counts those refusals rather than failing.
func BenchmarkSoak(b *testing.B) {
	duration := time.Duration(soakSetting(b, "RTCSCALE_SOAK_SECONDS", 10) * float64(time.Second))
	rate := soakSetting(b, "RTCSCALE_SOAK_RATE", 20000)
	pods := int(soakSetting(b, "RTCSCALE_SOAK_PODS", 40000))
	deployments := max(pods/1000, 1)

	srv := natstest.Start(b)
	names := make([]string, pods)
	subjects := make([]string, pods)
	// The cluster: Deployments of 1000 Ready pods, each through its
	// ReplicaSet, in client-go's in-memory cluster for the informers.
	var objs []k8sruntime.Object
	ready := metav1.NewTime(time.Now().Add(-time.Hour))
	for d := range deployments {
		rs := fmt.Sprintf("asterisk-%d-6f9c8d7b5", d)
		objs = append(objs, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "voice", Name: rs, OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "apps/v1", Kind: "Deployment", Name: fmt.Sprintf("asterisk-%d", d), UID: "d", Controller: ptr(true)}}}})
	}
	for i := range names {
		d := i % deployments
		rs := fmt.Sprintf("asterisk-%d-6f9c8d7b5", d)
		names[i] = fmt.Sprintf("%s-%06d", rs, i)
		subjects[i] = sample.Subject(sample.DefaultSubjectPrefix, "voice", sample.KindAsterisk, names[i])
		objs = append(objs, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "voice", Name: names[i], Labels: map[string]string{"app": fmt.Sprintf("asterisk-%d", d)},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, UID: "r", Controller: ptr(true)}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: ready}}},
		})
	}
	// The adapter as it runs, minus TLS: its forecasts off, as they do
	// not change the ingest and query paths measured here.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, done, err := Config{
		SubjectPrefix: sample.DefaultSubjectPrefix, ExternalMetrics: true, Client: fake.NewClientset(objs...),
		NATS: natsconn.Options{URL: srv.ClientURL()}, MetricsAddress: "127.0.0.1:0",
	}.StartLocal(ctx, ln)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		cancel()
		<-done
	}()
	store, reg, apiURL := s.Store, s.Registry, "http://"+ln.Addr().String()
	pub := natstest.Connect(b, srv.ClientURL())

	// Each pod publishes every pods/rate seconds; its interval says so, so
	// that staleness (3 intervals) is what a real fleet at this rate sees.
	interval := max(time.Duration(float64(pods)/rate*float64(time.Second)), sample.MinInterval)
	var sent atomic.Int64
	publish := func(n int64) {
		s := sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Interval: interval,
			Gauges: []sample.Gauge{{Name: "calls", Value: 40}, {Name: "channels", Value: 80}, {Name: "bitrate_in", Value: 6.4e6}, {Name: "bitrate_out", Value: 6.4e6}}}
		var buf []byte
		for range n {
			i := sent.Add(1)
			s.Pod, s.Seq, s.Time = names[i%int64(pods)], uint64(i), time.Now()
			buf = s.AppendJSON(buf[:0])
			if err := pub.Publish(subjects[i%int64(pods)], buf); err != nil {
				b.Error(err)
				return
			}
		}
	}
	var refused int
	query := func(path string) time.Duration {
		start := time.Now()
		resp, err := http.Get(apiURL + path)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusNotFound:
			refused++
		default:
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return time.Since(start)
	}

	for b.Loop() {
		// Warm up: every pod has a sample, and the heap is measured from
		// this steady state.
		publish(int64(pods))
		if err := pub.Flush(); err != nil {
			b.Fatal(err)
		}
		for store.Stats().Fresh < pods {
			time.Sleep(10 * time.Millisecond)
		}
		heapStart := heapInuse()
		acceptedStart := counterValue(reg, "rtcscale_samples_accepted_total", "")

		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the fleet, paced to the rate
			defer wg.Done()
			start := time.Now()
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			var done int64
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					due := int64(time.Since(start).Seconds() * rate)
					publish(due - done)
					done = due
				}
			}
		}()
		// The heap in use once a second, garbage included: what the
		// process needs between collections.
		var heapMax atomic.Uint64
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					heapMax.Store(max(heapMax.Load(), m.HeapInuse))
				}
			}
		}()
		// The HPAs: each Deployment's Pods metric and its Object sum, in
		// turn. The heap held is also measured at half time: with the one
		// at the end, it tells a plateau from a slope.
		var podsLat, sumLat []time.Duration
		var heapHalf uint64
		half, deadline := time.Now().Add(duration/2), time.Now().Add(duration)
		for i := 0; time.Now().Before(deadline); i++ {
			if heapHalf == 0 && time.Now().After(half) {
				heapHalf = heapInuse()
			}
			d := i % deployments
			podsLat = append(podsLat, query(fmt.Sprintf("%s/namespaces/voice/pods/*/calls?labelSelector=app%%3Dasterisk-%d", cm2, d)))
			sumLat = append(sumLat, query(fmt.Sprintf("%s/namespaces/voice/deployments.apps/asterisk-%d/calls", cm2, d)))
		}
		close(stop)
		wg.Wait()
		elapsed := duration.Seconds()
		heapEnd := heapInuse()
		if err := pub.Flush(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(sent.Load()-int64(pods))/elapsed, "sent/s")
		b.ReportMetric((counterValue(reg, "rtcscale_samples_accepted_total", "")-acceptedStart)/elapsed, "accepted/s")
		b.ReportMetric(counterValue(reg, "rtcscale_nats_dropped_total", ""), "dropped")
		b.ReportMetric(mib(heapStart), "heap-start-MiB")
		b.ReportMetric(mib(heapMax.Load()), "heap-peak-MiB")
		b.ReportMetric(mib(heapHalf), "heap-half-MiB")
		b.ReportMetric(mib(heapEnd), "heap-end-MiB")
		b.ReportMetric(float64(len(podsLat)+len(sumLat)), "queries")
		b.ReportMetric(float64(refused), "refused-stale")
		reportPercentiles(b, "pods", podsLat)
		reportPercentiles(b, "sum", sumLat)
		b.ReportMetric(float64(pods-store.Stats().Fresh), "stale-at-end")
	}
}

// heapInuse is the heap in use after a collection: what the process holds.
func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func reportPercentiles(b *testing.B, what string, lat []time.Duration) {
	slices.Sort(lat)
	for _, p := range []float64{0.5, 0.99} {
		b.ReportMetric(float64(lat[int(p*float64(len(lat)-1))].Microseconds())/1000, fmt.Sprintf("%s-p%g-ms", what, p*100))
	}
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, what+"-max-ms")
}
