package hpasim

import (
	"fmt"
	"math"
	"time"
)

// Target is what the controller reads about the scale target at a sync.
type Target struct {
	// SpecReplicas is scale.spec.replicas: the count the HPA last set (or
	// the initial one). The controller calls it the current replicas.
	SpecReplicas int32
	// StatusReplicas is scale.status.replicas: the pods that exist and are
	// not terminating. AverageValue targets of Object and External metrics
	// divide by it.
	StatusReplicas int32
	// Pods is the number of pods the target's selector lists, terminating
	// ones included; with none, Value targets fail.
	Pods int32
	// ReadyPods is the number of pods in phase Running with condition
	// Ready=True, which Value targets of Object and External metrics
	// multiply by.
	ReadyPods int32
}

// PodState is how the controller sorts a pod for a Pods metric
// (groupPods in replica_calculator.go).
type PodState uint8

// Pod states that matter to a Pods metric.
const (
	// PodRunning is a Running pod, Ready or not: for custom metrics the
	// controller counts it with its value, or as missing without one.
	PodRunning PodState = iota
	// PodPending is a Pending pod: unready, whatever its value.
	PodPending
	// PodGone is a terminating or Failed pod: ignored.
	PodGone
)

// PodValues is what one Pods metric tells the controller about the pods
// behind the selector, aggregated: the controller only ever uses the
// count and the sum of the values it keeps, so this is exact.
type PodValues struct {
	// WithValue counts the Running pods that have a value.
	WithValue int32
	// SumMilli is the sum of those values in thousandths (as
	// Quantity.MilliValue returns them).
	SumMilli int64
	// Missing counts the Running pods without a value.
	Missing int32
	// Pending counts the Pending pods.
	Pending int32
}

// Add accounts for one pod; ok tells whether the metrics API returned a
// value for it.
func (p *PodValues) Add(state PodState, milli int64, ok bool) {
	switch {
	case state == PodGone:
	case state == PodPending:
		p.Pending++
	case !ok:
		p.Missing++
	default:
		p.WithValue++
		p.SumMilli += milli
	}
}

// Observation is the value of one of the HPA's metrics at a sync, in the
// order of spec.metrics.
type Observation struct {
	// Failed means the metrics API answered with an error or an empty list
	// for this metric.
	Failed bool
	// Pods is read for Pods metrics.
	Pods PodValues
	// Milli is read for Object metrics (the object's value) and External
	// metrics (the sum of the returned series), in thousandths.
	Milli int64
}

// Milli converts a metric value to the thousandths the controller works
// in, rounding up as Quantity.MilliValue does; values beyond int64 saturate.
func Milli(v float64) int64 {
	return ceilWithin(v*1000, int64(math.MinInt64), math.MaxInt64)
}

// ceilWithin rounds f up and saturates at [lo, hi]; NaN is 0.
func ceilWithin[T int32 | int64](f float64, lo, hi T) T {
	f = math.Ceil(f)
	switch {
	case f >= float64(hi):
		return hi
	case f <= float64(lo):
		return lo
	case f != f: // NaN
		return 0
	}
	return T(f)
}

// Reason says why a sync ended as it did.
type Reason uint8

// Reasons of a Decision.
const (
	// ReasonMetrics: the replicas came from the metrics (the count may be
	// unchanged).
	ReasonMetrics Reason = iota
	// ReasonBelowMin: the target was below minReplicas and was raised to it
	// without reading metrics.
	ReasonBelowMin
	// ReasonAboveMax: the target was above maxReplicas and was lowered.
	ReasonAboveMax
	// ReasonMetricsFailed: every metric failed, or some failed and the rest
	// would scale down; the controller leaves the target alone.
	ReasonMetricsFailed
	// ReasonScalingDisabled: the target is at zero replicas and the HPA did
	// not put it there, so the controller does not touch it.
	ReasonScalingDisabled
)

func (r Reason) String() string {
	switch r {
	case ReasonMetrics:
		return "metrics"
	case ReasonBelowMin:
		return "below minReplicas"
	case ReasonAboveMax:
		return "above maxReplicas"
	case ReasonMetricsFailed:
		return "metrics failed"
	case ReasonScalingDisabled:
		return "scaling disabled at zero"
	}
	return fmt.Sprintf("Reason(%d)", r)
}

// Decision is the outcome of one sync.
type Decision struct {
	// Replicas is scale.spec.replicas after the sync.
	Replicas int32
	// Rescaled tells whether the controller updated the scale.
	Rescaled bool
	// Proposal is the largest replica count the metrics asked for, before
	// stabilization, rate limits and min/max; -1 when no metric was read
	// or they failed.
	Proposal int32
	Reason   Reason
}

