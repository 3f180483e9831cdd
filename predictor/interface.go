package predictor

import (
	"time"

	"github.com/rtcscale/rtcscale/collector"
)

// Source is what the live forecasts read from the collector's store
// (collector.Store): every workload's sums, recorded each step, and its
// pods' start-up times, which the learned lead comes from.
type Source interface {
	Workloads(out []collector.WorkloadGauge) []collector.WorkloadGauge
	StartupQuantile(namespace string, w collector.Workload, q float64) (time.Duration, int)
}

var _ Source = (*collector.Store)(nil)
