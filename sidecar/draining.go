package sidecar

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/sample"
)

// loadGauge returns the gauge that says whether a server of kind k still
// carries anything that a stop would cut: a bridge's local participants,
// every other server's calls (an rtpengine's are its own sessions).
func loadGauge(k sample.Kind) string {
	if k == sample.KindJVB {
		return sample.GaugeParticipants
	}
	return sample.GaugeCalls
}

// drainState is where a drain stands; the zero value is no drain.
type drainState struct {
	// since is when a drain was first asked for.
	since time.Time
	// tried says that Run has asked the server (or found it has no drain
	// control) since; accepted that the server took drain mode, and err
	// why it last did not.
	tried, accepted bool
	err             error
}

// drainServer is Run's part of a drain: it puts the server in drain mode
// through its Drainer, once, retrying at each poll until the server
// accepts. It returns whether a drain is under way (the sample says
// draining) and whether the server has been asked, so that this poll's
// reading can end the drain.
func (p *Publisher) drainServer(ctx context.Context) (draining, tried bool) {
	p.mu.Lock()
	d := p.drain
	p.mu.Unlock()
	switch {
	case d.since.IsZero():
		return false, false
	case d.accepted:
		return true, true
	}
	var err error
	if p.drainer != nil {
		// Bounded like a read, so that the samples keep flowing.
		dctx, cancel := context.WithTimeout(ctx, p.cfg.Interval)
		err = p.drainer.Drain(dctx)
		cancel()
		if ctx.Err() != nil {
			return true, false
		}
	}
	switch {
	case err != nil && (d.err == nil || d.err.Error() != err.Error()):
		// A server that refuses keeps taking new calls, so the drain may
		// only end at its deadline; the dispatcher in front (which reads
		// draining) may still empty it.
		klog.ErrorS(err, "The server did not take drain mode; retrying at every poll", "subject", p.subject)
	case err == nil && p.drainer != nil:
		klog.InfoS("The server took drain mode; waiting for it to empty", "subject", p.subject, "gauge", p.gauge)
	}
	p.mu.Lock()
	p.drain.tried, p.drain.accepted, p.drain.err = true, err == nil, err
	p.mu.Unlock()
	return true, true
}

// errStopped ends a drain when Run has returned: nothing reads the server
// any more.
var errStopped = errors.New("the sidecar is stopping")

// Drain drains the server and waits until it is empty. From the first call
// on, every sample the Publisher publishes says draining; Run puts the
// server in drain mode if its Source is a Drainer (a server without a
// drain control, such as a Kamailio proxy, is drained by whoever reads
// draining: the dispatcher in front of it); then Drain returns nil once a
// reading taken after that has the load gauge at 0. It returns an error
// when ctx is done first or Run returns; the drain itself goes on (a pod
// is not undrained), so a later call waits for the same drain. The status
// says where the drain stands either way.
func (p *Publisher) Drain(ctx context.Context) (DrainStatus, error) {
	p.mu.Lock()
	if p.drain.since.IsZero() {
		p.drain.since = time.Now()
		p.metrics.draining.Set(1)
		klog.InfoS("Draining: every sample says so from now on", "subject", p.subject, "drainControl", p.drainer != nil, "gauge", p.gauge)
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default: // a poll is asked for already
	}
	for {
		p.mu.Lock()
		st := p.statusLocked()
		polled := p.polled
		p.mu.Unlock()
		if st.Drained {
			return st, nil
		}
		select {
		case <-polled:
		case <-ctx.Done():
			return st, ctx.Err()
		case <-p.stopped:
			return st, errStopped
		}
	}
}

// DrainStatus is where a drain stands.
type DrainStatus struct {
	// Since is when the drain was first asked for.
	Since time.Time
	// Control says whether the server has a drain control (its Source is
	// a Drainer); Asked whether the sidecar has used it (or found none)
	// since the request, Accepted whether the server took drain mode, and
	// ServerErr why it last did not.
	Control, Asked, Accepted bool
	ServerErr                error
	// Gauge is the load gauge. Load is its value in the latest reading
	// taken after the server was asked (Read), and ReadErr why the
	// latest poll could not read the server.
	Gauge   string
	Load    float64
	Read    bool
	ReadErr error
	// Drained: that reading found no load.
	Drained bool
}

func (p *Publisher) statusLocked() DrainStatus {
	st := DrainStatus{
		Since: p.drain.since, Control: p.drainer != nil,
		Asked: p.drain.tried, Accepted: p.drain.accepted, ServerErr: p.drain.err,
		Gauge: p.gauge, ReadErr: p.last.err,
	}
	if p.last.afterDrain && p.last.err == nil && p.last.hasLoad {
		st.Load, st.Read = p.last.load, true
		st.Drained = p.last.load == 0
	}
	return st
}

// String says where the drain stands in a line, for the drain command and
// the log.
func (s DrainStatus) String() string {
	var load string
	switch {
	case s.Drained:
		load = fmt.Sprintf("drained: %s is 0", s.Gauge)
	case s.ReadErr != nil:
		load = fmt.Sprintf("%s unknown: the server could not be read: %v", s.Gauge, s.ReadErr)
	case s.Read:
		load = fmt.Sprintf("%s is %v", s.Gauge, s.Load)
	default:
		load = fmt.Sprintf("%s not read since the drain began", s.Gauge)
	}
	var server string
	switch {
	case !s.Control:
		server = "the server has no drain control; only the samples say draining"
	case s.Accepted:
		server = "the server took drain mode"
	case !s.Asked:
		server = "the server has not been asked yet"
	default:
		server = fmt.Sprintf("the server did not take drain mode: %v", s.ServerErr)
	}
	return fmt.Sprintf("%s (draining for %s; %s)", load, time.Since(s.Since).Round(time.Millisecond), server)
}
