package whatif

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rtcscale/rtcscale/internal/window"
)

// Load is a load series on a regular grid: Values[k] is the load at
// Start + k×Step.
type Load struct {
	Start  time.Time
	Step   time.Duration
	Values []float64
}

// A Forecaster computes what the forecast metric (<gauge>_forecast) serves
// over a replay; rtcscale's predictor implements it. It learns from the
// load the pods were offered, which does not depend on how the HPA scaled,
// so a forecast is computed once per trace and lead and serves every
// target of a sweep. Forecasts of several leads run at once.
type Forecaster interface {
	// Forecast returns one value per sample of load: values[k] is the
	// highest load expected over [t_k, t_k+lead], computed from
	// load.Values[:k+1] alone, or NaN where the forecaster has nothing to
	// say (too little history, no skill), so that the metric is then the
	// current load.
	Forecast(ctx context.Context, load Load, lead time.Duration) ([]float64, error)
}

// Forecast is a forecast metric precomputed for a replay: from step
// k×Every to the next refresh the metric serves max(calls in progress,
// Values[k]); a NaN value serves the calls in progress alone.
type Forecast struct {
	// Mode names the replay that uses it: "predictive" or "foresight".
	Mode   string
	Every  int
	Values []float64
}

// at is the forecast value in force at step k, NaN for none.
func (f *Forecast) at(k int) float64 {
	if i := k / f.Every; i < len(f.Values) {
		return f.Values[i]
	}
	return math.NaN()
}

// Active is the share of refreshes at which the forecast had something to
// say, and the time of the first such refresh (zero when none).
func (f *Forecast) Active(start time.Time, step time.Duration) (share float64, first time.Time) {
	n := 0
	for i, v := range f.Values {
		if math.IsNaN(v) {
			continue
		}
		if n == 0 {
			first = start.Add(time.Duration(i*f.Every) * step)
		}
		n++
	}
	if len(f.Values) == 0 {
		return 0, first
	}
	return float64(n) / float64(len(f.Values)), first
}

// refreshSteps is the forecast's refresh period in replay steps.
func refreshSteps(every, step time.Duration) (int, error) {
	if every <= 0 {
		every = time.Minute
	}
	if every < step || every%step != 0 {
		return 0, fmt.Errorf("the forecast's refresh period %s must be a whole number of replay steps (%s)", every, step)
	}
	return int(every / step), nil
}

// Predict runs f over the load offered in cfg, sampled every refresh
// period (every, default 1m, as the adapter records a workload's sum once a
// minute), and returns the forecast a predictive replay serves.
func Predict(ctx context.Context, cfg Config, f Forecaster, lead, every time.Duration) (*Forecast, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if f == nil {
		return nil, errors.New("predictive mode needs a forecaster")
	}
	if lead <= 0 {
		return nil, fmt.Errorf("the forecast's lead must be positive, got %s", lead)
	}
	per, err := refreshSteps(every, cfg.Step)
	if err != nil {
		return nil, err
	}
	load := Load{Start: cfg.Start, Step: time.Duration(per) * cfg.Step, Values: make([]float64, (len(cfg.Demand)+per-1)/per)}
	for i := range load.Values {
		load.Values[i] = cfg.Demand[i*per]
	}
	vals, err := f.Forecast(ctx, load, lead)
	if err != nil {
		return nil, err
	}
	if len(vals) != len(load.Values) {
		return nil, fmt.Errorf("the forecaster returned %d values for %d samples", len(vals), len(load.Values))
	}
	for i, v := range vals {
		if v < 0 || math.IsInf(v, 0) {
			return nil, fmt.Errorf("the forecaster returned %v at %s: not a finite non-negative load", v, load.Start.Add(time.Duration(i)*load.Step).Format(time.RFC3339))
		}
	}
	return &Forecast{Mode: ModePredictive, Every: per, Values: vals}, nil
}

// Foresee is the foresight forecast: at each refresh, the highest load
// actually offered over [now, now+lead]. Fed through the same HPA as
// rtcscale's forecast, it is the ceiling of what any forecast can give.
func Foresee(cfg Config, lead, every time.Duration) (*Forecast, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if lead <= 0 {
		return nil, fmt.Errorf("the forecast's lead must be positive, got %s", lead)
	}
	per, err := refreshSteps(every, cfg.Step)
	if err != nil {
		return nil, err
	}
	ahead := window.MaxAhead(cfg.Demand, int(lead/cfg.Step))
	vals := make([]float64, (len(cfg.Demand)+per-1)/per)
	for i := range vals {
		vals[i] = ahead[i*per]
	}
	return &Forecast{Mode: ModeForesight, Every: per, Values: vals}, nil
}

// ForecasterFunc is a function that is a Forecaster.
type ForecasterFunc func(ctx context.Context, load Load, lead time.Duration) ([]float64, error)

// Forecast calls f.
func (f ForecasterFunc) Forecast(ctx context.Context, load Load, lead time.Duration) ([]float64, error) {
	return f(ctx, load, lead)
}
