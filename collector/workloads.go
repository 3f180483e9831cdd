package collector

import (
	"cmp"
	"slices"
)

// WorkloadGauge is one gauge summed over one workload's pods, with the
// coverage that says whether the sum is whole.
type WorkloadGauge struct {
	Namespace string
	Workload  Workload
	Gauge     string
	Aggregate Aggregate
	Coverage  Coverage
}

// Complete reports whether the sum is one the adapter would serve: fresh,
// and missing no pod that should be in it.
func (g *WorkloadGauge) Complete() bool {
	return g.Coverage.Fresh > 0 && g.Coverage.Missing == 0
}

// Workloads appends to out the sum of every gauge over every workload, as
// WorkloadAggregate computes it for one, and returns it sorted by
// namespace, workload and gauge. A gauge is listed for a workload when one
// of its pods has published it. Pods without a controller, or that the
// cluster has not told the store about, belong to no workload.
//
// It is the predictor's view of the fleet: one call a minute, costing one
// pass over the pods per gauge of their workload.
func (s *Store) Workloads(out []WorkloadGauge) []WorkloadGauge {
	nowMs := s.now().UnixMilli()
	s.mu.RLock()
	defer s.mu.RUnlock()
	start := len(out)
	for _, ns := range s.namespaces {
		byWorkload := map[Workload][]*pod{}
		for _, p := range ns.pods {
			if !p.known {
				continue
			}
			if w := p.workload(); w.Kind != WorkloadNone {
				byWorkload[w] = append(byWorkload[w], p)
			}
		}
		var ids []uint16
		for w, pods := range byWorkload {
			ids = ids[:0]
			for _, p := range pods {
				for i := range int(p.nGauges) {
					if id := p.gaugeAt(i).id; !slices.Contains(ids, id) {
						ids = append(ids, id)
					}
				}
			}
			for _, id := range ids {
				e := WorkloadGauge{Namespace: ns.name, Workload: w, Gauge: s.gauges.names[id]}
				for _, p := range pods {
					s.accumulate(p, id, nowMs, true, false, &e.Aggregate, &e.Coverage)
				}
				e.Coverage.GaugeKnown = true
				out = append(out, e)
			}
		}
	}
	slices.SortFunc(out[start:], func(a, b WorkloadGauge) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Workload.Kind, b.Workload.Kind),
			cmp.Compare(a.Workload.Name, b.Workload.Name), cmp.Compare(a.Gauge, b.Gauge))
	})
	return out
}
