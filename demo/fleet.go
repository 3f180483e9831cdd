// Package demo runs rtcscale on one machine with nothing else: an embedded
// NATS server, a simulated fleet of RTC pods whose sidecars publish
// realistic load, and the metrics APIs served on localhost.
package demo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/sample"
)

// Workload is one simulated fleet: a controller with pods of one RTC server.
type Workload struct {
	Namespace, Name string
	// Controller is "Deployment", "StatefulSet" or "DaemonSet".
	Controller string
	Server     sample.Kind
	Pods       int
	Region     string
	// Peak is each pod's load at the busiest hour, in the server's main
	// unit (calls, or participants for JVB).
	Peak float64
}

// DefaultFleet is the demo's fleet: a voice platform (Kamailio in front of
// Asterisk and rtpengine) and a conferencing one (Jitsi Videobridge).
var DefaultFleet = []Workload{
	{Namespace: "voice", Name: "asterisk", Controller: "Deployment", Server: sample.KindAsterisk, Pods: 4, Region: "eu-west", Peak: 90},
	{Namespace: "voice", Name: "kamailio", Controller: "StatefulSet", Server: sample.KindKamailio, Pods: 2, Region: "eu-west", Peak: 180},
	{Namespace: "voice", Name: "rtpengine", Controller: "DaemonSet", Server: sample.KindRTPEngine, Pods: 3, Region: "eu-west", Peak: 120},
	{Namespace: "meet", Name: "jvb", Controller: "Deployment", Server: sample.KindJVB, Pods: 3, Region: "us-east", Peak: 150},
}

// Shape is the share of the daily peak at a time of day: a night trough at
// a quarter of the peak, a morning rush at 10:00 and an afternoon one at
// 15:00 (rush hour about 4x the night).
func Shape(timeOfDay time.Duration) float64 {
	h := timeOfDay.Hours()
	bump := func(center, width float64) float64 { return math.Exp(-0.5 * math.Pow((h-center)/width, 2)) }
	return math.Min(1, 0.25+0.75*math.Max(bump(10, 2), 0.9*bump(15, 2.5)))
}

// pod is one simulated pod.
type pod struct {
	w      *Workload
	name   string
	node   string
	share  float64 // this pod's part of the workload's load, around 1
	seq    uint64
	rng    *rand.Rand
	buf    []byte
	sample sample.Sample
}

// Fleet simulates sidecars publishing load samples.
type Fleet struct {
	pods     []*pod
	prefix   string
	interval time.Duration
}

// NewFleet builds the pods of workloads.
func NewFleet(workloads []Workload, prefix string, interval time.Duration, seed uint64) *Fleet {
	f := &Fleet{prefix: prefix, interval: interval}
	for i := range workloads {
		w := &workloads[i]
		for j := 0; j < w.Pods; j++ {
			rng := rand.New(rand.NewPCG(seed, uint64(len(f.pods))))
			name := fmt.Sprintf("%s-%d", w.Name, j)
			if w.Controller != "StatefulSet" {
				name = fmt.Sprintf("%s-%s-%s", w.Name, "6f9c8d7b5", suffix(rng))
			}
			f.pods = append(f.pods, &pod{w: w, name: name, node: fmt.Sprintf("node-%d", j%3), share: 0.8 + 0.4*rng.Float64(), rng: rng})
		}
	}
	return f
}

func suffix(rng *rand.Rand) string {
	const letters = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return string(b)
}

// Pods is how many pods the fleet simulates.
func (f *Fleet) Pods() int { return len(f.pods) }

