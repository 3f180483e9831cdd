package whatif

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rtcscale/rtcscale/hpasim"
)

// Durations is the distribution of call holding times.
type Durations uint8

// Call duration distributions.
const (
	// Exponential holding times (memoryless), the classic telephony model.
	Exponential Durations = iota
	// Fixed holding times: every call lasts exactly the mean.
	Fixed
)

var durationsNames = map[Durations]string{Exponential: "exp", Fixed: "fixed"}

// String is the distribution's name in `rtcscale whatif --durations`.
func (d Durations) String() string { return enumName(durationsNames, d, "Durations") }

// Victims is how the ReplicaSet picks the pods to delete at scale-down.
type Victims uint8

// Scale-down victim orders.
const (
	// ReplicaSetOrder is the ReplicaSet controller's default ranking
	// (ActivePodsWithRanks): not-ready pods first, then the most recently
	// ready on a logarithmic time scale, ties broken by UID; the calls a pod
	// carries play no part.
	ReplicaSetOrder Victims = iota
	// DeletionCost sets controller.kubernetes.io/pod-deletion-cost to each
	// pod's call count just before the scale-down, so the pods with the
	// fewest calls go first (after the not-ready ones).
	DeletionCost
)

var victimsNames = map[Victims]string{ReplicaSetOrder: "replicaset", DeletionCost: "deletion-cost"}

// String is the order's name in `rtcscale whatif --victims`.
func (v Victims) String() string { return enumName(victimsNames, v, "Victims") }

// Drain is what a pod deleted at scale-down does with the calls it
// carries. In every policy the ReplicaSet replaces it at once (it no longer
// counts as a replica) and the dispatcher sends it no new call: Kubernetes
// takes a terminating pod out of its Service's ready endpoints, and a SIP
// proxy in front has to be told to stop too (a dispatcher set with a pod
// marked inactive); a proxy that keeps routing to a sleeping pod would
// only add cut calls to what DrainSleep counts.
type Drain uint8

// Drain policies. The zero value is DrainUntilEmpty, the model of every
// replay before there was a choice, so that a Fleet written without one
// replays as it always did.
const (
	// DrainUntilEmpty: a preStop hook drains the server and returns once
	// it is empty, so the pod exits after its last call, or at the end of
	// the grace period, when the calls still up are cut.
	DrainUntilEmpty Drain = iota
	// DrainSleep: a preStop hook sleeps (the "sleep infinity" practice),
	// so the pod runs to the end of the grace period whatever it carries,
	// then the calls still up are cut.
	DrainSleep
	// DrainNone: no preStop hook; the server exits at SIGTERM and every
	// call it carries is cut at its deletion, whatever the grace period.
	DrainNone
)

var drainNames = map[Drain]string{DrainUntilEmpty: "until-empty", DrainSleep: "sleep", DrainNone: "none"}

func (d Drain) String() string { return enumName(drainNames, d, "Drain") }

// StartupState is how a pod that has not finished starting shows to a
// Pods metric.
type StartupState uint8

// Start-up states.
const (
	// StartMissing: the pod is Running but its sidecar has published no
	// sample yet, so the metric has no value for it (missing).
	StartMissing StartupState = iota
	// StartPending: the pod is Pending (scheduling, image pull).
	StartPending
	// StartZero: the pod is Running, not Ready, and reports 0 calls; for a
	// custom metric the HPA counts it as a ready pod at 0.
	StartZero
)

var startupStateNames = map[StartupState]string{StartMissing: "missing", StartPending: "pending", StartZero: "zero"}

// String is the state's name in `rtcscale whatif --startup-state`.
func (s StartupState) String() string { return enumName(startupStateNames, s, "StartupState") }

