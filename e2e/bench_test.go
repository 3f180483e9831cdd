package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	cmv1beta1 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta1"
	"k8s.io/utils/ptr"

	"github.com/rtcscale/rtcscale/e2e/framework"
	"github.com/rtcscale/rtcscale/sample"
)

// BenchmarkHPARequest times the request the HPA controller makes for a Pods
// metric, the way it makes it: to the kube-apiserver, whose aggregation
// layer proxies it over TLS to the adapter, which authenticates the front
// proxy and asks the apiserver to authorize the caller. Each namespace holds
// 100, 1,000 or 10,000 pods with a fresh sample each. The path is the one
// ../shared/notes/anchors.md times prometheus-adapter on, on the same kind
// of machine; docs/benchmarks.md compares the two.
func BenchmarkHPARequest(b *testing.B) {
	e := env(b)
	cfg := rest.CopyConfig(e.Admin)
	cfg.QPS, cfg.Burst = 1e6, 1e6 // time the servers, not client-go's rate limiter
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// A yardstick: the apiserver answering one small object of its own,
	// with the same client and connection, no aggregation.
	b.Run("apiserver-namespace", func(b *testing.B) {
		timeRequests(b, func() error {
			_, err := client.CoreV1().Namespaces().Get(b.Context(), "default", metav1.GetOptions{})
			return err
		})
	})
	for _, n := range []int{100, 1000, 10000} {
		ctx := b.Context()
		ns := fmt.Sprintf("bench-%d", n)
		benchPods(ctx, b, client, e, ns, n)
		req := func() *rest.Request {
			return client.CoreV1().RESTClient().Get().AbsPath(customV1beta1+"/namespaces/"+ns+"/pods/*/calls").
				Param("labelSelector", "app=asterisk")
		}
		// The adapter's informer and store catch up with the pods and
		// samples; then every answer must hold all n pods.
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			raw, err := req().DoRaw(ctx)
			if err != nil {
				return false, nil
			}
			var list cmv1beta1.MetricValueList
			if err := json.Unmarshal(raw, &list); err != nil {
				return false, err
			}
			return len(list.Items) == n, nil
		})
		if err != nil {
			b.Fatalf("%s: the adapter never served all %d pods: %v", ns, n, err)
		}
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			timeRequests(b, func() error {
				raw, err := req().DoRaw(ctx)
				if err == nil && len(raw) < 100*n {
					err = fmt.Errorf("a %d-byte answer for %d pods", len(raw), n)
				}
				return err
			})
			reportMemory(b, e.Adapter)
		})
		if *heapProfiles != "" {
			profile, err := e.Adapter.HeapProfile(ctx, e.Admin)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(*heapProfiles, fmt.Sprintf("adapter-heap-pods=%d.pb.gz", n)), profile, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
}

var heapProfiles = flag.String("e2e.heap-profiles", "",
	"BenchmarkHPARequest writes the adapter's heap profile at each size into this folder (go tool pprof reads them)")

// reportMemory reports the adapter process's resident memory once the
// pods' samples are in and the requests have run, in MiB: now (rss), its
// peak since it started (peak-rss, what /usr/bin/time -v calls maximum
// resident set size), and the part of rss that is the binary's and other
// files' pages (file-rss) rather than anonymous memory (heap, stacks,
// runtime). The sizes run one after another in one adapter whose
// namespaces stay until the benchmark ends, so at pods=10000 it holds
// 11,100 pods.
func reportMemory(b *testing.B, a *framework.Adapter) {
	m, err := a.Process.Memory()
	if err != nil {
		b.Fatal(err)
	}
	const mib = 1 << 20
	b.ReportMetric(float64(m.RSS)/mib, "rss-MiB")
	b.ReportMetric(float64(m.Peak)/mib, "peak-rss-MiB")
	b.ReportMetric(float64(m.File)/mib, "file-rss-MiB")
	b.ReportMetric(float64(m.MajorFaults), "major-faults")
	// The Go runtime's own account, from the adapter's self-metrics: the
	// heap's spans in use, and all it holds from the OS (heap, stacks and
	// its metadata, mapped whether resident or not).
	resp, err := http.Get(a.OpsURL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	found := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), " ")
		unit, ok := map[string]string{"go_memstats_heap_inuse_bytes": "heap-inuse-MiB", "go_memstats_sys_bytes": "go-sys-MiB"}[name]
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			b.Fatalf("adapter /metrics: %q: %v", sc.Text(), err)
		}
		b.ReportMetric(v/mib, unit)
		found[name] = true
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	if len(found) != 2 {
		b.Fatalf("adapter /metrics lacks go_memstats_heap_inuse_bytes or go_memstats_sys_bytes (found %v)", found)
	}
}

// timeRequests runs do for the benchmark's iterations and reports the
// latencies' median and 99th percentile.
func timeRequests(b *testing.B, do func() error) {
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		err := do()
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
}

// benchPods creates namespace ns with n pods labelled app=asterisk and
// publishes one sample for each, fresh for 15 minutes. The pods are bound
// to a node no kubelet serves, so nothing else writes to them; they and
// the namespace go when the benchmark ends.
func benchPods(ctx context.Context, b *testing.B, client kubernetes.Interface, e *framework.Environment, ns string, n int) {
	b.Helper()
	if err := framework.CreateNamespace(ctx, client, ns); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		bg := context.Background()
		_ = client.CoreV1().Pods(ns).DeleteCollection(bg, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		_ = client.CoreV1().Namespaces().Delete(bg, ns, metav1.DeleteOptions{})
	})
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("asterisk-6f9c8d7b5-%05d", i)
	}
	todo := make(chan string)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for name := range todo {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "asterisk"}},
					Spec: corev1.PodSpec{NodeName: "bench-node",
						Containers: []corev1.Container{{Name: "rtc", Image: "registry.invalid/rtc:e2e"}}},
				}
				if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for _, name := range names {
		todo <- name
	}
	close(todo)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	var buf []byte
	for _, name := range names {
		smp := sample.Sample{Kind: sample.KindAsterisk, Namespace: ns, Pod: name,
			Time: time.Now(), Interval: sample.MaxInterval, Gauges: []sample.Gauge{{Name: sample.GaugeCalls, Value: 41}}}
		if err := framework.Publish(e.Conn, sample.DefaultSubjectPrefix, &smp, &buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Conn.Flush(); err != nil {
		b.Fatal(err)
	}
}
