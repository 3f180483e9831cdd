package collector

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/labels"
)

// maxSelections bounds the cached selections per namespace. The HPAs of a
// namespace ask with a few selectors, again and again; past this many
// distinct ones the cache starts over.
const maxSelections = 256

// selections caches which pods of a namespace a pod selector or a workload
// picks. The HPA asks the same question every sync period while pods and
// their labels change far less often, so a query walks only the pods it
// needs instead of matching labels on every pod of the namespace.
//
// A cached list is valid while the namespace's generation is unchanged; the
// generation moves whenever a pod comes or goes, or a pod's labels, owner
// or the ReplicaSet map change (all under the store's write lock). Lookups
// happen under the store's read lock, so the cache has its own mutex.
type selections struct {
	mu      sync.Mutex
	gen     uint64 // generation the entries were computed at
	entries map[selectionKey][]*pod
}

type selectionKey struct {
	selector string   // a pod label selector, or ""
	workload Workload // a workload, or zero
}

// changed invalidates every cached selection of the namespace. Callers hold
// the store's write lock.
func (ns *namespace) changed() { ns.gen++ }

// selected returns the known pods of ns that key picks, computing and
// caching the list when the namespace has changed since. Callers hold at
// least the store's read lock.
func (ns *namespace) selected(key selectionKey, match func(*pod) bool) []*pod {
	c := &ns.selections
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != ns.gen || c.entries == nil || len(c.entries) >= maxSelections {
		c.gen, c.entries = ns.gen, map[selectionKey][]*pod{}
	}
	if pods, ok := c.entries[key]; ok {
		return pods
	}
	var pods []*pod
	for _, p := range ns.pods {
		if p.known && match(p) {
			pods = append(pods, p)
		}
	}
	// In name order, not the map's random order: two replicas of the
	// adapter, or one before and after a pod change, list the same pods
	// the same way, and sums add up in the same order.
	slices.SortFunc(pods, func(a, b *pod) int { return strings.Compare(a.name, b.name) })
	c.entries[key] = pods
	return pods
}

// byLabels returns the known pods whose labels match sel.
func (ns *namespace) byLabels(sel labels.Selector) []*pod {
	return ns.selected(selectionKey{selector: sel.String()}, func(p *pod) bool {
		return sel.Matches(labels.Set(p.labels))
	})
}

// byWorkload returns the known pods that belong to w.
func (ns *namespace) byWorkload(w Workload) []*pod {
	return ns.selected(selectionKey{workload: w}, func(p *pod) bool { return p.workload() == w })
}

// sameMeta reports whether an update leaves what selections depend on as
// it was.
func sameMeta(p *pod, info PodInfo) bool {
	return p.known && p.owner == info.Owner && maps.Equal(p.labels, info.Labels)
}
