package collector

import (
	"cmp"
	"slices"
)

// Scope is what the cluster has told the store about one namespace. The
// adapter reads it to explain an empty answer: a namespace, a workload or
// a pod that does not exist is the operator's typo, not a silent sidecar.
type Scope struct {
	// Pods counts the namespace's pods the cluster told the store about.
	Pods int
	// Workloads are the workloads of those pods, sorted by kind and name;
	// a bare pod belongs to none.
	Workloads []Workload
}

// Has reports whether some known pod belongs to w.
func (sc Scope) Has(w Workload) bool {
	_, found := slices.BinarySearchFunc(sc.Workloads, w, compareWorkloads)
	return found
}

func compareWorkloads(a, b Workload) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
}

// Scope returns what the cluster has told the store about namespace. Pods
// known only from a sample do not count: the cluster does not know them.
// It walks the namespace's pods, for the error path only.
func (s *Store) Scope(namespace string) Scope {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var sc Scope
	ns := s.namespaces[namespace]
	if ns == nil {
		return sc
	}
	for _, p := range ns.pods {
		if !p.known {
			continue
		}
		sc.Pods++
		if w := p.workload(); w.Kind != WorkloadNone {
			sc.Workloads = append(sc.Workloads, w)
		}
	}
	slices.SortFunc(sc.Workloads, compareWorkloads)
	sc.Workloads = slices.Compact(sc.Workloads)
	return sc
}

// KnownPod reports whether the cluster has told the store about the pod.
func (s *Store) KnownPod(namespace, name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ns := s.namespaces[namespace]; ns != nil {
		p := ns.pods[name]
		return p != nil && p.known
	}
	return false
}
