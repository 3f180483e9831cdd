package sidecar

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
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
	// Interval between polls, which is also the samples' publish interval.
	Interval time.Duration
	// SubjectPrefix of the samples. Default sample.DefaultSubjectPrefix.
	SubjectPrefix string
}

// failureLogEvery bounds how often an unchanged read error is logged: a
// server that is down for an hour logs a line a minute, not one a poll.
const failureLogEvery = time.Minute

// shutdownFlush bounds how long Run waits for NATS to take the last samples
// on shutdown, within the pod's termination grace period.
const shutdownFlush = 2 * time.Second

// Run polls cfg.Source every cfg.Interval, from now until ctx is done, and
// publishes each reading on nc as a sample of the pod. A poll whose read
// fails publishes nothing, so that the collector lets the pod's values go
// stale, and says why in the log. nc should reconnect forever
// (collector.Dial); samples published while it is away are buffered by
// nats.go and the collector drops those that are stale by then. When ctx
// is done, Run flushes what it published and returns nil.
func Run(ctx context.Context, nc *nats.Conn, cfg Config) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = sample.DefaultSubjectPrefix
	}
	p := poller{cfg: cfg, nc: nc, subject: sample.Subject(cfg.SubjectPrefix, cfg.Namespace, cfg.Source.Kind(), cfg.Pod)}
	ticker := time.NewTicker(cfg.Interval)
	defer ticker.Stop()
	for {
		p.poll(ctx)
		select {
		case <-ctx.Done():
			if err := nc.FlushTimeout(shutdownFlush); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				klog.InfoS("Could not flush the last samples to NATS", "err", err)
			}
			return nil
		case <-ticker.C:
		}
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
	case c.Interval < sample.MinInterval || c.Interval > sample.MaxInterval:
		return fmt.Errorf("interval %s is outside %s..%s", c.Interval, sample.MinInterval, sample.MaxInterval)
	}
	return nil
}

// poller is Run's state between polls.
type poller struct {
	cfg     Config
	nc      *nats.Conn
	subject string
	seq     uint64
	buf     []byte

	// Read failures, for the rate-limited log.
	failing    bool
	lastErr    string
	lastLog    time.Time
	suppressed int
}

func (p *poller) poll(ctx context.Context) {
	// A poll must end before the next is due, so a hung server delays
	// nothing and its pod goes stale.
	rctx, cancel := context.WithTimeout(ctx, p.cfg.Interval)
	r, err := p.cfg.Source.Read(rctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		p.failed(err)
		return
	}
	s := sample.Sample{
		Kind:      p.cfg.Source.Kind(),
		Namespace: p.cfg.Namespace,
		Pod:       p.cfg.Pod,
		Node:      p.cfg.Node,
		Region:    p.cfg.Region,
		Time:      time.Now(),
		Seq:       p.seq,
		Interval:  p.cfg.Interval,
		Draining:  r.Draining,
		Gauges:    r.Gauges,
	}
	if err := s.Validate(); err != nil {
		p.failed(fmt.Errorf("the server's reading makes no valid sample: %w", err))
		return
	}
	p.buf = s.AppendJSON(p.buf[:0])
	if err := p.nc.Publish(p.subject, p.buf); err != nil {
		p.failed(fmt.Errorf("publishing to NATS: %w", err))
		return
	}
	p.seq++
	if p.failing {
		klog.InfoS("Reading the server again; publishing", "subject", p.subject, "failedPollsNotLogged", p.suppressed)
		p.failing, p.lastErr, p.suppressed = false, "", 0
	}
}

// failed logs a failed poll: the first of a run, any with a new error, and
// then one a minute.
func (p *poller) failed(err error) {
	msg := err.Error()
	now := time.Now()
	if p.failing && msg == p.lastErr && now.Sub(p.lastLog) < failureLogEvery {
		p.suppressed++
		return
	}
	klog.InfoS("Not publishing: the server could not be read; its load goes stale in the collector", "err", msg, "subject", p.subject, "failedPollsNotLogged", p.suppressed)
	p.failing, p.lastErr, p.lastLog, p.suppressed = true, msg, now, 0
}
