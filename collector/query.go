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

// PodValues appends to out the fresh values of gauge for the pods in
// namespace that match podSel (their labels) and metricSel (their series
// labels). Pods without a fresh value are left out, as the HPA expects of a
// pod with no metric.
func (s *Store) PodValues(namespace string, podSel labels.Selector, gauge string, metricSel labels.Selector, out []PodValue) ([]PodValue, Coverage) {
	nowMs := s.now().UnixMilli()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var cov Coverage
	id, ok := s.gaugeID(gauge)
	cov.GaugeKnown = ok
	ns := s.namespaces[namespace]
	if !ok || ns == nil {
		return out, cov
	}
	for _, p := range ns.byLabels(podSel) {
		if !metricSel.Matches(p) {
			continue
		}
		cov.Pods++
		v, has := p.value(id)
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

// PodValue returns one pod's fresh value of gauge.
func (s *Store) PodValue(namespace, name, gauge string, metricSel labels.Selector) (PodValue, Coverage, bool) {
	nowMs := s.now().UnixMilli()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var cov Coverage
	id, ok := s.gaugeID(gauge)
	cov.GaugeKnown = ok
	ns := s.namespaces[namespace]
	if !ok || ns == nil {
		return PodValue{}, cov, false
	}
	p := ns.pods[name]
	if p == nil || !metricSel.Matches(p) {
		return PodValue{}, cov, false
	}
	cov.Pods = 1
	v, has := p.value(id)
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

// SeriesAggregate sums gauge over the series whose labels match sel, in one
// namespace, or in all when namespace is "". This is the fleet view the
// external metrics API serves.
func (s *Store) SeriesAggregate(namespace string, sel labels.Selector, gauge string) (Aggregate, Coverage) {
	return s.aggregate(namespace, gauge, sel, nil, false)
}

// aggregate visits the pods of a namespace (of all, when nsName is ""),
// or those candidates picks, whose series labels match sel.
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
	everything := sel.Empty()
	visitPod := func(p *pod) {
		if !everything && !sel.Matches(p) {
			return
		}
		v, has := p.value(id)
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

// WorkloadLoad is the fresh load of one workload: each gauge summed over
// its pods with a fresh sample, as WorkloadAggregate sums it.
type WorkloadLoad struct {
	Namespace string
	Workload  Workload
	// Pods is how many of its pods have a fresh sample.
	Pods   int
	Gauges []GaugeSum
}

// GaugeSum is one gauge summed over pods.
type GaugeSum struct {
	Name string
	Sum  float64
}

// WorkloadLoads returns the load of every workload with a fresh sample, in
// no particular order. It visits every pod once; self-metrics call it at
// scrape time, not the metrics APIs.
func (s *Store) WorkloadLoads() []WorkloadLoad {
	nowMs := s.now().UnixMilli()
	s.mu.RLock()
	defer s.mu.RUnlock()
	type acc struct {
		pods int
		sums []float64
		seen []bool
	}
	var out []WorkloadLoad
	for _, ns := range s.namespaces {
		workloads := map[Workload]*acc{}
		for _, p := range ns.pods {
			if !p.known || !p.fresh(nowMs) {
				continue
			}
			w := p.workload()
			if w.Kind == WorkloadNone {
				continue
			}
			a := workloads[w]
			if a == nil {
				a = &acc{sums: make([]float64, len(s.gaugeNames)), seen: make([]bool, len(s.gaugeNames))}
				workloads[w] = a
			}
			a.pods++
			for _, g := range p.gauges {
				a.sums[g.id] += g.v
				a.seen[g.id] = true
			}
		}
		for w, a := range workloads {
			l := WorkloadLoad{Namespace: ns.name, Workload: w, Pods: a.pods}
			for id, seen := range a.seen {
				if seen {
					l.Gauges = append(l.Gauges, GaugeSum{Name: s.gaugeNames[id], Sum: a.sums[id]})
				}
			}
			out = append(out, l)
		}
	}
	return out
}
