package cluster

import (
	"encoding/binary"
	"maps"
	"runtime"
	"slices"
	"sync"
	"weak"
)

// labelSet is one set of labels that pods share. The informer's cache
// holds it through each pod's cachedPod, which keeps it alive; the store is
// given its map.
type labelSet struct {
	m map[string]string
}

// labelSets gives pods whose labels are the same one map of them: the pods
// of a ReplicaSet or a DaemonSet carry the same labels, and each decoded
// pod brings its own copy, about 350 bytes for a single label (a map's
// header and group, and the strings), which at 10,000 pods is a fifth of
// the cache (docs/benchmarks.md, "The adapter's memory").
//
// A set is forgotten once no cached pod holds it: the table keeps weak
// pointers, and a cleanup deletes a set's entry after the collector
// reclaims it, so a rollout's new pod-template-hash does not add to the
// table for good.
type labelSets struct {
	mu   sync.Mutex
	sets map[string]weak.Pointer[labelSet]
	// key and names are intern's buffers, reused under mu.
	key   []byte
	names []string
}

func newLabelSets() *labelSets {
	return &labelSets{sets: make(map[string]weak.Pointer[labelSet])}
}

// intern returns the set equal to labels, adding labels as a new one if
// there is none; labels must not change afterwards. Nil for no labels.
func (t *labelSets) intern(labels map[string]string) *labelSet {
	if len(labels) == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// The key lists the labels in order, each name and value prefixed by
	// its length, so two different sets never share one.
	t.names = slices.AppendSeq(t.names[:0], maps.Keys(labels))
	slices.Sort(t.names)
	t.key = t.key[:0]
	for _, k := range t.names {
		v := labels[k]
		t.key = binary.AppendUvarint(t.key, uint64(len(k)))
		t.key = append(t.key, k...)
		t.key = binary.AppendUvarint(t.key, uint64(len(v)))
		t.key = append(t.key, v...)
	}
	if set := t.sets[string(t.key)].Value(); set != nil {
		return set
	}
	set := &labelSet{m: labels}
	key := string(t.key)
	t.sets[key] = weak.Make(set)
	runtime.AddCleanup(set, t.forget, key)
	return set
}

// forget deletes key's entry once its set is reclaimed, unless a new set
// took the key since.
func (t *labelSets) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sets[key].Value() == nil {
		delete(t.sets, key)
	}
}
