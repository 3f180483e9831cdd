package collector

import (
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// PodValue is one pod's value of a gauge and when it was observed.
type PodValue struct {
	Pod   string
	Value float64
	Time  time.Time
}

// Aggregate is a gauge summed over several pods. Oldest is the time of the
// oldest sample in it: an aggregate is only as fresh as its stalest part.
type Aggregate struct {
	Sum, Max float64
	Count    int
	Oldest   time.Time
}

func (a *Aggregate) add(v float64, ts int64) {
	a.Sum += v
	if a.Count == 0 || v > a.Max {
		a.Max = v
	}
	if t := time.UnixMilli(ts); a.Count == 0 || t.Before(a.Oldest) {
		a.Oldest = t
	}
	a.Count++
}

// Coverage says what a query found, so that an empty or refused answer can
// tell the operator why.
type Coverage struct {
	// GaugeKnown is false when no sample has ever carried the gauge.
	GaugeKnown bool
	// Pods is how many pods were in scope (matched the selectors).
	Pods int
	// Fresh of them have a fresh value of the gauge.
	Fresh int
	// Missing of them are Ready (past the start-up grace) and should have a
	// fresh value but do not: they published it before, or they belong to
	// the workload asked about and never published at all.
	Missing int
	// NewestStale is the time of the newest sample among pods whose value
	// is stale, zero if none.
	NewestStale time.Time
}

func (c *Coverage) noteStale(p *pod) {
	if t := time.UnixMilli(p.ts); p.ts != 0 && t.After(c.NewestStale) {
		c.NewestStale = t
	}
}

// missing reports whether p should have a fresh value of gauge id but has
// none. Only such pods make an aggregate incomplete: a pod that never
// publishes the gauge (a database beside the media servers) does not.
func (s *Store) missing(p *pod, id uint16, nowMs int64, workloadScoped bool) bool {
	if p.fresh(nowMs) || !p.known || !p.ready || nowMs-p.readySince < s.opts.Load().StartupGrace.Milliseconds() {
		return false
	}
	if _, had := p.value(id); had {
		return true
	}
	return workloadScoped && p.nGauges == 0
}

// A draining pod's load counts 0 in every metric unless the metric selector
// asks about draining by name (draining=true, draining in (...)): its calls
// are ending where they are and ask no capacity of the workload. Counted as
// load, they would make the HPA scale back up for calls that need no new
// pod (a deleted pod is no replica, but a workload sum still held its
// calls), and keep a drained pod as a replica; counted 0, the HPA sizes the
// serving pods for their own load, and the next scale-down removes a
// drained pod that is not yet being deleted (its deletion cost is the
// lowest). Naming the label asks for the pods' real load: how many calls
// the draining pods still carry.
func drainingAsLoad(sel labels.Selector) bool {
	reqs, _ := sel.Requirements()
	for _, r := range reqs {
		if r.Key() == LabelDraining {
			return true
		}
	}
	return false
}

// served is p's value of gauge id as the metrics serve it (see
// drainingAsLoad).
func (p *pod) served(id uint16, drainingAsLoad bool) (float64, bool) {
	v, has := p.value(id)
	if has && p.draining && !drainingAsLoad {
		v = 0
	}
	return v, has
}

// PodValues appends to out the fresh values of gauge for the pods in
// namespace that match podSel (their labels) and metricSel (their series
// labels). Pods without a fresh value are left out, as the HPA expects of a
// pod with no metric.
func (s *Store) PodValues(namespace string, podSel labels.Selector, gauge string, metricSel labels.Selector, out []PodValue) ([]PodValue, Coverage) {
	nowMs := s.now().UnixMilli()
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns, id, cov := s.lookup(namespace, gauge)
	if ns == nil {
		return out, cov
	}
	real := drainingAsLoad(metricSel)
	for _, p := range ns.byLabels(podSel) {
		if !metricSel.Matches(p) {
			continue
		}
		cov.Pods++
		v, has := p.served(id, real)
		if !has || !p.fresh(nowMs) {
			if s.missing(p, id, nowMs, false) {
				cov.Missing++
				cov.noteStale(p)
			}
			continue
		}
		cov.Fresh++
		out = append(out, PodValue{Pod: p.name, Value: v, Time: time.UnixMilli(p.ts)})
	}
	return out, cov
}

// lookup finds the namespace and the gauge's ID for a pod query; ns is nil
// when either is unknown. s.mu must be held.
func (s *Store) lookup(namespace, gauge string) (ns *namespace, id uint16, cov Coverage) {
	id, cov.GaugeKnown = s.gaugeID(gauge)
	if !cov.GaugeKnown {
		return nil, id, cov
	}
	return s.namespaces[namespace], id, cov
}

// PodValue returns one pod's fresh value of gauge.
func (s *Store) PodValue(namespace, name, gauge string, metricSel labels.Selector) (PodValue, Coverage, bool) {
	nowMs := s.now().UnixMilli()
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns, id, cov := s.lookup(namespace, gauge)
	if ns == nil {
		return PodValue{}, cov, false
	}
	p := ns.pods[name]
	if p == nil || !p.known || !metricSel.Matches(p) {
		return PodValue{}, cov, false
	}
	cov.Pods = 1
	v, has := p.served(id, drainingAsLoad(metricSel))
	if !has || !p.fresh(nowMs) {
		cov.noteStale(p)
		return PodValue{}, cov, false
	}
	cov.Fresh = 1
	return PodValue{Pod: p.name, Value: v, Time: time.UnixMilli(p.ts)}, cov, true
}

// WorkloadAggregate sums gauge over the pods of one workload in namespace.
func (s *Store) WorkloadAggregate(nsName string, w Workload, gauge string, metricSel labels.Selector) (Aggregate, Coverage) {
	return s.aggregate(nsName, gauge, metricSel, func(ns *namespace) []*pod { return ns.byWorkload(w) }, true)
}

// NamespaceAggregate sums gauge over the pods of a namespace.
func (s *Store) NamespaceAggregate(namespace, gauge string, metricSel labels.Selector) (Aggregate, Coverage) {
	return s.aggregate(namespace, gauge, metricSel, nil, false)
}

// SelectorAggregate sums gauge over the pods of namespace nsName whose labels
// match podSel: the pods a Pods metric's labelSelector picks, summed as
// the namespace's sums are (a pod that never publishes the gauge is no
// part of it). The KEDA scaler's labelSelector scope is this sum.
func (s *Store) SelectorAggregate(nsName string, podSel labels.Selector, gauge string) (Aggregate, Coverage) {
	return s.aggregate(nsName, gauge, labels.Everything(), func(ns *namespace) []*pod { return ns.byLabels(podSel) }, false)
}

// SeriesAggregate sums gauge over the series whose labels match sel, in one
// namespace, or in all when namespace is "". This is the view the external
// metrics API serves.
func (s *Store) SeriesAggregate(namespace string, sel labels.Selector, gauge string) (Aggregate, Coverage) {
	return s.aggregate(namespace, gauge, sel, nil, false)
}

// aggregate visits the pods of a namespace (of all, when nsName is ""),
// or those candidates picks, whose series labels match sel. Only pods the
// cluster knows count, as in PodValues and the workload sums: a sample
// names its pod itself, so one for a pod the informers never reported (an
// invented name, another cluster's pod on a shared NATS, a deleted pod's
// late sample) would otherwise add load that no replica carries, and the
// namespace and external sums would disagree with the Pods metric.
func (s *Store) aggregate(nsName, gauge string, sel labels.Selector, candidates func(*namespace) []*pod, workloadScoped bool) (Aggregate, Coverage) {
	nowMs := s.now().UnixMilli()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var agg Aggregate
	var cov Coverage
	id, ok := s.gaugeID(gauge)
	cov.GaugeKnown = ok
	if !ok {
		return agg, cov
	}
	everything, real := sel.Empty(), drainingAsLoad(sel)
	visitPod := func(p *pod) {
		if p.known && (everything || sel.Matches(p)) {
			s.accumulate(p, id, nowMs, workloadScoped, real, &agg, &cov)
		}
	}
	visit := func(ns *namespace) {
		if candidates != nil {
			for _, p := range candidates(ns) {
				visitPod(p)
			}
			return
		}
		for _, p := range ns.pods {
			visitPod(p)
		}
	}
	if nsName != "" {
		if ns := s.namespaces[nsName]; ns != nil {
			visit(ns)
		}
		return agg, cov
	}
	for _, ns := range s.namespaces {
		visit(ns)
	}
	return agg, cov
}

// accumulate adds p's fresh value of gauge id to agg, or counts it missing.
func (s *Store) accumulate(p *pod, id uint16, nowMs int64, workloadScoped, drainingAsLoad bool, agg *Aggregate, cov *Coverage) {
	v, has := p.served(id, drainingAsLoad)
	if has && p.fresh(nowMs) {
		cov.Pods++
		cov.Fresh++
		agg.add(v, p.ts)
	} else if s.missing(p, id, nowMs, workloadScoped) {
		cov.Pods++
		cov.Missing++
		cov.noteStale(p)
	}
}