// Controller is the state the HPA controller keeps for one HPA between
// syncs (its recommendations and scale events) together with the HPA's
// spec. It is not safe for concurrent use; one replay owns one Controller.
type Controller struct {
	spec *Spec
	// recs are the unstabilized recommendations, kept and recycled as the
	// controller does: an old slot is reused, otherwise one is appended.
	recs []recommendation
	// ups and downs are the scale events an HPA with behavior keeps for
	// its rate policies.
	ups, downs []scaleEvent
	started    bool
	// scaledToZero is the ScaledToZero condition: the HPA itself scaled
	// the target to zero, so it may scale it back.
	scaledToZero bool
}

type recommendation struct {
	replicas int32
	at       int64 // unix nanoseconds
}

type scaleEvent struct {
	change   int32 // absolute
	at       int64 // unix nanoseconds
	outdated bool
}

// New returns a controller for spec with no history: its first Sync is
// the first the real controller would run for a newly created HPA.
func New(spec *Spec) *Controller {
	return &Controller{spec: spec}
}

// Spec returns the HPA the controller runs.
func (c *Controller) Spec() *Spec { return c.spec }

// Sync runs one reconciliation at time now (reconcileAutoscaler): it reads
// the target and one observation per metric, and returns the replica count
// the controller sets. The caller applies it to its model of the target
// before the next Sync. Times must not go backwards. Sync does not allocate
// once the controller's history has reached its steady size.
func (c *Controller) Sync(now time.Time, t Target, obs []Observation) (Decision, error) {
	if len(obs) != len(c.spec.Metrics) {
		return Decision{}, fmt.Errorf("hpasim: %d observations for %d metrics", len(obs), len(c.spec.Metrics))
	}
	if t.SpecReplicas < 0 || t.StatusReplicas < 0 || t.Pods < 0 || t.ReadyPods < 0 {
		return Decision{}, fmt.Errorf("hpasim: negative count in %+v", t)
	}
	s := c.spec
	at := now.UnixNano()
	cur := t.SpecReplicas
	if !c.started {
		// recordInitialRecommendation
		c.recs = append(c.recs, recommendation{cur, at})
		c.started = true
	}
	d := Decision{Proposal: -1, Reason: ReasonMetrics}
	rescale := true
	compute := true
	switch {
	case cur == 0:
		// shouldComputeMetricsForZeroReplicas, with HPAScaleToZero on (beta
		// and on by default in 1.37).
		if !(s.MinReplicas != 0 && c.scaledToZero) && !(c.scaledToZero && s.objectOrExternal) {
			d.Reason, rescale, compute = ReasonScalingDisabled, false, false
		}
	case cur > s.MaxReplicas:
		d.Replicas, d.Reason, compute = s.MaxReplicas, ReasonAboveMax, false
	case cur < s.MinReplicas:
		d.Replicas, d.Reason, compute = s.MinReplicas, ReasonBelowMin, false
	}
	if compute {
		proposal, ok := c.proposal(t, obs)
		if !ok {
			d.Replicas, d.Reason = cur, ReasonMetricsFailed
			return d, nil
		}
		d.Proposal = proposal
		desired := max(proposal, 0)
		if s.Behavior {
			desired = c.normalizeWithBehavior(at, cur, desired)
		} else {
			desired = c.normalize(at, cur, desired)
		}
		if cur == 0 && s.MinReplicas != 0 && c.scaledToZero && desired < s.MinReplicas {
			desired = s.MinReplicas
		}
		d.Replicas = desired
		rescale = desired != cur
	}
	if !rescale {
		d.Replicas = cur
		return d, nil
	}
	d.Rescaled = true
	c.storeScaleEvent(at, cur, d.Replicas)
	c.scaledToZero = cur > 0 && d.Replicas == 0 && s.MinReplicas == 0 && s.objectOrExternal
	return d, nil
}

// proposal is computeReplicasForMetrics: the largest proposal of the
// metrics that could be read. A failed metric blocks scale-down, never
// scale-up.
func (c *Controller) proposal(t Target, obs []Observation) (int32, bool) {
	var replicas int32
	invalid := 0
	for i := range c.spec.Metrics {
		p, ok := c.metricReplicas(&c.spec.Metrics[i], t, &obs[i])
		if !ok {
			invalid++
			continue
		}
		if replicas == 0 || p > replicas {
			replicas = p
		}
	}
	if invalid == len(obs) || (invalid > 0 && replicas < t.SpecReplicas) {
		return -1, false
	}
	return replicas, true
}

