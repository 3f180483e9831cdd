package whatif

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rtcscale/rtcscale/hpasim"
	"github.com/rtcscale/rtcscale/trace"
)

// Input is a replay as `rtcscale whatif` describes it: a load trace, how
// to scale it, and the HPA manifest with the controller and fleet it runs
// on.
type Input struct {
	Series trace.Series
	// Peak or P99, if above 0, scales Series so that its maximum, or its
	// 99th percentile (clipped at 1.5 times it), is that many calls.
	Peak, P99 float64
	// HPA is the autoscaling/v2 manifest, named HPAName in errors.
	HPA        io.Reader
	HPAName    string
	Controller hpasim.Config
	Fleet      Fleet
	Initial    int32
	Bucket     time.Duration
}

// maxSteps bounds a replay's length: ten years at 15 s, 170 MB of demand.
const maxSteps = 21_000_000

// NewConfig checks in and resamples its trace to the controller's sync
// period: the replay's configuration.
func NewConfig(in Input) (Config, error) {
	s := in.Series
	if len(s) == 0 {
		return Config{}, errors.New("the trace has no samples")
	}
	switch {
	case in.Peak < 0 || in.P99 < 0:
		return Config{}, fmt.Errorf("--peak %v, --p99 %v: want a positive number of calls, or 0", in.Peak, in.P99)
	case in.Peak > 0 && in.P99 > 0:
		return Config{}, errors.New("--peak and --p99 both scale the trace: give one")
	case in.Peak > 0:
		s = s.ScaleToPeak(in.Peak)
	case in.P99 > 0:
		s = s.ScaleToP99(in.P99, 1.5)
	}
	if in.Controller.SyncPeriod <= 0 {
		return Config{}, fmt.Errorf("--sync-period %s: want a positive duration", in.Controller.SyncPeriod)
	}
	if steps := s[len(s)-1].T.Sub(s[0].T) / in.Controller.SyncPeriod; steps > maxSteps {
		return Config{}, fmt.Errorf("the trace spans %d sync periods, more than the %d a replay holds; use a longer --sync-period or a shorter trace", steps, maxSteps)
	}
	demand, err := s.Resample(in.Controller.SyncPeriod)
	if err != nil {
		return Config{}, err
	}
	h, err := hpasim.ReadHPA(in.HPA)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", in.HPAName, err)
	}
	if _, err := SplitHPA(h, in.Controller); err != nil {
		return Config{}, fmt.Errorf("%s: %w", in.HPAName, err)
	}
	return Config{
		Start: s[0].T, Step: in.Controller.SyncPeriod, Demand: demand, HPA: h,
		Controller: in.Controller, Fleet: in.Fleet, Initial: in.Initial, Bucket: in.Bucket,
	}, nil
}
