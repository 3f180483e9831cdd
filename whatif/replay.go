package whatif

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/rtcscale/rtcscale/hpasim"
)

// Forecaster predicts a workload's load; rtcscale's predictor implements
// it. A replay feeds it the load as it happens and asks it, at the same
// cadence, for the load to come, so a forecast only ever rests on data from
// before its time.
type Forecaster interface {
	// Observe records the load measured at t (calls in progress over all
	// pods). Times increase from call to call.
	Observe(t time.Time, v float64)
	// Forecast returns the highest upper bound of the load expected over
	// [now, now+lead].
	Forecast(now time.Time, lead time.Duration) float64
}

// ForecastMetric is the name of the External metric that carries the
// forecast to the HPA in predictive mode.
const ForecastMetric = "rtcscale_forecast"

// Predictive turns a replay into predictive mode: the HPA gets a second
// metric, an External metric with the same target as its first metric,
// whose value is max(current load, forecast over the lead). The HPA takes
// the larger of the two proposals, so the forecast can only add pods ahead
// of a rise and hold them through a dip it expects to end.
type Predictive struct {
	// New returns a fresh forecaster for one replay.
	New func() Forecaster
	// Lead is how far ahead the forecast looks: at least the start-up
	// time plus a sync period, or new pods come too late.
	Lead time.Duration
	// Every is how often the forecaster observes the load and the
	// forecast is refreshed, as an adapter would cache it. Default 1m.
	Every time.Duration
}

// Config is one replay: a load trace, an HPA and the pods behind it.
type Config struct {
	// Start is the time of Demand[0]; Step the time between samples, which
	// must be the HPA's sync period (Controller.SyncPeriod): the replay
	// runs one sync per sample.
	Start time.Time
	Step  time.Duration
	// Demand is the offered load in concurrent calls, one value per step.
	Demand []float64
	// HPA is the autoscaling/v2 HorizontalPodAutoscaler as the operator
	// would apply it. Each of its metrics is read as the workload's load:
	// a Pods metric as calls per pod, an Object or External metric as the
	// calls in progress over all pods.
	HPA        *autoscalingv2.HorizontalPodAutoscaler
	Controller hpasim.Config
	Fleet      Fleet
	// Initial is the replica count at the start; 0 means what the HPA's
	// first metric asks for at the first sample (see InitialReplicas).
	Initial int32
	// Bucket is the resolution of the timeline. Default 30m.
	Bucket time.Duration
	// Progress, if set, is called about every 1% of the steps.
	Progress func(done, total int)
}

// Summary is what a mode cost and what it missed.
type Summary struct {
	// PodHours counts every pod from creation to its end, start-up and
	// draining included.
	PodHours float64
	// MinutesShort is the time the ready pods' capacity was below the
	// offered load; CallMinutesShort integrates the gap and
	// WorstShortfall is its largest value, in calls.
	MinutesShort, CallMinutesShort, WorstShortfall float64
	// CallsOffered, CallsRejected (no ready pod had room) and CallsCut
	// (still up when a deleted pod's grace period ended).
	CallsOffered, CallsRejected, CallsCut int64
	// ScaleEvents counts the syncs that changed the replica count.
	ScaleEvents int
}

// Point is one bucket of a timeline: means over the bucket.
type Point struct {
	T        time.Time
	Demand   float64 // offered concurrent calls
	Capacity float64 // calls the ready pods can carry
	Replicas float64 // the HPA's replica count
	Pods     float64 // pods in existence, starting and draining included
}

// Result is the outcome of one mode.
type Result struct {
	Mode string
	Summary
	Timeline []Point
}

func (c *Config) validate() error {
	switch {
	case c.Step <= 0:
		return fmt.Errorf("step must be positive, got %s", c.Step)
	case c.Controller.SyncPeriod != c.Step:
		return fmt.Errorf("the demand's step (%s) must be the controller's sync period (%s)", c.Step, c.Controller.SyncPeriod)
	case len(c.Demand) < 2:
		return fmt.Errorf("need at least 2 demand samples, got %d", len(c.Demand))
	case c.HPA == nil:
		return errors.New("no HPA")
	case c.Initial < 0:
		return fmt.Errorf("negative initial replicas %d", c.Initial)
	case c.Bucket < 0:
		return fmt.Errorf("negative timeline bucket %s", c.Bucket)
	}
	for i, d := range c.Demand {
		if !(d >= 0) || math.IsInf(d, 0) {
			return fmt.Errorf("demand[%d] = %v is not a finite non-negative number", i, d)
		}
	}
	return c.Fleet.validate(c.Step)
}