// Fleet describes the pods behind the HPA.
type Fleet struct {
	// Capacity is the calls (or participants) one pod can carry; a call
	// that finds every ready pod full is rejected.
	Capacity int
	// Startup is the time from pod creation to readiness; each pod draws
	// its own uniformly within Startup ± StartupJitter.
	Startup, StartupJitter time.Duration
	// StartupState is how a starting pod shows to a Pods metric.
	StartupState StartupState
	// CallDuration is the mean holding time, Durations its distribution.
	CallDuration time.Duration
	Durations    Durations
	// Victims picks the pods deleted at scale-down; Drain is what they do
	// with their calls within Grace (terminationGracePeriodSeconds), at
	// the end of which the calls still up are cut.
	Victims Victims
	Drain   Drain
	Grace   time.Duration
	// Seed makes a replay reproducible. The offered calls depend on the
	// seed only, so every mode of one replay faces the same calls.
	Seed uint64
}

// Bounds that keep a replay's memory in check: dispatch keeps a histogram
// of loads up to the capacity, and the fleet one record per pod.
const (
	maxCapacity = 1_000_000
	maxReplicas = 100_000
)

func (f Fleet) validate(step time.Duration) error {
	switch {
	case f.Capacity <= 0 || f.Capacity > maxCapacity:
		return fmt.Errorf("fleet: capacity must be within [1, %d] calls, got %d", maxCapacity, f.Capacity)
	case f.Startup < 0 || f.StartupJitter < 0 || f.StartupJitter > f.Startup:
		return fmt.Errorf("fleet: need 0 <= start-up jitter (%s) <= start-up (%s)", f.StartupJitter, f.Startup)
	case f.CallDuration < step:
		return fmt.Errorf("fleet: mean call duration %s is shorter than the step %s", f.CallDuration, step)
	case f.CallDuration > 24*time.Hour:
		return fmt.Errorf("fleet: mean call duration %s is over a day", f.CallDuration)
	case f.Grace < 0:
		return fmt.Errorf("fleet: negative grace period %s", f.Grace)
	case f.Durations > Fixed || f.Victims > DeletionCost || f.StartupState > StartZero || f.Drain > DrainNone:
		return errors.New("fleet: unknown duration distribution, victim order, start-up state or drain policy")
	}
	return nil
}

type podPhase uint8

const (
	starting podPhase = iota
	ready
	draining
)

// pod carries its calls as counts: the exact identity of a call never
// matters, only how many a pod holds and, for fixed durations, when they
// end (a ring of arrivals per step, indexed by step modulo its length).
type pod struct {
	uid     uint64 // random, for the ReplicaSet's tie-breaks
	created int64  // step
	readyAt int64  // step it becomes (or became) ready
	deleted int64  // step it was deleted at, when draining
	phase   podPhase
	calls   int32
	ring    []int32
}

// fleet is the state of the pods, advanced one step at a time. Steps are
// the HPA's sync period; everything is counted in whole steps.
type fleet struct {
	cfg      Fleet
	stepNs   int64
	capacity int32
	// pods in creation order: the dispatcher's destination list.
	pods []pod
	// active counts the pods that are not draining: the ReplicaSet's
	// replicas.
	active int32
	// grace is the steps a deleted pod may run, 0 for DrainNone;
	// exitEmpty tells whether it exits as soon as it carries no call (it
	// does not when sleeping).
	grace     int64
	exitEmpty bool
	depart    float64 // per-step departure probability (exponential)
	ringLen   int
	rings     [][]int32 // recycled rings
	rng       *rand.Rand
	// pcg is rng's source, called directly on the per-pod path, where
	// the interface call of rand.Rand costs as much as the rest.
	pcg   *rand.PCG
	order []int // scratch for victim ranking
	now   int64 // current step

	// Tallies of the last advance, kept so that observe is O(1).
	nReady, nStarting int32
	readyCalls, calls int64
	// hist counts the ready pods by load, within [lo, hi], for dispatch.
	hist   []int32
	lo, hi int32

	cut, rejected, offered int64
	// deletedPods counts the pods deleted at scale-down, longest the
	// steps of the longest drain that has ended.
	deletedPods, longest int64
}

