package framework

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/rtcscale/rtcscale/sample"
)

// StartNATS runs a NATS server in this process on a free loopback port,
// with JetStream storing in jetStreamDir unless it is empty.
func StartNATS(jetStreamDir string) (*server.Server, error) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: jetStreamDir != "", StoreDir: jetStreamDir})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("NATS server did not start")
	}
	return ns, nil
}

// Sidecars stand in for the rtcscale sidecar of every Ready pod of one
// workload: each interval they publish one sample per pod on NATS, in the
// project's wire format, sharing a total load evenly between the pods (as a
// load balancer spreads calls over the ready servers).
type Sidecars struct {
	nc       *nats.Conn
	prefix   string
	ns       string
	selector labels.Selector
	kind     sample.Kind
	region   string
	interval time.Duration
	pods     corelisters.PodLister

	mu     sync.Mutex
	total  float64
	loads  map[string]float64 // by pod name, overriding the even share
	paused bool
	err    error // why publishing stopped
	seq    map[string]uint64
	buf    []byte
}

// SidecarOptions describe the published samples.
type SidecarOptions struct {
	Prefix   string        // subject prefix (default sample.DefaultSubjectPrefix)
	Kind     sample.Kind   // default sample.KindAsterisk
	Region   string        // optional region label
	Interval time.Duration // publish interval (default 1s)
}

// StartSidecars publishes for the pods of namespace ns that match selector
// until ctx ends. The load starts at 0.
func StartSidecars(ctx context.Context, client kubernetes.Interface, nc *nats.Conn, ns string, selector labels.Selector, opts SidecarOptions) (*Sidecars, error) {
	if opts.Prefix == "" {
		opts.Prefix = sample.DefaultSubjectPrefix
	}
	if opts.Kind == sample.KindUnknown {
		opts.Kind = sample.KindAsterisk
	}
	if opts.Interval == 0 {
		opts.Interval = time.Second
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	s := &Sidecars{
		nc: nc, prefix: opts.Prefix, ns: ns, selector: selector, kind: opts.Kind, region: opts.Region,
		interval: opts.Interval, pods: factory.Core().V1().Pods().Lister(), seq: map[string]uint64{},
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("sidecars: %v informer did not sync", typ)
		}
	}
	go func() {
		defer factory.Shutdown()
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			if err := s.publish(time.Now()); err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s, nil
}

// Err returns why the sidecars stopped publishing before their context
// ended, if they did.
func (s *Sidecars) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// SetLoad sets the total load (the "calls" gauge summed over the pods).
func (s *Sidecars) SetLoad(total float64) {
	s.mu.Lock()
	s.total = total
	s.mu.Unlock()
}

// SetPodLoads gives the named pods their own load (the "calls" gauge)
// instead of an even share of the total, as when calls are long-lived and
// pods have taken different numbers of them.
func (s *Sidecars) SetPodLoads(loads map[string]float64) {
	s.mu.Lock()
	s.loads = loads
	s.mu.Unlock()
}

// Pause stops publishing, as if every sidecar (or NATS) were down; Resume
// starts again.
func (s *Sidecars) Pause()  { s.setPaused(true) }
func (s *Sidecars) Resume() { s.setPaused(false) }

func (s *Sidecars) setPaused(p bool) {
	s.mu.Lock()
	s.paused = p
	s.mu.Unlock()
}

// ReadyPods lists the pods the sidecars publish for.
func (s *Sidecars) ReadyPods() ([]*corev1.Pod, error) {
	pods, err := s.pods.Pods(s.ns).List(s.selector)
	if err != nil {
		return nil, err
	}
	ready := pods[:0]
	for _, p := range pods {
		if p.DeletionTimestamp == nil && podReady(p) {
			ready = append(ready, p)
		}
	}
	return ready, nil
}

func (s *Sidecars) publish(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused {
		return nil
	}
	pods, err := s.ReadyPods()
	if err != nil || len(pods) == 0 {
		return err
	}
	each := s.total / float64(len(pods))
	for _, p := range pods {
		v, own := s.loads[p.Name]
		if !own {
			v = each
		}
		smp := sample.Sample{
			Kind: s.kind, Namespace: s.ns, Pod: p.Name, Node: p.Spec.NodeName, Region: s.region,
			Time: now, Seq: s.seq[p.Name], Interval: s.interval,
			Gauges: []sample.Gauge{{Name: sample.GaugeCalls, Value: v}},
		}
		s.seq[p.Name]++
		if err := Publish(s.nc, s.prefix, &smp, &s.buf); err != nil {
			return err
		}
	}
	return nil
}

// Publish validates and sends one sample, encoding it into *buf.
func Publish(nc *nats.Conn, prefix string, smp *sample.Sample, buf *[]byte) error {
	if err := smp.Validate(); err != nil {
		return err
	}
	*buf = smp.AppendJSON((*buf)[:0])
	return nc.Publish(smp.Subject(prefix), *buf)
}