// Register creates the fleet's workloads and pods in a cluster (the demo's
// in-memory one), Ready, so that the collector's informers see them as
// they would real pods.
func (f *Fleet) Register(ctx context.Context, client kubernetes.Interface) error {
	created := map[string]bool{}
	create := func(key string, fn func() error) error {
		if created[key] {
			return nil
		}
		created[key] = true
		return fn()
	}
	for _, p := range f.pods {
		w := p.w
		err := create("ns/"+w.Namespace, func() error {
			_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.Namespace}}, metav1.CreateOptions{})
			return err
		})
		if err != nil {
			return err
		}
		owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: w.Controller, Name: w.Name, UID: types.UID(w.Namespace + "-" + w.Name), Controller: ptr(true)}
		if w.Controller == "Deployment" {
			rsName := w.Name + "-6f9c8d7b5"
			rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: rsName, OwnerReferences: []metav1.OwnerReference{owner}}}
			err := create("rs/"+w.Namespace+"/"+rsName, func() error {
				_, err := client.AppsV1().ReplicaSets(w.Namespace).Create(ctx, rs, metav1.CreateOptions{})
				return err
			})
			if err != nil {
				return err
			}
			owner = metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rsName, UID: types.UID(w.Namespace + "-" + rsName), Controller: ptr(true)}
		}
		now := metav1.Now()
		pd := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: p.name, Labels: map[string]string{"app": w.Name}, OwnerReferences: []metav1.OwnerReference{owner}, CreationTimestamp: now},
			Spec:       corev1.PodSpec{NodeName: p.node},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			}},
		}
		if _, err := client.CoreV1().Pods(w.Namespace).Create(ctx, pd, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// Publish sends one sample of every pod, observed at t, at the load of
// clock's time of day.
func (f *Fleet) Publish(nc *nats.Conn, clock Clock, t time.Time) error {
	level := Shape(clock.TimeOfDay(t))
	for _, p := range f.pods {
		p.fill(t, level, f.interval)
		p.buf = p.sample.AppendJSON(p.buf[:0])
		if err := nc.Publish(p.sample.Subject(f.prefix), p.buf); err != nil {
			return err
		}
	}
	return nil
}

// Run publishes every interval until ctx is done.
func (f *Fleet) Run(ctx context.Context, nc *nats.Conn, clock Clock) error {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		if err := f.Publish(nc, clock, time.Now()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// fill computes a pod's gauges at the fleet's load level, in the units the
// real servers' sidecars publish.
func (p *pod) fill(t time.Time, level float64, interval time.Duration) {
	w := p.w
	load := p.load(level)
	s := &p.sample
	*s = sample.Sample{Kind: w.Server, Namespace: w.Namespace, Pod: p.name, Node: p.node, Region: w.Region,
		Time: t, Seq: p.seq, Interval: interval, Gauges: s.Gauges[:0]}
	p.seq++
	const legBitrate = 80e3 // G.711 at 20 ms, one direction, bit/s
	switch w.Server {
	case sample.KindJVB:
		conferences := math.Ceil(load / 6)
		s.Gauges = append(s.Gauges,
			sample.Gauge{Name: sample.GaugeParticipants, Value: load},
			sample.Gauge{Name: sample.GaugeConferences, Value: conferences},
			sample.Gauge{Name: sample.GaugeBitrateIn, Value: load * 1.2e6},
			sample.Gauge{Name: sample.GaugeBitrateOut, Value: load * 2.5e6},
			sample.Gauge{Name: sample.GaugeStress, Value: math.Round(load/180*1000) / 1000})
	case sample.KindKamailio:
		s.Gauges = append(s.Gauges, sample.Gauge{Name: sample.GaugeCalls, Value: load})
	default:
		s.Gauges = append(s.Gauges,
			sample.Gauge{Name: sample.GaugeCalls, Value: load},
			sample.Gauge{Name: sample.GaugeChannels, Value: 2 * load},
			sample.Gauge{Name: sample.GaugeBitrateIn, Value: 2 * load * legBitrate},
			sample.Gauge{Name: sample.GaugeBitrateOut, Value: 2 * load * legBitrate})
	}
}

// load is the pod's load at the fleet's load level, in its server's main
// unit, with 5% noise.
func (p *pod) load(level float64) float64 {
	return math.Round(math.Max(0, p.w.Peak*level*p.share*(1+0.05*p.rng.NormFloat64())))
}

// unit is the gauge that carries a workload's load (Peak's unit).
func (w *Workload) unit() string {
	if w.Server == sample.KindJVB {
		return sample.GaugeParticipants
	}
	return sample.GaugeCalls
}

// Backfill writes into st the history the demo's forecasts would have
// recorded over the simulated times [from, to), a value every step: each
// workload's sum over its pods of the load on the fleet's curve, with the
// pods' noise, in the gauge that carries it, if it is one of gauges. The
// workloads are written concurrently: JetStream confirms each value, and
// days of minutes take seconds.
func (f *Fleet) Backfill(ctx context.Context, st *predictor.Store, gauges []string, from, to time.Time, step time.Duration) error {
	byWorkload := map[*Workload][]*pod{}
	for _, p := range f.pods {
		if slices.Contains(gauges, p.w.unit()) {
			byWorkload[p.w] = append(byWorkload[p.w], p)
		}
	}
	errs := make(chan error, len(byWorkload))
	for w, pods := range byWorkload {
		key := predictor.SeriesKey(w.Namespace, collector.Workload{Kind: collector.ParseWorkloadKind(w.Controller), Name: w.Name}, w.unit())
		go func() {
			for t := from; t.Before(to); t = t.Add(step) {
				level := Shape(timeOfDay(t))
				sum := 0.0
				for _, p := range pods {
					sum += p.load(level)
				}
				if err := st.Append(ctx, key, step, t, sum); err != nil {
					errs <- fmt.Errorf("writing the history of %s: %w", key, err)
					return
				}
			}
			errs <- nil
		}()
	}
	var err error
	for range byWorkload {
		err = errors.Join(err, <-errs)
	}
	return err
}

func ptr[T any](v T) *T { return &v }