// metricReplicas is computeReplicasForMetric for the supported sources.
func (c *Controller) metricReplicas(m *Metric, t Target, o *Observation) (int32, bool) {
	if o.Failed {
		return 0, false
	}
	switch {
	case m.Kind == PodsMetric:
		return c.podsReplicas(t.SpecReplicas, m.TargetMilli, &o.Pods)
	case m.AverageValue:
		// GetObjectPerPodMetricReplicas, GetExternalPerPodMetricReplicas
		return c.perPodReplicas(t.StatusReplicas, m.TargetMilli, o.Milli), true
	default:
		// GetObjectMetricReplicas, GetExternalMetricReplicas
		return c.usageRatioReplicas(t, float64(o.Milli)/float64(m.TargetMilli))
	}
}

func (c *Controller) within(ratio float64) bool {
	return 1-c.spec.ToleranceDown <= ratio && ratio <= 1+c.spec.ToleranceUp
}

// podsReplicas is calcPlainMetricReplicas with groupPods for a custom
// metric: pods without a value count as at target on a scale-down and as
// zero on a scale-up, pending pods as zero on a scale-up, and the
// controller keeps the current count when that correction flips the
// direction or lands within tolerance.
func (c *Controller) podsReplicas(current int32, target int64, p *PodValues) (int32, bool) {
	if p.WithValue <= 0 {
		// "no pods returned by selector" or "did not receive metrics for
		// targeted pods (pods might be unready)"
		return 0, false
	}
	ratio := float64(p.SumMilli/int64(p.WithValue)) / float64(target)
	upWithPending := p.Pending > 0 && ratio > 1
	if !upWithPending && p.Missing == 0 {
		if c.within(ratio) {
			return current, true
		}
		return ceilInt32(ratio * float64(p.WithValue)), true
	}
	n, sum := int64(p.WithValue), p.SumMilli
	if p.Missing > 0 {
		switch {
		case ratio < 1:
			n += int64(p.Missing)
			sum += int64(p.Missing) * target
		case ratio > 1:
			n += int64(p.Missing)
		}
	}
	if upWithPending {
		n += int64(p.Pending)
	}
	newRatio := float64(sum/n) / float64(target)
	if c.within(newRatio) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		return current, true
	}
	replicas := ceilInt32(newRatio * float64(n))
	if (newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current) {
		return current, true
	}
	return replicas, true
}

// usageRatioReplicas is getUsageRatioReplicaCount: a Value target scales
// the ready pods by the ratio; from zero replicas it asks for ceil(ratio).
func (c *Controller) usageRatioReplicas(t Target, ratio float64) (int32, bool) {
	if t.SpecReplicas == 0 {
		return ceilInt32(ratio), true
	}
	if c.within(ratio) {
		return t.SpecReplicas, true
	}
	if t.Pods == 0 {
		return 0, false // "no pods returned by selector"
	}
	return ceilInt32(ratio * float64(t.ReadyPods)), true
}

// perPodReplicas is the AverageValue target of Object and External
// metrics: the total divided by the target, unless the usage per existing
// replica is within tolerance.
func (c *Controller) perPodReplicas(status int32, target, usage int64) int32 {
	ratio := float64(usage) / (float64(target) * float64(status))
	if c.within(ratio) {
		return status
	}
	return ceilInt32(float64(usage) / float64(target))
}

// ceilInt32 rounds up and saturates, so that an absurd metric value cannot
// wrap around into a negative replica count.
func ceilInt32(f float64) int32 {
	return ceilWithin(f, int32(math.MinInt32), math.MaxInt32)
}

// normalize is normalizeDesiredReplicas, for an HPA without behavior.
func (c *Controller) normalize(at int64, current, desired int32) int32 {
	return c.clampWithRules(current, c.stabilize(at, desired))
}

// stabilize is stabilizeRecommendation: the highest recommendation of the
// downscale window, the current one included, which it then records.
func (c *Controller) stabilize(at int64, desired int32) int32 {
	stabilized := desired
	cutoff := at - c.spec.down.window
	old := -1
	for i, r := range c.recs {
		if r.at < cutoff {
			old = i
		} else if r.replicas > stabilized {
			stabilized = r.replicas
		}
	}
	c.record(old, desired, at)
	return stabilized
}

// clampWithRules is convertDesiredReplicasWithRules: minReplicas, then
// maxReplicas or the scale-up limit of calculateScaleUpLimit, max(2 x
// current, 4), which guards against bogus metric spikes.
func (c *Controller) clampWithRules(current, desired int32) int32 {
	limit := int32(math.Max(2*float64(current), 4))
	maxAllowed := min(c.spec.MaxReplicas, limit)
	switch {
	case desired < c.spec.MinReplicas:
		return c.spec.MinReplicas
	case desired > maxAllowed:
		return maxAllowed
	}
	return desired
}

// record stores an unstabilized recommendation in the slot of an old one,
// or appends it.
func (c *Controller) record(old int, replicas int32, at int64) {
	if old >= 0 {
		c.recs[old] = recommendation{replicas, at}
		return
	}
	c.recs = append(c.recs, recommendation{replicas, at})
}

