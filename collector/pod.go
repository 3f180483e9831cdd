package collector

import (
	"strings"
	"time"

	"github.com/rtcscale/rtcscale/sample"
)

// WorkloadKind is the kind of controller that owns a pod.
type WorkloadKind uint8

// Workload kinds. A pod owned by a ReplicaSet that a Deployment owns belongs
// to the Deployment.
const (
	WorkloadNone WorkloadKind = iota // a bare pod, or not known yet
	WorkloadDeployment
	WorkloadStatefulSet
	WorkloadDaemonSet
	WorkloadReplicaSet
)

var workloadKindNames = [...]string{"", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}

func (k WorkloadKind) String() string { return workloadKindNames[k] }

// ParseWorkloadKind maps an owner reference's kind to a WorkloadKind.
func ParseWorkloadKind(kind string) WorkloadKind {
	for k, name := range workloadKindNames {
		if k > 0 && name == kind {
			return WorkloadKind(k)
		}
	}
	return WorkloadNone
}

// Workload names a pod's controller.
type Workload struct {
	Kind WorkloadKind
	Name string
}

// PodInfo is what the collector needs to know about a pod from the cluster.
type PodInfo struct {
	Namespace, Name string
	// Labels are the pod's labels; the store keeps the map, so the caller
	// must not change it afterwards.
	Labels map[string]string
	// Owner is the pod's controller as its owner reference says (a
	// Deployment's pods name their ReplicaSet here).
	Owner Workload
	// Ready is the pod's Ready condition; ReadySince when it last changed.
	Ready      bool
	ReadySince time.Time
	// Created is the pod's creation time.
	Created time.Time
}

type gaugeValue struct {
	id uint16
	v  float64
}

// pod is the store's entry for one pod: what the cluster says about it
// (known), and its latest sample (hasSample). Either may come first.
type pod struct {
	name string
	ns   *namespace

	known      bool
	labels     map[string]string
	owner      Workload
	ready      bool
	readySince int64 // unix ms
	started    bool  // its start-up was noted (startup.go)

	hasSample bool
	kind      sample.Kind
	node      string
	region    string
	ts        int64 // sample time, unix ms
	staleAt   int64 // unix ms after which the sample is not served
	seq       uint64
	draining  bool
	// The gauges live in the entry itself: a query reads thousands of
	// pods, and a separate allocation per pod would cost a cache miss each.
	// Samples with more than inlineGauges gauges spill into more.
	nGauges uint8
	gauges  [inlineGauges]gaugeValue
	more    []gaugeValue
}

// inlineGauges covers every sample rtcscale's own sidecars publish.
const inlineGauges = 6

func (p *pod) setGauges(ids []uint16, gs []sample.Gauge) {
	p.nGauges = uint8(len(gs))
	p.more = p.more[:0]
	for i, g := range gs {
		gv := gaugeValue{id: ids[i], v: g.Value}
		if i < inlineGauges {
			p.gauges[i] = gv
		} else {
			p.more = append(p.more, gv)
		}
	}
}

func (p *pod) fresh(nowMs int64) bool { return p.hasSample && nowMs <= p.staleAt }

// forgetSample stops counting the pod's sample as a series. Its gauges are
// kept while the pod lives, so that a query can tell a pod that stopped
// publishing a gauge (missing) from one that never publishes it.
func (p *pod) forgetSample() { p.hasSample = false }

func (p *pod) value(id uint16) (float64, bool) {
	for i := range int(p.nGauges) {
		if g := p.gaugeAt(i); g.id == id {
			return g.v, true
		}
	}
	return 0, false
}

// gaugeAt returns the i-th gauge of the pod's latest sample, i < nGauges.
func (p *pod) gaugeAt(i int) gaugeValue {
	if i < inlineGauges {
		return p.gauges[i]
	}
	return p.more[i-inlineGauges]
}

// workload resolves the pod's owner to the top-level workload.
func (p *pod) workload() Workload {
	if p.owner.Kind == WorkloadReplicaSet {
		if d := p.ns.replicaSets[p.owner.Name]; d != "" {
			return Workload{Kind: WorkloadDeployment, Name: d}
		}
	}
	return p.owner
}

// Series labels: the labels a metric label selector (custom metrics) or an
// external metric's selector is matched against.
const (
	LabelNamespace    = "namespace"
	LabelPod          = "pod"
	LabelWorkload     = "workload"
	LabelWorkloadKind = "workload_kind"
	LabelKind         = "kind"
	LabelRegion       = "region"
	LabelNode         = "node"
	LabelDraining     = "draining"
)

// SeriesLabels lists the series labels, for discovery and docs.
var SeriesLabels = []string{LabelNamespace, LabelPod, LabelWorkload, LabelWorkloadKind, LabelKind, LabelRegion, LabelNode, LabelDraining}

// Lookup implements labels.Labels over a pod's series labels without
// building a map. An empty label (no region, say) does not exist.
func (p *pod) Lookup(label string) (string, bool) {
	var v string
	switch label {
	case LabelNamespace:
		v = p.ns.name
	case LabelPod:
		v = p.name
	case LabelWorkload:
		v = p.workload().Name
	case LabelWorkloadKind:
		v = p.workload().Kind.String()
	case LabelKind:
		v = p.kind.String()
	case LabelRegion:
		v = p.region
	case LabelNode:
		v = p.node
	case LabelDraining:
		if p.draining {
			return "true", true
		}
		return "false", true
	}
	return v, v != ""
}

// Has implements labels.Labels.
func (p *pod) Has(label string) bool {
	_, ok := p.Lookup(label)
	return ok
}

// Get implements labels.Labels.
func (p *pod) Get(label string) string {
	v, _ := p.Lookup(label)
	return v
}

// UpsertPod records what the cluster says about a pod.
func (s *Store) UpsertPod(info PodInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.namespace(info.Namespace, true)
	p := ns.pods[info.Name]
	if p == nil {
		p = &pod{name: strings.Clone(info.Name), ns: ns}
		ns.pods[p.name] = p
	}
	if !sameMeta(p, info) {
		ns.changed()
	}
	if !p.known && p.hasSample {
		// Its series moves to the known pods' quota: the cluster says
		// the pod is real, so it is not refused for that quota.
		s.countSeries(p, -1)
		p.known = true
		s.countSeries(p, 1)
	}
	p.known = true
	p.labels = info.Labels
	p.owner = info.Owner
	p.ready = info.Ready
	p.readySince = info.ReadySince.UnixMilli()
	s.noteStartup(ns, p, info)
}

// DeletePod forgets a pod and its series at once: a deleted pod's last
// sample must not count for its workload while it goes stale.
func (s *Store) DeletePod(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.namespaces[namespace]
	if ns == nil {
		return
	}
	if p := ns.pods[name]; p != nil {
		if p.hasSample {
			s.countSeries(p, -1)
		}
		s.gauges.release(p)
		s.gauges.tidy()
		delete(ns.pods, name)
		ns.changed()
	}
}

// SetReplicaSet records which Deployment owns a ReplicaSet ("" for none).
func (s *Store) SetReplicaSet(namespace, name, deployment string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.namespace(namespace, true)
	if d, ok := ns.replicaSets[name]; !ok || d != deployment {
		ns.replicaSets[name] = deployment
		ns.changed()
	}
}

// DeleteReplicaSet forgets a ReplicaSet.
func (s *Store) DeleteReplicaSet(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ns := s.namespaces[namespace]; ns != nil {
		delete(ns.replicaSets, name)
		ns.changed()
	}
}
