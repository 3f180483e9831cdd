// Package collector keeps the latest load sample of every pod, joins it with
// what the cluster says about the pod (labels, owner, readiness), and answers
// the adapter's questions from memory: the values of a set of pods, and
// sums, averages and maxima over workloads, namespaces and label sets.
//
// Data flows one way: NATS -> Subscriber -> Store <- pod informer, and the
// adapter only reads the Store.
package collector

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/sample"
)

// Options tune a Store. The zero value of a field means its default.
type Options struct {
	// StaleAfter is how many of a sample's own publish intervals it stays
	// fresh. Default 3: one lost sample is tolerated, three are not.
	StaleAfter float64
	// MaxFuture is how far ahead of this process's clock a sample's
	// timestamp may be (clock skew between nodes). Default 10s.
	MaxFuture time.Duration
	// MaxSeries bounds the pods with a sample, in all and per namespace,
	// so that a publisher inventing pod names cannot exhaust memory.
	// Defaults 200000 and 50000.
	MaxSeries             int
	MaxSeriesPerNamespace int
	// MaxGaugeNames bounds the distinct gauge names. Default 256.
	MaxGaugeNames int
	// StartupGrace is how long a Ready pod may go without a sample before
	// an object metric over its workload is refused as incomplete.
	// Default 30s.
	StartupGrace time.Duration
	// Now is the clock; tests set it. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.StaleAfter <= 0 {
		o.StaleAfter = 3
	}
	if o.MaxFuture <= 0 {
		o.MaxFuture = 10 * time.Second
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = 200000
	}
	if o.MaxSeriesPerNamespace <= 0 {
		o.MaxSeriesPerNamespace = 50000
	}
	if o.MaxGaugeNames <= 0 {
		o.MaxGaugeNames = 256
	}
	if o.StartupGrace <= 0 {
		o.StartupGrace = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store holds the latest sample of every pod and what the cluster says
// about the pod. It is safe for concurrent use: one writer lock guards it,
// since each ingest is a few map lookups and queries read many pods at once.
type Store struct {
	// opts is swapped whole by SetOptions while queries and ingests run;
	// each call reads it once, so it sees one consistent set.
	opts    atomic.Pointer[Options]
	now     func() time.Time
	metrics *Metrics

	mu         sync.RWMutex
	namespaces map[string]*namespace
	series     int // pods with a sample
	gaugeIDs   map[string]uint16
	gaugeNames []string
	// gaugeScratch holds a sample's gauge IDs between resolving them and
	// storing the sample, so that a rejected sample changes nothing.
	gaugeScratch [sample.MaxGauges]uint16
	// startups are the recent pods' start-up durations (startup.go).
	startups map[startupKey]*startupRing
}

type namespace struct {
	name   string
	pods   map[string]*pod
	series int
	// replicaSets maps a ReplicaSet to the Deployment that owns it ("" for
	// none), so that a pod's workload is found without asking the cluster.
	replicaSets map[string]string

	gen        uint64 // see selections
	selections selections
}

// NewStore returns an empty Store. metrics may be nil.
func NewStore(opts Options, metrics *Metrics) *Store {
	opts = opts.withDefaults()
	s := &Store{
		now:        opts.Now,
		metrics:    metrics,
		namespaces: map[string]*namespace{},
		gaugeIDs:   map[string]uint16{},
	}
	s.opts.Store(&opts)
	if metrics != nil {
		metrics.bind(s)
	}
	return s
}

// SetOptions applies opts from now on, as a reloaded configuration does;
// opts.Now is ignored (the clock stays). Samples already held keep the
// staleness computed when they arrived, and pods already held stay when a
// limit shrinks: limits bound what is added.
func (s *Store) SetOptions(opts Options) {
	opts = opts.withDefaults()
	opts.Now = s.now
	s.opts.Store(&opts)
}

func (s *Store) namespace(name string, create bool) *namespace {
	ns := s.namespaces[name]
	if ns == nil && create {
		name = strings.Clone(name)
		ns = &namespace{name: name, pods: map[string]*pod{}, replicaSets: map[string]string{}}
		s.namespaces[name] = ns
	}
	return ns
}

// Ingest stores a decoded sample as its pod's latest, unless a rule refuses
// it; it returns the reason (sample.Accepted when stored). It copies what it
// keeps, so smp may alias a decoder's buffer. It does not allocate for a pod
// it already holds.
func (s *Store) Ingest(smp *sample.Sample) sample.Reason {
	r := s.ingest(smp)
	s.metrics.count(r)
	return r
}

// unresolved marks a gauge name without an ID yet.
const unresolved = ^uint16(0)

func (s *Store) ingest(smp *sample.Sample) sample.Reason {
	opts := s.opts.Load()
	nowMs := s.now().UnixMilli()
	ts := smp.Time.UnixMilli()
	if ts > nowMs+opts.MaxFuture.Milliseconds() {
		return sample.ReasonFuture
	}
	staleAt := ts + int64(opts.StaleAfter*float64(smp.Interval.Milliseconds()))
	if staleAt < nowMs {
		return sample.ReasonTooOld
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.namespace(smp.Namespace, false)
	var p *pod
	if ns != nil {
		p = ns.pods[smp.Pod]
	}
	if p != nil && p.hasSample {
		if ts < p.ts {
			return sample.ReasonOutOfOrder
		}
		if ts == p.ts && smp.Seq <= p.seq {
			return sample.ReasonDuplicate
		}
	}
	if p == nil || !p.hasSample {
		if s.series >= opts.MaxSeries || (ns != nil && ns.series >= opts.MaxSeriesPerNamespace) {
			return sample.ReasonSeriesLimit
		}
	}
	ids := s.gaugeScratch[:len(smp.Gauges)]
	unknown := 0
	for i, g := range smp.Gauges {
		id, ok := s.gaugeIDs[g.Name]
		if !ok {
			id = unresolved
			unknown++
		}
		ids[i] = id
	}
	// All or nothing: a sample refused for the limit registers none of
	// its new names (FuzzHandleMessage found that it used to register
	// those before the one over the limit).
	if unknown > 0 {
		if len(s.gaugeNames)+unknown > opts.MaxGaugeNames {
			return sample.ReasonGaugeNameLimit
		}
		for i, g := range smp.Gauges {
			if ids[i] != unresolved {
				continue
			}
			id, ok := s.gaugeIDs[g.Name]
			if !ok {
				name := strings.Clone(g.Name)
				id = uint16(len(s.gaugeNames))
				s.gaugeNames = append(s.gaugeNames, name)
				s.gaugeIDs[name] = id
			}
			ids[i] = id
		}
	}

	// Accepted: from here on nothing fails.
	if ns == nil {
		ns = s.namespace(smp.Namespace, true)
	}
	if p == nil {
		p = &pod{name: strings.Clone(smp.Pod), ns: ns}
		ns.pods[p.name] = p
	}
	if !p.hasSample {
		p.hasSample = true
		ns.series++
		s.series++
	}
	p.kind = smp.Kind
	if p.node != smp.Node {
		p.node = strings.Clone(smp.Node)
	}
	if p.region != smp.Region {
		p.region = strings.Clone(smp.Region)
	}
	p.ts, p.staleAt, p.seq, p.draining = ts, staleAt, smp.Seq, smp.Draining
	p.setGauges(ids, smp.Gauges)
	return sample.Accepted
}

// GaugeID returns the ID of a gauge name, if any sample has used it.
func (s *Store) gaugeID(name string) (uint16, bool) {
	id, ok := s.gaugeIDs[name]
	return id, ok
}

// Gauges returns the names of every gauge seen so far, in first-seen order.
// The slice must not be modified.
func (s *Store) Gauges() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gaugeNames[:len(s.gaugeNames):len(s.gaugeNames)]
}

// Sweep forgets samples that have gone stale and pods known only from a
// stale sample, so that memory follows the live fleet. Queries already
// ignore stale samples; Sweep only reclaims their space. It returns how many
// samples it evicted.
func (s *Store) Sweep() int {
	nowMs := s.now().UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	evicted := 0
	for nsName, ns := range s.namespaces {
		for name, p := range ns.pods {
			if p.hasSample && p.staleAt < nowMs {
				p.forgetSample()
				ns.series--
				s.series--
				evicted++
			}
			if !p.known && !p.hasSample {
				delete(ns.pods, name)
			}
		}
		if len(ns.pods) == 0 && len(ns.replicaSets) == 0 {
			delete(s.namespaces, nsName)
		}
	}
	s.metrics.evicted(evicted)
	return evicted
}

// Run sweeps every interval until ctx is done.
func (s *Store) Run(done <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Stats counts what the store holds.
type Stats struct {
	Series     int // pods with a sample (fresh or not yet swept)
	Fresh      int // pods with a fresh sample
	KnownPods  int // pods the cluster told us about
	Namespaces int
	GaugeNames int
}

// Stats counts what the store holds now.
func (s *Store) Stats() Stats {
	nowMs := s.now().UnixMilli()
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Series: s.series, Namespaces: len(s.namespaces), GaugeNames: len(s.gaugeNames)}
	for _, ns := range s.namespaces {
		for _, p := range ns.pods {
			if p.known {
				st.KnownPods++
			}
			if p.fresh(nowMs) {
				st.Fresh++
			}
		}
	}
	return st
}

// StaleLimit is how long a sample with the given interval stays fresh.
func (s *Store) StaleLimit(interval time.Duration) time.Duration {
	return time.Duration(s.opts.Load().StaleAfter * float64(interval))
}

var _ labels.Labels = (*pod)(nil)