func newFleet(cfg Fleet, step time.Duration) *fleet {
	pcg := rand.NewPCG(cfg.Seed, 0x5eed_f1ee7)
	f := &fleet{
		cfg:       cfg,
		stepNs:    int64(step),
		capacity:  int32(cfg.Capacity),
		hist:      make([]int32, cfg.Capacity+1),
		rng:       rand.New(pcg),
		pcg:       pcg,
		exitEmpty: cfg.Drain != DrainSleep,
	}
	if cfg.Drain != DrainNone {
		f.grace = int64(math.Ceil(float64(cfg.Grace) / float64(step)))
	}
	if cfg.Durations == Fixed {
		f.ringLen = max(1, int(math.Round(float64(cfg.CallDuration)/float64(step))))
	} else {
		f.depart = -math.Expm1(-float64(step) / float64(cfg.CallDuration))
	}
	return f
}

// retention is the fraction of calls still up one step later; the arrival
// process uses it to make the offered concurrency follow the trace.
func (f *fleet) retention() float64 {
	if f.ringLen > 0 {
		return 1 - 1/float64(f.ringLen)
	}
	return 1 - f.depart
}

// add creates n pods at the current step.
func (f *fleet) add(n int32) {
	for range n {
		delay := f.cfg.Startup
		if j := f.cfg.StartupJitter; j > 0 {
			delay += time.Duration((f.rng.Float64()*2 - 1) * float64(j))
		}
		p := pod{
			uid:     f.rng.Uint64(),
			created: f.now,
			readyAt: f.now + int64(math.Round(float64(delay)/float64(f.stepNs))),
		}
		if f.ringLen > 0 {
			if k := len(f.rings); k > 0 {
				p.ring, f.rings = f.rings[k-1], f.rings[:k-1]
			} else {
				p.ring = make([]int32, f.ringLen)
			}
		}
		f.pods = append(f.pods, p)
		f.active++
		f.nStarting++
	}
}

// scaleTo makes the ReplicaSet's replicas n: it creates pods, or marks
// victims draining.
func (f *fleet) scaleTo(n int32) {
	switch {
	case n > f.active:
		f.add(n - f.active)
	case n < f.active:
		f.remove(f.active - n)
	}
}

// remove picks n victims among the active pods and starts draining them.
func (f *fleet) remove(n int32) {
	f.order = f.order[:0]
	for i := range f.pods {
		if f.pods[i].phase != draining {
			f.order = append(f.order, i)
		}
	}
	slices.SortFunc(f.order, f.deleteFirst)
	for _, i := range f.order[:n] {
		p := &f.pods[i]
		if p.phase == ready {
			f.nReady--
			f.readyCalls -= int64(p.calls)
		} else {
			f.nStarting--
		}
		p.phase, p.deleted = draining, f.now
	}
	f.active -= n
	f.deletedPods += int64(n)
	f.calls -= f.reap()
}

// deleteFirst orders pods as the ReplicaSet controller does before
// deleting the first ones (ActivePodsWithRanks.Less). All pods are
// scheduled, on nodes of their own, without restarts.
func (f *fleet) deleteFirst(i, j int) int {
	a, b := &f.pods[i], &f.pods[j]
	// Not ready before ready.
	if ra, rb := a.phase == ready, b.phase == ready; ra != rb {
		if ra {
			return 1
		}
		return -1
	}
	if f.cfg.Victims == DeletionCost {
		if c := cmp.Compare(a.calls, b.calls); c != 0 {
			return c
		}
	}
	// Both ready: the more recently ready first, on a log2 time scale.
	if a.phase == ready && a.readyAt != b.readyAt {
		if c := cmp.Compare(f.logAge(a.readyAt), f.logAge(b.readyAt)); c != 0 {
			return c
		}
		return cmp.Compare(a.uid, b.uid)
	}
	// The newer first, on a log2 time scale.
	if a.created != b.created {
		if c := cmp.Compare(f.logAge(a.created), f.logAge(b.created)); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.uid, b.uid)
}

