package predictor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/collector"
	wire "github.com/rtcscale/rtcscale/sample"
)

// benchFleet is a collector holding workloads Deployments of pods pods
// each, every pod with a fresh sample of calls and channels.
func benchFleet(b *testing.B, workloads, pods int, now time.Time) *collector.Store {
	src := collector.NewStore(collector.Options{Now: func() time.Time { return now }}, nil)
	for w := range workloads {
		rs := fmt.Sprintf("app-%d-7c9", w)
		src.SetReplicaSet("voice", rs, fmt.Sprint("app-", w))
		for p := range pods {
			name := fmt.Sprintf("%s-%d", rs, p)
			src.UpsertPod(collector.PodInfo{Namespace: "voice", Name: name, Owner: collector.Workload{Kind: collector.WorkloadReplicaSet, Name: rs},
				Ready: true, Created: now.Add(-time.Hour), ReadySince: now.Add(-time.Hour + time.Minute)})
			s := wire.Sample{Kind: wire.KindAsterisk, Namespace: "voice", Pod: name, Time: now, Interval: 5 * time.Second,
				Gauges: []wire.Gauge{{Name: "calls", Value: 40}, {Name: "channels", Value: 80}}}
			if r := src.Ingest(&s); r != wire.Accepted {
				b.Fatal(r.Description())
			}
		}
	}
	return src
}

// BenchmarkLiveTick is the per-minute recording of 100 workloads of 20
// pods (2,000 pods, 2 gauges: 200 histories), without a store, once the
// histories exist.
func BenchmarkLiveTick(b *testing.B) {
	now := time.Date(2024, 6, 6, 8, 0, 30, 0, time.UTC)
	l, err := NewLive(benchFleet(b, 100, 20, now), LiveConfig{Now: func() time.Time { return now }}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := l.Tick(ctx, now); err != nil { // creates the 200 histories (39 MiB)
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Tick(ctx, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLiveForecast is what the adapter adds to an HPA's query of
// <gauge>_forecast: the lookup and Serve of a workload fitted on 5 weeks
// of minutes, lead 15 minutes.
func BenchmarkLiveForecast(b *testing.B) {
	l, err := NewLive(benchFleet(b, 1, 1, monday), LiveConfig{Now: func() time.Time { return monday }}, nil)
	if err != nil {
		b.Fatal(err)
	}
	w := collector.Workload{Kind: collector.WorkloadDeployment, Name: "app-0"}
	l.mu.Lock()
	s := l.newSeries(seriesID{"voice", w, "calls"}, fiveWeeksOfMinutes())
	s.lead = 15 * time.Minute
	l.mu.Unlock()
	l.Refit(context.Background(), monday)
	if s.pred.Model() == "reactive" {
		b.Fatal("no model fitted")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := l.Forecast("voice", w, "calls", 10); !ok {
			b.Fatal("not forecast")
		}
	}
}
