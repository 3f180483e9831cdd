package sidecar

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/sample"
)

// Config says whose load a sidecar publishes, how often and where.
type Config struct {
	// Source reads the server.
	Source Source
	// Namespace, Pod and Node name the server's pod (the downward API
	// gives them); Node and Region are optional.
	Namespace, Pod, Node, Region string
	// Addr is where a SIP proxy in front sends the server its calls
	// (host:port, the pod's IP and SIP port), published so that a Kamailio
	// sidecar's Dispatcher can take the pod's destination out of its set
	// while it drains. Optional.
	Addr string
	// Interval between polls, which is also the samples' publish interval.
	Interval time.Duration
	// SubjectPrefix of the samples. Default sample.DefaultSubjectPrefix.
	SubjectPrefix string
	// Metrics is where the self-metrics are registered; nil: nowhere.
	Metrics prometheus.Registerer
}

// failureLogEvery bounds how often an unchanged read error is logged: a
// server that is down for an hour logs a line a minute, not one a poll.
const failureLogEvery = time.Minute

// shutdownFlush bounds how long Run waits for NATS to take the last samples
// on shutdown, within the pod's termination grace period.
const shutdownFlush = 2 * time.Second

// Publisher polls a server and publishes its samples for its pod, and
// drains it on request (see Drain). Its methods are safe to call from any
// goroutine; the server is only ever asked by Run's.
type Publisher struct {
	cfg     Config
	nc      *nats.Conn
	subject string
	// gauge is the server's load: a drain ends when it reads 0.
	gauge string
	// drainer is the server's drain control, nil for a server without.
	drainer Drainer
	metrics *metrics

	// wake asks Run for a poll now, so that a drain is published and its
	// end seen without waiting for the next tick.
	wake chan struct{}
	// stopped is closed when Run returns.
	stopped chan struct{}

	// Run's own state between polls.
	seq  uint64
	buf  []byte
	fail failureLog

	mu sync.Mutex
	// polled is closed after each poll, and replaced: Drain waits on it.
	polled chan struct{}
	last   lastRead
	drain  drainState
}

// lastRead is what the latest poll found.
type lastRead struct {
	at time.Time // when it ended; zero before the first
	// err is why the server could not be read, or its reading makes no
	// sample; NATS's failures are the nats check's.
	err error
	// load is the load gauge's value, if the reading had it (hasLoad).
	load    float64
	hasLoad bool
	// afterDrain says that the poll read the server after it was put
	// in drain mode (or after the drain was marked, for a server
	// without a drain control): only such a reading can end a drain.
	afterDrain bool
}

// NewPublisher returns a Publisher of cfg on nc, which should reconnect
// forever (natsconn.Dial): samples published while it is away are buffered
// by nats.go, and the collector drops those that are stale by then. It
// refuses a config Run would not run.
func NewPublisher(nc *nats.Conn, cfg Config) (*Publisher, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = sample.DefaultSubjectPrefix
	}
	p := &Publisher{
		cfg:     cfg,
		nc:      nc,
		subject: sample.Subject(cfg.SubjectPrefix, cfg.Namespace, cfg.Source.Kind(), cfg.Pod),
		gauge:   loadGauge(cfg.Source.Kind()),
		metrics: newMetrics(cfg.Metrics, nc.IsConnected),
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
		polled:  make(chan struct{}),
	}
	p.drainer, _ = cfg.Source.(Drainer)
	return p, nil
}

// Run polls the server every interval, from now until ctx is done, and
// publishes each reading as a sample of the pod. A poll whose read fails
// publishes nothing, so that the collector lets the pod's values go stale,
// and says why in the log. When ctx is done, Run flushes what it published
// and returns nil. Run is called once.
func (p *Publisher) Run(ctx context.Context) error {
	defer close(p.stopped)
	ticker := time.NewTicker(p.cfg.Interval)
	defer ticker.Stop()
	for {
		p.step(ctx)
		select {
		case <-ctx.Done():
			p.flush()
			return nil
		case <-ticker.C:
		case <-p.wake:
			// Keep the samples an interval apart from this one on.
			ticker.Reset(p.cfg.Interval)
		}
	}
}

// flush hands NATS what was published, if it is connected. While it is
// not, nothing can be flushed: waiting would only end in "nats: timeout"
// and hold the pod's termination up for nothing.
func (p *Publisher) flush() {
	if !p.nc.IsConnected() {
		klog.InfoS("Not connected to NATS at shutdown; the samples published since the connection went away are not delivered", "status", p.nc.Status().String())
		return
	}
	if err := p.nc.FlushTimeout(shutdownFlush); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		klog.InfoS("Could not flush the last samples to NATS", "err", err)
	}
}