// logAge is logarithmicRankDiff's rank: floor(log2(age in nanoseconds)),
// -1 for no age.
func (f *fleet) logAge(step int64) int64 {
	d := (f.now - step) * f.stepNs
	if d <= 0 {
		return -1
	}
	return int64(math.Log2(float64(d)))
}

// exits tells whether draining pod p goes at the current step: at the end
// of its grace period, or once empty unless it sleeps.
func (f *fleet) exits(p *pod) bool {
	return f.now-p.deleted >= f.grace || f.exitEmpty && p.calls == 0
}

// reap ends the draining pods that exit, cutting the calls left on them,
// and returns how many it cut.
func (f *fleet) reap() (cut int64) {
	k := 0
	for i := range f.pods {
		p := &f.pods[i]
		if p.phase == draining && f.exits(p) {
			cut += int64(p.calls)
			f.longest = max(f.longest, f.now-p.deleted)
			if p.ring != nil {
				clear(p.ring)
				f.rings = append(f.rings, p.ring)
			}
			continue
		}
		f.pods[k] = *p
		k++
	}
	clear(f.pods[k:])
	f.pods = f.pods[:k]
	f.cut += cut
	return cut
}

// advance moves to step now: pods finish starting, calls end, draining
// pods go, and the step's new calls are dispatched.
func (f *fleet) advance(now int64, arrivals int64) {
	f.now = now
	slot := 0
	if f.ringLen > 0 {
		slot = int(now % int64(f.ringLen))
	}
	reap := false
	f.nReady, f.nStarting, f.readyCalls, f.calls = 0, 0, 0, 0
	f.lo, f.hi = f.capacity, 0
	for i := range f.pods {
		p := &f.pods[i]
		if p.phase == starting && now >= p.readyAt {
			p.phase = ready
		}
		if p.calls > 0 {
			var gone int32
			if p.ring != nil {
				gone, p.ring[slot] = p.ring[slot], 0
			} else {
				// The expected departures, rounded up or down at random so
				// that the mean is exact: a binomial draw per pod and step
				// would cost more than the rest of the step.
				u := float64(f.pcg.Uint64()>>11) * 0x1p-53 // as rand.Float64
				gone = int32(float64(p.calls)*f.depart + u)
			}
			p.calls -= gone
		}
		switch p.phase {
		case starting:
			f.nStarting++
		case ready:
			f.nReady++
			f.readyCalls += int64(p.calls)
			f.hist[p.calls]++
			f.lo, f.hi = min(f.lo, p.calls), max(f.hi, p.calls)
		case draining:
			reap = reap || f.exits(p)
		}
		f.calls += int64(p.calls)
	}
	if reap {
		f.calls -= f.reap()
	}
	f.offered += arrivals
	f.accept(f.dispatch(arrivals, slot), arrivals)
}

// longestDrain is the steps of the longest drain, counting those still
// under way as lasting until step end.
func (f *fleet) longestDrain(end int64) int64 {
	longest := f.longest
	for i := range f.pods {
		if p := &f.pods[i]; p.phase == draining {
			longest = max(longest, end-p.deleted)
		}
	}
	return longest
}

// accept books the outcome of a dispatch of offered calls.
func (f *fleet) accept(rejected, offered int64) {
	f.rejected += rejected
	f.readyCalls += offered - rejected
	f.calls += offered - rejected
}