func (c *Config) bucketSteps() int {
	b := c.Bucket
	if b == 0 {
		b = 30 * time.Minute
	}
	return max(1, int(b/c.Step))
}

// InitialReplicas is the replica count a replay starts from when
// Config.Initial is 0: the steady state of the HPA's first metric at the
// first sample (the load over its per-pod target, or over the pod capacity
// for a Value target), within [minReplicas, maxReplicas].
func InitialReplicas(spec *hpasim.Spec, demand0 float64, capacity int) int32 {
	per := float64(capacity)
	if m := spec.Metrics[0]; m.AverageValue {
		per = m.Target()
	}
	n := int32(min(math.Ceil(demand0/per), math.MaxInt32))
	return min(max(n, spec.MinReplicas, 1), spec.MaxReplicas)
}

// withForecast returns a copy of hpa with the forecast metric added, with
// the target of its first metric.
func withForecast(hpa *autoscalingv2.HorizontalPodAutoscaler) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	out := hpa.DeepCopy()
	if len(out.Spec.Metrics) == 0 {
		return nil, errors.New("the HPA has no metrics")
	}
	var target autoscalingv2.MetricTarget
	switch m := out.Spec.Metrics[0]; {
	case m.Pods != nil:
		target = m.Pods.Target
	case m.Object != nil:
		target = m.Object.Target
	case m.External != nil:
		target = m.External.Target
	default:
		return nil, fmt.Errorf("the HPA's first metric (type %s) has no target to copy", m.Type)
	}
	ext := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: target.AverageValue}
	if target.AverageValue == nil {
		ext = autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: target.Value}
	}
	out.Spec.Metrics = append(out.Spec.Metrics, autoscalingv2.MetricSpec{
		Type: autoscalingv2.ExternalMetricSourceType,
		External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: ForecastMetric},
			Target: ext,
		},
	})
	return out, nil
}

// Replay runs the HPA over the trace, reactive when p is nil, predictive
// otherwise. It is deterministic given cfg.Fleet.Seed and the forecaster.
func Replay(ctx context.Context, cfg Config, p *Predictive) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h, mode := cfg.HPA, "reactive"
	var fc Forecaster
	every := 1
	if p != nil {
		if p.New == nil || p.Lead <= 0 {
			return nil, errors.New("predictive mode needs a forecaster and a positive lead")
		}
		var err error
		if h, err = withForecast(h); err != nil {
			return nil, err
		}
		if fc = p.New(); fc == nil {
			return nil, errors.New("predictive mode: the forecaster constructor returned nil")
		}
		if p.Every > 0 {
			every = max(1, int(p.Every/cfg.Step))
		} else {
			every = max(1, int(time.Minute/cfg.Step))
		}
		mode = "predictive"
	}
	spec, err := hpasim.Compile(h, cfg.Controller)
	if err != nil {
		return nil, fmt.Errorf("HPA: %w", err)
	}
	if spec.MaxReplicas > maxReplicas {
		return nil, fmt.Errorf("HPA: maxReplicas %d is more than a replay models (%d)", spec.MaxReplicas, maxReplicas)
	}
	ctrl := hpasim.New(spec)
	fl := newFleet(cfg.Fleet, cfg.Step)
	// The offered calls come from their own stream, the same in every mode.
	arrivals := rand.New(rand.NewPCG(cfg.Fleet.Seed, 0xca11_5eed))

	initial := cfg.Initial
	if initial == 0 {
		initial = InitialReplicas(spec, cfg.Demand[0], cfg.Fleet.Capacity)
	}
	fl.add(initial)
	fl.warm(cfg.Demand[0], arrivals)

	n := len(cfg.Demand)
	obs := make([]hpasim.Observation, len(spec.Metrics))
	res := &Result{Mode: mode}
	tl := newTimeline(cfg, n)
	capacity := float64(cfg.Fleet.Capacity)
	retention := fl.retention()
	stepMin := cfg.Step.Minutes()
	var podSteps int64
	var forecast float64
	progressEvery := max(1, n/100)
	for k := 0; k < n; k++ {
		if k%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		now := cfg.Start.Add(time.Duration(k) * cfg.Step)
		// New calls make up for the ones that end so that the offered
		// concurrency follows the trace; warm() put up the calls of the
		// steady state before the first step.
		d, prev := cfg.Demand[k], cfg.Demand[max(k-1, 0)]
		fl.advance(int64(k), poisson(arrivals, d-retention*prev))
		o := fl.observe()

		readyCap := float64(o.ready) * capacity
		if short := d - readyCap; short > 0 {
			res.MinutesShort += stepMin
			res.CallMinutesShort += short * stepMin
			res.WorstShortfall = max(res.WorstShortfall, short)
		}
		podSteps += int64(len(fl.pods))

		for i := range spec.Metrics {
			if spec.Metrics[i].Kind == hpasim.PodsMetric {
				obs[i] = hpasim.Observation{Pods: o.pods}
			} else {
				obs[i] = hpasim.Observation{Milli: o.calls * 1000}
			}
		}
		if fc != nil {
			if k%every == 0 {
				fc.Observe(now, float64(o.calls))
				forecast = fc.Forecast(now, p.Lead)
			}
			obs[len(obs)-1].Milli = hpasim.Milli(max(float64(o.calls), forecast))
		}
		dec, err := ctrl.Sync(now, o.target, obs)
		if err != nil {
			return nil, err
		}
		if dec.Rescaled {
			res.ScaleEvents++
			fl.scaleTo(dec.Replicas)
		}
		tl.add(now, d, readyCap, float64(dec.Replicas), float64(len(fl.pods)))
		if cfg.Progress != nil && k%progressEvery == 0 {
			cfg.Progress(k, n)
		}
	}
	if cfg.Progress != nil {
		cfg.Progress(n, n)
	}
	tl.flush()
	res.PodHours = float64(podSteps) * cfg.Step.Hours()
	res.CallsOffered, res.CallsRejected, res.CallsCut = fl.offered, fl.rejected, fl.cut
	res.Timeline = tl.points
	return res, nil
}

