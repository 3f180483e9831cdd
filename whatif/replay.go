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
	"github.com/rtcscale/rtcscale/internal/window"
)

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
	// calls in progress over the pods that take calls (a draining pod's
	// count 0, as the adapter serves them).
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
	// draining included: a step for each sync that sees it.
	PodHours float64
	// DrainingPodHours is the part of PodHours of the pods deleted and
	// still running, a step for each sync from the one that deletes a pod
	// to the last that sees it, so that a drain of d steps counts d.
	// LongestDrain is the longest time from a pod's deletion to its exit,
	// a drain still under way at the end of the trace lasting until then;
	// PodsDeleted counts the pods deleted at scale-down.
	DrainingPodHours float64
	LongestDrain     time.Duration
	PodsDeleted      int64
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
	// Short is the minutes of the bucket during which the ready pods'
	// capacity was below the offered load (a sum, not a mean).
	Short float64
}

// Result is the outcome of one mode.
type Result struct {
	Mode string
	// Drain is how the replay scaled down; the oracle's is the zero value,
	// unused: it models no calls.
	Drain DrainPolicy
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

// Modes of a replay.
const (
	ModeReactive   = "reactive"
	ModePredictive = "predictive"
	ModeForesight  = "foresight"
	ModeOracle     = "oracle"
)

// Replay runs cfg.HPA over the trace. Its load metrics read the calls the
// pods carry; its forecast metrics (<gauge>_forecast) read max(calls in
// progress, fc), as the adapter serves them, or the calls in progress
// alone where fc is nil or has no value. It is deterministic given
// cfg.Fleet.Seed and fc.
func Replay(ctx context.Context, cfg Config, fc *Forecast) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	mode := ModeReactive
	if fc != nil {
		if fc.Every < 1 {
			return nil, errors.New("a forecast needs a positive refresh period")
		}
		mode = fc.Mode
	}
	spec, err := hpasim.Compile(cfg.HPA, cfg.Controller)
	if err != nil {
		return nil, fmt.Errorf("HPA: %w", err)
	}
	if spec.MaxReplicas > maxReplicas {
		return nil, fmt.Errorf("HPA: maxReplicas %d is more than a replay models (%d)", spec.MaxReplicas, maxReplicas)
	}
	roles := make([]role, len(spec.Metrics))
	for i, m := range spec.Metrics {
		if roles[i], err = roleOf(m); err != nil {
			return nil, fmt.Errorf("HPA: spec.metrics[%d]: %w", i, err)
		}
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
	res := &Result{Mode: mode, Drain: policyOf(cfg.Fleet)}
	tl := newTimeline(cfg, n)
	capacity := float64(cfg.Fleet.Capacity)
	retention := fl.retention()
	stepMin := cfg.Step.Minutes()
	var podSteps, drainSteps int64
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
		short := d - readyCap
		if short > 0 {
			res.MinutesShort += stepMin
			res.CallMinutesShort += short * stepMin
			res.WorstShortfall = max(res.WorstShortfall, short)
		}
		podSteps += int64(len(fl.pods))

		forecast := float64(o.serving)
		if fc != nil {
			if f := fc.at(k); f > forecast {
				forecast = f
			}
		}
		for i := range spec.Metrics {
			switch {
			case roles[i] == forecastRole:
				obs[i] = hpasim.Observation{Milli: hpasim.Milli(forecast)}
			case spec.Metrics[i].Kind == hpasim.PodsMetric:
				obs[i] = hpasim.Observation{Pods: o.pods}
			default:
				obs[i] = hpasim.Observation{Milli: o.serving * 1000}
			}
		}
		dec, err := ctrl.Sync(now, o.target, obs)
		if err != nil {
			return nil, err
		}
		if dec.Rescaled {
			res.ScaleEvents++
			fl.scaleTo(dec.Replicas)
		}
		// After the decision: the sync that deletes a pod counts it as
		// draining, although podSteps counted it before.
		drainSteps += int64(len(fl.pods)) - int64(fl.active)
		tl.add(now, d, readyCap, float64(dec.Replicas), float64(len(fl.pods)), short > 0)
		if cfg.Progress != nil && k%progressEvery == 0 {
			cfg.Progress(k, n)
		}
	}
	if cfg.Progress != nil {
		cfg.Progress(n, n)
	}
	tl.flush()
	res.PodHours = float64(podSteps) * cfg.Step.Hours()
	res.DrainingPodHours = float64(drainSteps) * cfg.Step.Hours()
	res.LongestDrain = time.Duration(fl.longestDrain(int64(n))) * cfg.Step
	res.PodsDeleted = fl.deletedPods
	res.CallsOffered, res.CallsRejected, res.CallsCut = fl.offered, fl.rejected, fl.cut
	res.Timeline = tl.points
	return res, nil
}

// timeline accumulates per-step values into bucket means.
type timeline struct {
	per     int
	stepMin float64
	points  []Point
	acc     Point
	n       int
}

func newTimeline(cfg Config, steps int) *timeline {
	per := cfg.bucketSteps()
	return &timeline{per: per, stepMin: cfg.Step.Minutes(), points: make([]Point, 0, steps/per+1)}
}

func (t *timeline) add(now time.Time, demand, capacity, replicas, pods float64, short bool) {
	if t.n == 0 {
		t.acc = Point{T: now}
	}
	t.acc.Demand += demand
	t.acc.Capacity += capacity
	t.acc.Replicas += replicas
	t.acc.Pods += pods
	if short {
		t.acc.Short += t.stepMin
	}
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
	alive := window.MaxAhead(need, lead)
	res := &Result{Mode: ModeOracle}
	tl := newTimeline(cfg, n)
	var podSteps int64
	for k := range n {
		if k > 0 && alive[k] != alive[k-1] {
			res.ScaleEvents++
		}
		podSteps += int64(alive[k])
		tl.add(cfg.Start.Add(time.Duration(k)*cfg.Step), cfg.Demand[k], float64(need[k])*float64(cfg.Fleet.Capacity), float64(alive[k]), float64(alive[k]), false)
	}
	tl.flush()
	res.PodHours = float64(podSteps) * cfg.Step.Hours()
	res.Timeline = tl.points
	return res, nil
}
