package predictor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/trace"
)

// fiveWeeksOfMinutes is the live case: a weekly workload's full history.
func fiveWeeksOfMinutes() *History {
	return fill(time.Minute, monday, 35, 0.05, func(t time.Time) float64 { return rtcLoad(t, true) })
}

// BenchmarkFit fits the forecast on 5 weeks of 1-minute data of one
// workload, as the adapter does in the background every 15 minutes.
func BenchmarkFit(b *testing.B) {
	h := fiveWeeksOfMinutes()
	b.ReportAllocs()
	for b.Loop() {
		if p := Fit(h, Options{Lead: 15 * time.Minute}); p.Model() == "reactive" {
			b.Fatal("no forecast fitted")
		}
	}
}

// BenchmarkServe is the query-time cost: the level of the last 5 minutes
// and a table lookup.
func BenchmarkServe(b *testing.B) {
	h := fiveWeeksOfMinutes()
	p := Fit(h, Options{Lead: 15 * time.Minute})
	b.ReportAllocs()
	for b.Loop() {
		p.Serve(monday, 10)
	}
}

// BenchmarkRollingNYCTaxi forecasts seven months of nyc_taxi.csv at one
// minute, refitted every 15 minutes, as `rtcscale whatif` does once per
// lead.
func BenchmarkRollingNYCTaxi(b *testing.B) {
	s, err := trace.ReadFile(filepath.Join(trace.Dir(), "nyc_taxi.csv"))
	if err != nil {
		b.Fatal(err)
	}
	y, err := s.Resample(time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Rolling{}).Forecast(context.Background(), s[0].T, time.Minute, y, 6*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