// normalizeWithBehavior is normalizeDesiredReplicasWithBehaviors.
func (c *Controller) normalizeWithBehavior(at int64, current, desired int32) int32 {
	return c.rateLimit(at, current, c.stabilizeWithBehavior(at, current, desired))
}

// stabilizeWithBehavior is stabilizeRecommendationWithBehaviors: the
// current count raised to the lowest recommendation of the scale-up window
// and lowered to the highest of the scale-down window; it records the
// unstabilized recommendation.
func (c *Controller) stabilizeWithBehavior(at int64, current, desired int32) int32 {
	up, down := desired, desired
	upCutoff, downCutoff := at-c.spec.up.window, at-c.spec.down.window
	old := -1
	for i, r := range c.recs {
		if r.at > upCutoff {
			up = min(up, r.replicas)
		}
		if r.at > downCutoff {
			down = max(down, r.replicas)
		}
		if r.at < upCutoff && r.at < downCutoff {
			old = i
		}
	}
	rec := current
	if rec < up {
		rec = up
	}
	if rec > down {
		rec = down
	}
	c.record(old, desired, at)
	return rec
}

// rateLimit is convertDesiredReplicasWithBehaviorRate: the rate policies
// and the min/max clamp in the direction of the change.
func (c *Controller) rateLimit(at int64, current, desired int32) int32 {
	s := c.spec
	switch {
	case desired > current:
		limit := max(c.scaleUpLimit(at, current), current)
		if maxAllowed := min(s.MaxReplicas, limit); desired > maxAllowed {
			return maxAllowed
		}
	case desired < current:
		limit := min(c.scaleDownLimit(at, current), current)
		if minAllowed := max(s.MinReplicas, limit); desired < minAllowed {
			return minAllowed
		}
	}
	return desired
}

// changeInPeriod is getReplicasChangePerPeriod: the replicas added (or
// removed) by the events of the last period, the boundary excluded.
func changeInPeriod(at, period int64, events []scaleEvent) int32 {
	cutoff := at - period
	var n int32
	for _, e := range events {
		if e.at > cutoff {
			n += e.change
		}
	}
	return n
}

// scaleUpLimit is calculateScaleUpLimitWithScalingRules.
func (c *Controller) scaleUpLimit(at int64, current int32) int32 {
	return c.policyLimit(at, current, &c.spec.up, true)
}

// scaleDownLimit is calculateScaleDownLimitWithBehaviors.
func (c *Controller) scaleDownLimit(at int64, current int32) int32 {
	return c.policyLimit(at, current, &c.spec.down, false)
}

// policyLimit is the replica count the rate policies allow in one
// direction. Each policy counts from the replicas at the start of its
// period; percentages round up when scaling up (or a small target could
// never grow) and down (towards zero) when scaling down. selectPolicy Max
// takes the policy allowing the largest change, Min the smallest.
func (c *Controller) policyLimit(at int64, current int32, r *rules, up bool) int32 {
	if r.selected == selectDisabled {
		return current
	}
	// The largest change up is the highest count, down the lowest.
	highest := (r.selected == selectMax) == up
	result := int32(math.MaxInt32)
	if highest {
		result = math.MinInt32
	}
	for _, p := range r.policies {
		start := current - changeInPeriod(at, p.period, c.ups) + changeInPeriod(at, p.period, c.downs)
		var proposed int32
		switch {
		case p.percent && up:
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.value)/100)))
		case p.percent:
			proposed = int32(float64(start) * (1 - float64(p.value)/100))
		case up:
			proposed = start + p.value
		default:
			proposed = start - p.value
		}
		if highest {
			result = max(result, proposed)
		} else {
			result = min(result, proposed)
		}
	}
	return result
}

// storeScaleEvent keeps a successful rescale for the rate policies of an
// HPA with behavior. Events older than the direction's longest policy
// period are marked outdated and their slots reused; until reused they
// still count for the other direction's policies, as upstream.
func (c *Controller) storeScaleEvent(at int64, prev, next int32) {
	if !c.spec.Behavior {
		return
	}
	if next > prev {
		c.ups = addScaleEvent(c.ups, at, c.spec.up.longest, next-prev)
	} else {
		c.downs = addScaleEvent(c.downs, at, c.spec.down.longest, prev-next)
	}
}

func addScaleEvent(events []scaleEvent, at, longest int64, change int32) []scaleEvent {
	cutoff := at - longest
	old := -1
	for i := range events {
		if events[i].at < cutoff {
			events[i].outdated = true
		}
		if events[i].outdated {
			old = i
		}
	}
	e := scaleEvent{change: change, at: at}
	if old >= 0 {
		events[old] = e
		return events
	}
	return append(events, e)
}