// timeline accumulates per-step values into bucket means.
type timeline struct {
	per    int
	points []Point
	acc    Point
	n      int
}

func newTimeline(cfg Config, steps int) *timeline {
	per := cfg.bucketSteps()
	return &timeline{per: per, points: make([]Point, 0, steps/per+1)}
}

func (t *timeline) add(now time.Time, demand, capacity, replicas, pods float64) {
	if t.n == 0 {
		t.acc = Point{T: now}
	}
	t.acc.Demand += demand
	t.acc.Capacity += capacity
	t.acc.Replicas += replicas
	t.acc.Pods += pods
	t.n++
	if t.n == t.per {
		t.flush()
	}
}

func (t *timeline) flush() {
	if t.n == 0 {
		return
	}
	f := float64(t.n)
	t.acc.Demand /= f
	t.acc.Capacity /= f
	t.acc.Replicas /= f
	t.acc.Pods /= f
	t.points = append(t.points, t.acc)
	t.n = 0
}

// Oracle is the lower bound: with perfect foresight, the fewest pods whose
// capacity never falls short of the offered load (and never below
// minReplicas), each created one start-up time before it is needed and
// deleted, without draining, as soon as it is not. It ignores maxReplicas,
// the HPA's rules and the randomness of calls.
func Oracle(cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	spec, err := hpasim.Compile(cfg.HPA, cfg.Controller)
	if err != nil {
		return nil, fmt.Errorf("HPA: %w", err)
	}
	n := len(cfg.Demand)
	need := make([]int32, n)
	for k, d := range cfg.Demand {
		need[k] = max(spec.MinReplicas, int32(min(math.Ceil(d/float64(cfg.Fleet.Capacity)), math.MaxInt32)))
	}
	// A pod needed at step j must exist from j - startup on: the pods
	// alive at k are the most needed over [k, k+startup].
	lead := int(math.Round(float64(cfg.Fleet.Startup) / float64(cfg.Step)))
	alive := slidingMax(need, lead)
	res := &Result{Mode: "oracle"}
	tl := newTimeline(cfg, n)
	var podSteps int64
	for k := range n {
		if k > 0 && alive[k] != alive[k-1] {
			res.ScaleEvents++
		}
		podSteps += int64(alive[k])
		tl.add(cfg.Start.Add(time.Duration(k)*cfg.Step), cfg.Demand[k], float64(need[k])*float64(cfg.Fleet.Capacity), float64(alive[k]), float64(alive[k]))
	}
	tl.flush()
	res.PodHours = float64(podSteps) * cfg.Step.Hours()
	res.Timeline = tl.points
	return res, nil
}

// slidingMax returns, for each k, the largest of v[k..k+w] (clipped at
// the end), with a monotone deque: linear time.
func slidingMax(v []int32, w int) []int32 {
	out := make([]int32, len(v))
	dq := make([]int, 0, len(v)) // indices of decreasing values; head at dq[h]
	h, next := 0, 0              // next: the next index to push
	for k := range v {
		for ; next < len(v) && next <= k+w; next++ {
			for len(dq) > h && v[dq[len(dq)-1]] <= v[next] {
				dq = dq[:len(dq)-1]
			}
			dq = append(dq, next)
		}
		for dq[h] < k {
			h++
		}
		out[k] = v[dq[h]]
	}
	return out
}
