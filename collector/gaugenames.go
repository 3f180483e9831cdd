package collector

import (
	"cmp"
	"slices"
	"strings"
)

// GaugeNamesLimit is the most gauge names a store can hold: a pod keeps its
// gauges by 16-bit ID, and the highest ID marks a name not resolved yet.
const GaugeNamesLimit = int(unresolved)

// gaugeNames maps gauge names to the IDs pods store them by. A name is held
// while a pod holds it in its latest gauges (a pod the cluster deleted, or
// a stale unknown pod swept, holds none), so that a publisher that invented
// names frees them when its series go, instead of locking every other
// namespace out of new names until a restart. IDs of freed names are
// reused, so they never pass GaugeNamesLimit. The store's lock guards it.
type gaugeNames struct {
	ids   map[string]uint16
	names []string // by ID; "" for a free one
	refs  []uint32 // by ID: the pods holding it
	since []uint64 // by ID: when it was registered, in registrations
	free  []uint16
	n     uint64 // registrations so far
	// list is the names held, in registration order. A freed name makes
	// it stale until tidy rebuilds it, so that a sweep freeing many names
	// costs one rebuild, not one per name. It only grows in place, past
	// the length Gauges returned, so a caller may keep what it returned.
	list  []string
	stale bool
}

func (t *gaugeNames) id(name string) (uint16, bool) {
	id, ok := t.ids[name]
	return id, ok
}

// len is how many names are held.
func (t *gaugeNames) len() int { return len(t.ids) }

// register adds name, which must not be held, and returns its ID. The
// caller keeps len() within GaugeNamesLimit; the name is held by no pod
// until hold.
func (t *gaugeNames) register(name string) uint16 {
	name = strings.Clone(name)
	var id uint16
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.names[id] = name
	} else {
		id = uint16(len(t.names))
		t.names = append(t.names, name)
		t.refs = append(t.refs, 0)
		t.since = append(t.since, 0)
	}
	if t.ids == nil {
		t.ids = map[string]uint16{}
	}
	t.ids[name] = id
	t.n++
	t.since[id] = t.n
	if !t.stale {
		t.list = append(t.list, name)
	}
	return id
}

// tidy rebuilds the list if a name was freed since it was built; whatever
// releases names calls it before giving up the store's lock.
func (t *gaugeNames) tidy() {
	if !t.stale {
		return
	}
	ids := make([]uint16, 0, len(t.ids))
	for _, id := range t.ids {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint16) int { return cmp.Compare(t.since[a], t.since[b]) })
	t.list = make([]string, len(ids))
	for i, id := range ids {
		t.list[i] = t.names[id]
	}
	t.stale = false
}

// hold counts one more pod holding each of ids.
func (t *gaugeNames) hold(ids []uint16) {
	for _, id := range ids {
		t.refs[id]++
	}
}

// release counts one pod less holding each of p's gauges, and frees the
// names no pod holds any more; tidy must follow.
func (t *gaugeNames) release(p *pod) {
	for i := range int(p.nGauges) {
		id := p.gaugeAt(i).id
		if t.refs[id]--; t.refs[id] > 0 {
			continue
		}
		delete(t.ids, t.names[id])
		t.names[id] = ""
		t.free = append(t.free, id)
		t.stale = true
	}
}
