// Package ingest feeds the collector's store from NATS: the subscription
// to the sidecars' samples, their decoding and the checks a store cannot
// make (a sample on its own pod's subject), the warm restart from
// JetStream, and the NATS connection's self-metrics.
package ingest

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/sample"
)

// rejectLogEvery bounds how often one rejection reason is logged, so that a
// flood of bad samples costs a counter increment each, not a log line.
const rejectLogEvery = 10 * time.Second

// Subscriber feeds a Store from the samples published under a subject
// prefix. NATS delivers one subscription's messages on one goroutine, so the
// decoder and its scratch sample are reused without locks.
type Subscriber struct {
	store   *collector.Store
	prefix  string
	metrics *Metrics
	sub     *nats.Subscription
	// subscribed is set once Start has subscribed; readiness reads it.
	subscribed atomic.Bool

	dec        sample.Decoder
	smp        sample.Sample
	lastLog    [sample.NumReasons]time.Time
	suppressed [sample.NumReasons]int
	now        func() time.Time // the store's clock, so tests control the rate limit
}

// NewSubscriber returns a Subscriber that stores samples published under
// prefix; Start subscribes it. HandleMessage can be called directly too.
// metrics may be nil.
func NewSubscriber(store *collector.Store, prefix string, metrics *Metrics) *Subscriber {
	return &Subscriber{store: store, prefix: prefix, metrics: metrics, now: store.Now}
}

// Start subscribes to prefix.> on nc. The subscription survives
// reconnections (nats.go resubscribes).
func (s *Subscriber) Start(nc *nats.Conn) error {
	sub, err := nc.Subscribe(s.prefix+".>", func(m *nats.Msg) { s.HandleMessage(m.Subject, m.Data) })
	if err != nil {
		return fmt.Errorf("subscribing to %s.>: %w", s.prefix, err)
	}
	// A burst (every sidecar reconnecting at once) must queue, not drop:
	// allow a million messages or 256 MiB before NATS calls us slow.
	if err := sub.SetPendingLimits(1<<20, 256<<20); err != nil {
		return err
	}
	// Ready promises that a sample published from now on is delivered:
	// wait until the server has the subscription. A connection not yet
	// up (nats.RetryOnFailedConnect) sends it when it connects.
	if nc.IsConnected() {
		if err := nc.Flush(); err != nil {
			return fmt.Errorf("subscribing to %s.>: %w", s.prefix, err)
		}
	}
	s.sub = sub
	s.metrics.watch(sub)
	s.subscribed.Store(true)
	return nil
}

// Ready is a readiness check: it fails until Start has subscribed, so that
// an adapter still loading its warm start is not sent queries.
func (s *Subscriber) Ready() error {
	if !s.subscribed.Load() {
		return fmt.Errorf("not subscribed to %s.> yet (loading the last sample of every pod)", s.prefix)
	}
	return nil
}

// Stop unsubscribes, letting queued messages drain first.
func (s *Subscriber) Stop() error {
	if s.sub == nil {
		return nil
	}
	return s.sub.Drain()
}

// HandleMessage decodes one message and stores it, or counts why not. A
// sample must be published on its own pod's subject: NATS permissions scope
// a sidecar to its subjects, so a body naming another pod is refused.
func (s *Subscriber) HandleMessage(subject string, data []byte) sample.Reason {
	r := s.dec.Decode(data, &s.smp)
	if r == sample.Accepted && !s.smp.MatchesSubject(s.prefix, subject) {
		r = sample.ReasonSubjectMismatch
	}
	if r == sample.Accepted {
		r = s.store.Ingest(&s.smp)
	} else {
		s.store.Reject(r)
	}
	if r != sample.Accepted {
		s.logRejection(r, subject)
	}
	return r
}

func (s *Subscriber) logRejection(r sample.Reason, subject string) {
	now := s.now()
	if now.Sub(s.lastLog[r]) < rejectLogEvery {
		s.suppressed[r]++
		return
	}
	klog.InfoS("Rejected load sample", "reason", r.String(), "why", r.Description(), "subject", subject, "alsoRejectedSinceLastLog", s.suppressed[r])
	s.lastLog[r], s.suppressed[r] = now, 0
}