// Check reports the first setting Run would refuse.
func (c *Config) Check() error {
	switch {
	case c.Source == nil:
		return errors.New("no source")
	case !sample.IsDNSLabel(c.Namespace):
		return fmt.Errorf("namespace %q is not a DNS label (set --namespace or POD_NAMESPACE)", c.Namespace)
	case !sample.IsDNSLabel(c.Pod):
		return fmt.Errorf("pod name %q is not a DNS label (set --pod or POD_NAME)", c.Pod)
	case c.Node != "" && !sample.IsDNSSubdomain(c.Node):
		return fmt.Errorf("node name %q is not a DNS subdomain", c.Node)
	case c.Region != "" && !sample.IsLabelValue(c.Region):
		return fmt.Errorf("region %q is not a label value", c.Region)
	case c.Addr != "" && !sample.ValidAddr(c.Addr):
		return fmt.Errorf("SIP address %q is not host:port (an IP address, [IPv6] or a DNS name, and a port)", c.Addr)
	case c.Interval < sample.MinInterval || c.Interval > sample.MaxInterval:
		return fmt.Errorf("interval %s is outside %s..%s", c.Interval, sample.MinInterval, sample.MaxInterval)
	}
	return nil
}

// step puts the server in drain mode if that is asked and not done yet,
// then polls it, and tells Drain what it read.
func (p *Publisher) step(ctx context.Context) {
	draining, afterDrain := p.drainServer(ctx)
	// A step must end before the next is due, so a hung server delays
	// nothing and its pod goes stale.
	rctx, cancel := context.WithTimeout(ctx, p.cfg.Interval)
	r, err := p.cfg.Source.Read(rctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	var s sample.Sample
	if err != nil {
		p.metrics.reads[readFailure(err)].Inc()
	} else if s, err = p.sample(r, draining); err != nil {
		p.metrics.reads[readInvalidSample].Inc()
	} else {
		p.metrics.reads["ok"].Inc()
		p.metrics.lastRead.Set(float64(s.Time.UnixNano()) / 1e9)
	}
	read := lastRead{at: time.Now(), err: err, afterDrain: afterDrain}
	if err == nil {
		read.load, read.hasLoad = s.Gauge(p.gauge)
	}
	// Readiness follows the read at once; a Drain under way is woken only
	// once the sample is out, so that the sample of an empty server is
	// published before the drain ends.
	p.mu.Lock()
	p.last = read
	p.mu.Unlock()
	if err == nil {
		err = p.send(&s)
	}
	if err != nil {
		p.fail.failed(err, p.subject)
	} else {
		p.fail.recovered(p.subject)
	}
	p.mu.Lock()
	close(p.polled)
	p.polled = make(chan struct{})
	p.mu.Unlock()
}

// sample makes a reading the pod's next sample.
func (p *Publisher) sample(r Reading, draining bool) (sample.Sample, error) {
	s := sample.Sample{
		Kind:      p.cfg.Source.Kind(),
		Namespace: p.cfg.Namespace,
		Pod:       p.cfg.Pod,
		Node:      p.cfg.Node,
		Region:    p.cfg.Region,
		Addr:      p.cfg.Addr,
		Time:      time.Now(),
		Seq:       p.seq,
		Interval:  p.cfg.Interval,
		Draining:  r.Draining || draining,
		Gauges:    r.Gauges,
	}
	if err := s.Validate(); err != nil {
		return sample.Sample{}, fmt.Errorf("the server's reading makes no valid sample: %w", err)
	}
	return s, nil
}

// send publishes a sample, counting it.
func (p *Publisher) send(s *sample.Sample) error {
	p.buf = s.AppendJSON(p.buf[:0])
	if err := p.nc.Publish(p.subject, p.buf); err != nil {
		p.metrics.publishErrors.Inc()
		return fmt.Errorf("publishing to NATS: %w", err)
	}
	p.metrics.published.Inc()
	p.seq++
	return nil
}

// failureLog logs failed polls: the first of a run, any with a new error,
// and then one a minute.
type failureLog struct {
	failing    bool
	lastErr    string
	lastLog    time.Time
	suppressed int
}

// failed logs a failed poll at error level: the pod's load is going stale,
// which the HPA sees as a missing metric.
func (f *failureLog) failed(err error, subject string) {
	msg := err.Error()
	now := time.Now()
	if f.failing && msg == f.lastErr && now.Sub(f.lastLog) < failureLogEvery {
		f.suppressed++
		return
	}
	klog.ErrorS(err, "Not publishing: the server could not be read; its load goes stale in the collector", "subject", subject, "failedPollsNotLogged", f.suppressed)
	f.failing, f.lastErr, f.lastLog, f.suppressed = true, msg, now, 0
}

// recovered logs the first good poll after failed ones.
func (f *failureLog) recovered(subject string) {
	if f.failing {
		klog.InfoS("Reading the server again; publishing", "subject", subject, "failedPollsNotLogged", f.suppressed)
		*f = failureLog{}
	}
}

// Ready is the readiness check of the server: it fails until a poll has
// read the server, and while the latest could not.
func (p *Publisher) Ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.last.at.IsZero():
		return errors.New("the server has not been read yet")
	case p.last.err != nil:
		return fmt.Errorf("the latest read (%s ago) failed: %w", time.Since(p.last.at).Round(time.Millisecond), p.last.err)
	}
	return nil
}
