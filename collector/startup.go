package collector

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// How start-up durations are kept: the time from a pod's creation to its
// Ready condition, noted the first time the store sees the pod Ready. The
// predictor looks that far ahead, so that the pods the HPA adds for a
// forecast rise are ready when the rise comes.
const (
	// startupsKept is how many recent start-ups are kept per owner.
	startupsKept = 32
	// MaxStartup bounds what counts as a start-up. A pod first seen Ready
	// (when the adapter starts, every running pod is) whose Ready
	// condition changed more than this after its creation went unready and
	// back later in its life; that says nothing about starting.
	MaxStartup = time.Hour
	// startupsForget drops the start-ups of an owner that has started no
	// pod for this long: a deleted workload, or an old ReplicaSet.
	startupsForget = 30 * 24 * time.Hour
)

// startupKey is the owner a pod's start-up is noted under: its controller
// as the owner reference says (a ReplicaSet for a Deployment's pods), so
// that the note does not depend on the ReplicaSet informer having caught up.
type startupKey struct {
	namespace string
	owner     Workload
}

type startup struct {
	at int64 // when the pod became Ready, unix ms
	d  time.Duration
}

// startupRing holds an owner's latest start-ups.
type startupRing struct {
	s    [startupsKept]startup
	n    int // how many were ever noted
	last int64
}

// noteStartup is UpsertPod's hook, called with the lock held once the pod
// is updated: the first time a pod is seen Ready, its start-up is noted.
func (s *Store) noteStartup(ns *namespace, p *pod, info PodInfo) {
	if p.started || !info.Ready || p.owner.Kind == WorkloadNone {
		return
	}
	p.started = true
	d := info.ReadySince.Sub(info.Created)
	if info.Created.IsZero() || info.ReadySince.IsZero() || d < 0 || d > MaxStartup {
		return
	}
	at := info.ReadySince.UnixMilli()
	if s.startups == nil {
		s.startups = map[startupKey]*startupRing{}
	}
	for k, r := range s.startups {
		if at-r.last > startupsForget.Milliseconds() {
			delete(s.startups, k)
		}
	}
	key := startupKey{ns.name, p.owner}
	r := s.startups[key]
	if r == nil {
		r = &startupRing{}
		s.startups[key] = r
	}
	r.s[r.n%startupsKept] = startup{at: at, d: d}
	r.n++
	r.last = max(r.last, at)
}

// StartupQuantile returns the q-quantile (0 < q <= 1) of how long the
// workload's most recent pods took from creation to Ready, over up to 32
// of them, and how many that is (0: none seen, and a zero duration). A
// Deployment's start-ups are those of its ReplicaSets' pods.
func (s *Store) StartupQuantile(namespace string, w Workload, q float64) (time.Duration, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var all []startup
	collect := func(owner Workload) {
		if r := s.startups[startupKey{namespace, owner}]; r != nil {
			all = append(all, r.s[:min(r.n, startupsKept)]...)
		}
	}
	collect(w)
	if ns := s.namespaces[namespace]; ns != nil && w.Kind == WorkloadDeployment {
		for rs, d := range ns.replicaSets {
			if d == w.Name {
				collect(Workload{Kind: WorkloadReplicaSet, Name: rs})
			}
		}
	}
	if len(all) == 0 {
		return 0, 0
	}
	// The most recent ones, across ReplicaSets: a rollout may have changed
	// the image and its start-up.
	slices.SortFunc(all, func(a, b startup) int { return cmp.Compare(b.at, a.at) })
	all = all[:min(len(all), startupsKept)]
	slices.SortFunc(all, func(a, b startup) int { return cmp.Compare(a.d, b.d) })
	i := int(math.Ceil(q*float64(len(all)))) - 1
	return all[min(max(i, 0), len(all)-1)].d, len(all)
}
