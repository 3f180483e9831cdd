package predictor

import (
	"testing"
	"time"
)

// fiveWeeksOfMinutes is the live case: a weekly workload's full history.
func fiveWeeksOfMinutes() *History {
	return fill(time.Minute, monday, 35, 0.05, func(t time.Time) float64 { return rtcLoad(t, true) })
}

// BenchmarkFit fits and selects all models on 5 weeks of 1-minute data of
// one workload, as the adapter does in the background.
func BenchmarkFit(b *testing.B) {
	h := fiveWeeksOfMinutes()
	b.ReportAllocs()
	for b.Loop() {
		if p := Fit(h, Options{Lead: 15 * time.Minute}); p.Model() == "reactive" {
			b.Fatal("no model fitted")
		}
	}
}

// BenchmarkServe is the query-time cost: level correction over the last
// window and the highest upper forecast over a 15-minute lead.
func BenchmarkServe(b *testing.B) {
	h := fiveWeeksOfMinutes()
	p := Fit(h, Options{Lead: 15 * time.Minute})
	b.ReportAllocs()
	for b.Loop() {
		p.Serve(monday, 10)
	}
}