// dispatch hands n new calls to the ready pods, each to the least loaded
// (the first in list order among equals), as Kamailio's dispatcher does
// with its call-load algorithm, and returns how many found no room. Done
// call by call this is a water-filling: every pod below some level L is
// raised to it and the rest go one each to the first pods at L. advance
// leaves the histogram of the ready pods' loads to find L in one scan.
func (f *fleet) dispatch(n int64, slot int) (rejected int64) {
	if f.nReady == 0 {
		return max(n, 0)
	}
	defer clear(f.hist[f.lo : f.hi+1])
	if n <= 0 {
		return 0
	}
	if room := int64(f.nReady)*int64(f.capacity) - f.readyCalls; n >= room {
		for i := range f.pods {
			if p := &f.pods[i]; p.phase == ready {
				f.give(p, f.capacity-p.calls, slot)
			}
		}
		return n - room
	}
	// Raising every pod to level+1 costs filled (to reach level) plus one
	// per pod at or below level; n < room stops the scan below capacity.
	level, below, filled := f.lo, int64(0), int64(0)
	for {
		below += int64(f.hist[level])
		if filled+below > n {
			break
		}
		filled += below
		level++
	}
	n -= filled
	for i := range f.pods {
		p := &f.pods[i]
		if p.phase != ready || p.calls > level {
			continue
		}
		add := level - p.calls
		if n > 0 {
			add++
			n--
		}
		f.give(p, add, slot)
	}
	return 0
}

func (f *fleet) give(p *pod, n int32, slot int) {
	p.calls += n
	if p.ring != nil {
		p.ring[slot] += n
	}
}

// warm puts the first sample's calls on the initial pods, all ready, as if
// the replay began in the middle of a steady state: with fixed durations
// their ends are spread evenly over a call's length.
func (f *fleet) warm(demand float64, r *rand.Rand) {
	for i := range f.pods {
		f.pods[i].phase, f.pods[i].readyAt = ready, f.now
	}
	f.nReady, f.nStarting = f.nReady+f.nStarting, 0
	f.lo, f.hi, f.hist[0] = 0, 0, f.nReady
	n := poisson(r, demand)
	f.offered += n
	f.accept(f.dispatch(n, 0), n)
	for i := range f.pods {
		p := &f.pods[i]
		if p.ring == nil {
			continue
		}
		clear(p.ring)
		for j := range p.calls {
			p.ring[int(j)%len(p.ring)]++
		}
	}
}

// observation is what the fleet shows the HPA and the report at a step.
type observation struct {
	target hpasim.Target
	pods   hpasim.PodValues // a Pods metric of calls per pod
	// serving is the calls on the pods that take calls, as the adapter's
	// sums serve them: a draining pod counts 0 (docs/metrics.md).
	serving int64
	ready   int32
}

func (f *fleet) observe() observation {
	o := observation{serving: f.readyCalls, ready: f.nReady}
	o.pods = hpasim.PodValues{WithValue: f.nReady, SumMilli: f.readyCalls * 1000}
	switch f.cfg.StartupState {
	case StartPending:
		o.pods.Pending = f.nStarting
	case StartMissing:
		o.pods.Missing = f.nStarting
	case StartZero:
		o.pods.WithValue += f.nStarting
	}
	o.target = hpasim.Target{
		SpecReplicas:   f.active,
		StatusReplicas: f.active,
		Pods:           int32(len(f.pods)),
		ReadyPods:      f.nReady,
	}
	return o
}

// poisson draws the number of calls offered in a step with the given mean:
// exactly for small means, by the normal approximation above 30, where it
// is within a fraction of a percent.
func poisson(r *rand.Rand, mean float64) int64 {
	switch {
	case mean <= 0:
		return 0
	case mean < 30:
		limit, k, prod := math.Exp(-mean), int64(0), r.Float64()
		for prod > limit {
			k++
			prod *= r.Float64()
		}
		return k
	}
	return max(0, int64(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
}

// enumName is v's name in names, or Type(n) for a value that has none.
func enumName[T ~uint8](names map[T]string, v T, typ string) string {
	if s, ok := names[v]; ok {
		return s
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}
