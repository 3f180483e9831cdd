package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtcscale/rtcscale/sample"
)

// TestWorkloadMetrics: rtcscale_workload_value and rtcscale_workload_pods
// sum the fresh samples of each workload's known pods, resolving a
// Deployment through its ReplicaSet, and leave out stale samples, bare pods
// and pods the cluster has not told about.
func TestWorkloadMetrics(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	reg := prometheus.NewRegistry()
	s := NewStore(Options{Now: func() time.Time { return now }}, NewMetrics(reg))
	s.SetReplicaSet("voice", "asterisk-7d9f", "asterisk")
	for _, p := range []PodInfo{
		{Namespace: "voice", Name: "asterisk-7d9f-a", Owner: Workload{WorkloadReplicaSet, "asterisk-7d9f"}},
		{Namespace: "voice", Name: "asterisk-7d9f-b", Owner: Workload{WorkloadReplicaSet, "asterisk-7d9f"}},
		{Namespace: "voice", Name: "asterisk-7d9f-stale", Owner: Workload{WorkloadReplicaSet, "asterisk-7d9f"}},
		{Namespace: "voice", Name: "kamailio-0", Owner: Workload{WorkloadStatefulSet, "kamailio"}},
		{Namespace: "voice", Name: "bare"},
	} {
		s.UpsertPod(p)
	}
	ingest := func(kind sample.Kind, pod string, age time.Duration, gauges ...sample.Gauge) {
		t.Helper()
		smp := sample.Sample{Kind: kind, Namespace: "voice", Pod: pod, Time: now.Add(-age), Interval: 2 * time.Second, Gauges: gauges}
		if r := s.Ingest(&smp); r != sample.Accepted {
			t.Fatalf("sample of %s refused: %v", pod, r)
		}
	}
	ingest(sample.KindAsterisk, "asterisk-7d9f-a", 0, sample.Gauge{Name: "calls", Value: 10}, sample.Gauge{Name: "channels", Value: 20})
	ingest(sample.KindAsterisk, "asterisk-7d9f-b", time.Second, sample.Gauge{Name: "calls", Value: 5})
	ingest(sample.KindKamailio, "kamailio-0", 0, sample.Gauge{Name: "calls", Value: 40})
	ingest(sample.KindAsterisk, "bare", 0, sample.Gauge{Name: "calls", Value: 1000})
	ingest(sample.KindAsterisk, "unknown-pod", 0, sample.Gauge{Name: "calls", Value: 1000})
	ingest(sample.KindAsterisk, "asterisk-7d9f-stale", 0, sample.Gauge{Name: "calls", Value: 1000})
	// Samples stay fresh for 3 intervals, 6 s. At +7 s only the pods that
	// published again are fresh: stale's 1000 calls drop out.
	now = now.Add(5 * time.Second)
	ingest(sample.KindAsterisk, "asterisk-7d9f-a", 0, sample.Gauge{Name: "calls", Value: 12}, sample.Gauge{Name: "channels", Value: 24})
	ingest(sample.KindKamailio, "kamailio-0", 0, sample.Gauge{Name: "calls", Value: 41})
	now = now.Add(2 * time.Second)
	ingest(sample.KindAsterisk, "asterisk-7d9f-b", 0, sample.Gauge{Name: "calls", Value: 6})

	const want = `
# HELP rtcscale_workload_pods A workload's pods with a fresh sample.
# TYPE rtcscale_workload_pods gauge
rtcscale_workload_pods{namespace="voice",workload="asterisk",workload_kind="Deployment"} 2
rtcscale_workload_pods{namespace="voice",workload="kamailio",workload_kind="StatefulSet"} 1
# HELP rtcscale_workload_value A gauge summed over a workload's pods with a fresh sample (what <workload>/<gauge> serves).
# TYPE rtcscale_workload_value gauge
rtcscale_workload_value{gauge="calls",namespace="voice",workload="asterisk",workload_kind="Deployment"} 18
rtcscale_workload_value{gauge="channels",namespace="voice",workload="asterisk",workload_kind="Deployment"} 24
rtcscale_workload_value{gauge="calls",namespace="voice",workload="kamailio",workload_kind="StatefulSet"} 41
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rtcscale_workload_value", "rtcscale_workload_pods"); err != nil {
		t.Error(err)
	}
}

// BenchmarkWorkloadMetrics measures the store pass behind
// rtcscale_workload_* and a whole scrape of the registry, at 10,000 pods in
// 100 Deployments publishing 4 gauges each.
func BenchmarkWorkloadMetrics(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	reg := prometheus.NewRegistry()
	s := NewStore(Options{Now: func() time.Time { return now }}, NewMetrics(reg))
	gauges := []sample.Gauge{{Name: "calls", Value: 50}, {Name: "channels", Value: 100}, {Name: "bitrate_in", Value: 8e6}, {Name: "bitrate_out", Value: 8e6}}
	for w := range 100 {
		rs := fmt.Sprintf("asterisk-%d-7d9f", w)
		s.SetReplicaSet("voice", rs, fmt.Sprintf("asterisk-%d", w))
		for p := range 100 {
			name := fmt.Sprintf("%s-%d", rs, p)
			s.UpsertPod(PodInfo{Namespace: "voice", Name: name, Owner: Workload{WorkloadReplicaSet, rs}})
			smp := sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Pod: name, Time: now, Interval: 5 * time.Second, Gauges: gauges}
			if r := s.Ingest(&smp); r != sample.Accepted {
				b.Fatal(r)
			}
		}
	}
	b.Run("Workloads", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if n := len(s.Workloads(nil)); n != 400 {
				b.Fatalf("%d workload gauges", n)
			}
		}
	})
	b.Run("Gather", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := reg.Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
