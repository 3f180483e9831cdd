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
	// MaxSeries bounds the pods the cluster knows that have a sample, in
	// all and per namespace. Defaults 200000 and 50000.
	MaxSeries             int
	MaxSeriesPerNamespace int
	// MaxUnknownSeries bounds, in all and per namespace, the pods with a
	// sample that the cluster has not reported (yet): a sidecar's first
	// sample can outrun the pod informer, but a publisher inventing pod
	// names makes only such series. Their own quota keeps a flood of them
	// from filling the one the namespace's real pods need. Defaults 10000
	// and 1000.
	MaxUnknownSeries             int
	MaxUnknownSeriesPerNamespace int
	// MaxGaugeNames bounds the distinct gauge names held at once, at most
	// GaugeNamesLimit. Default 256.
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
	if o.MaxUnknownSeries <= 0 {
		o.MaxUnknownSeries = 10000
	}
	if o.MaxUnknownSeriesPerNamespace <= 0 {
		o.MaxUnknownSeriesPerNamespace = 1000
	}
	if o.MaxGaugeNames <= 0 {
		o.MaxGaugeNames = 256
	}
	// Validate refuses more; a caller that skips it still gets IDs that
	// cannot wrap.
	o.MaxGaugeNames = min(o.MaxGaugeNames, GaugeNamesLimit)
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
	unknown    int // of them, pods the cluster has not reported
	gauges     gaugeNames
	// gaugeScratch holds a sample's gauge IDs between resolving them and
	// storing the sample, so that a rejected sample changes nothing.
	gaugeScratch [sample.MaxGauges]uint16
	// startups are the recent pods' start-up durations (startup.go).
	startups map[startupKey]*startupRing
}

type namespace struct {
	name    string
	pods    map[string]*pod
	series  int // as the store's, in this namespace
	unknown int
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

// Now is the store's clock (Options.Now), so that what feeds it rate-limits
// and times on the same one.
func (s *Store) Now() time.Time { return s.now() }

// Reject counts a sample refused before it reached Ingest (it did not
// decode, or came on another pod's subject) in the store's rejection
// counters, beside those Ingest refuses itself.
func (s *Store) Reject(r sample.Reason) {
	if r != sample.Accepted {
		s.metrics.count(r)
	}
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
	// A sample stays fresh for its limit from when it was taken, but never
	// from later than it arrived: a node whose clock runs ahead (within
	// MaxFuture) must not keep its pod's value served longer than a pod's
	// on time.
	staleAt := min(ts, nowMs) + int64(opts.StaleAfter*float64(smp.Interval.Milliseconds()))
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
	if (p == nil || !p.hasSample) && !s.roomFor(ns, p != nil && p.known, opts) {
		return sample.ReasonSeriesLimit
	}
	ids := s.gaugeScratch[:len(smp.Gauges)]
	unknown := 0
	for i, g := range smp.Gauges {
		id, ok := s.gauges.id(g.Name)
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
		if s.gauges.len()+unknown > opts.MaxGaugeNames {
			return sample.ReasonGaugeNameLimit
		}
		for i, g := range smp.Gauges {
			if ids[i] != unresolved {
				continue
			}
			id, ok := s.gauges.id(g.Name)
			if !ok {
				id = s.gauges.register(g.Name)
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
		s.countSeries(p, 1)
	}
	p.kind = smp.Kind
	if p.node != smp.Node {
		p.node = strings.Clone(smp.Node)
	}
	if p.region != smp.Region {
		p.region = strings.Clone(smp.Region)
	}
	p.ts, p.staleAt, p.seq, p.draining = ts, staleAt, smp.Seq, smp.Draining
	// Hold the new names before releasing the old: a name in both must
	// not be freed in between.
	s.gauges.hold(ids)
	s.gauges.release(p)
	s.gauges.tidy()
	p.setGauges(ids, smp.Gauges)
	return sample.Accepted
}

// roomFor reports whether ns (nil if it holds nothing yet) may take one
// more series of a pod the cluster knows, or of one it does not. s.mu must
// be held.
func (s *Store) roomFor(ns *namespace, known bool, opts *Options) bool {
	if known {
		return s.series-s.unknown < opts.MaxSeries && (ns == nil || ns.series-ns.unknown < opts.MaxSeriesPerNamespace)
	}
	return s.unknown < opts.MaxUnknownSeries && (ns == nil || ns.unknown < opts.MaxUnknownSeriesPerNamespace)
}

// countSeries adds d (1 or -1) to the series counts for p's sample.
// s.mu must be held.
func (s *Store) countSeries(p *pod, d int) {
	p.ns.series += d
	s.series += d
	if !p.known {
		p.ns.unknown += d
		s.unknown += d
	}
}

// gaugeID returns the ID of a gauge name, if a pod holds it.
func (s *Store) gaugeID(name string) (uint16, bool) { return s.gauges.id(name) }

// Gauges returns the names of every gauge a pod holds, in first-seen
// order. The slice must not be modified; it does not change after the call.
func (s *Store) Gauges() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gauges.list[:len(s.gauges.list):len(s.gauges.list)]
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
				s.countSeries(p, -1)
				p.forgetSample()
				evicted++
			}
			if !p.known && !p.hasSample {
				s.gauges.release(p)
				delete(ns.pods, name)
			}
		}
		if len(ns.pods) == 0 && len(ns.replicaSets) == 0 {
			delete(s.namespaces, nsName)
		}
	}
	s.gauges.tidy()
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
	Unknown    int // of them, pods the cluster has not reported
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
	st := Stats{Series: s.series, Unknown: s.unknown, Namespaces: len(s.namespaces), GaugeNames: s.gauges.len()}
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
