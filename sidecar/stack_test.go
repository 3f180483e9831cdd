package sidecar_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/server"
	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

// waitLimit bounds every wait of the end-to-end tests: long enough for a
// busy shared machine, and each wait ends as soon as its event happens.
const waitLimit = 60 * time.Second

// stack is rtcscale's receiving side on loopback: an in-process NATS
// server, the collector's store and subscriber, and the metrics API.
type stack struct {
	t       testing.TB
	natsURL string
	api     string
	// samples receives every sample published under the default prefix,
	// decoded, in order.
	samples chan sample.Sample
}

func startStack(t testing.TB, namespace, pod string) *stack {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}

	// rtcscale's adapter as `rtcscale demo` runs it, over client-go's
	// in-memory cluster holding the pod, known and Ready.
	now := metav1.Now()
	client := fake.NewClientset(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: pod, CreationTimestamp: now},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, done, err := server.Config{
		SubjectPrefix: sample.DefaultSubjectPrefix, Client: client,
		NATS: natsconn.Options{URL: ns.ClientURL(), Name: "collector"}, MetricsAddress: "127.0.0.1:0",
	}.StartLocal(ctx, ln)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the adapter stopped with %v", err)
		}
	})
	api := "http://" + ln.Addr().String()

	s := &stack{t: t, natsURL: ns.ClientURL(), api: api, samples: make(chan sample.Sample, 1024)}
	tc := dial(t, ns.ClientURL(), "test")
	var dec sample.Decoder
	_, err = tc.Subscribe(sample.DefaultSubjectPrefix+".>", func(m *nats.Msg) {
		var smp sample.Sample
		if r := dec.Decode(m.Data, &smp); r != sample.Accepted {
			t.Errorf("sidecar published a sample the collector rejects (%s): %s", r.Description(), m.Data)
			return
		}
		smp.Namespace, smp.Pod, smp.Node, smp.Region = strings.Clone(smp.Namespace), strings.Clone(smp.Pod), strings.Clone(smp.Node), strings.Clone(smp.Region)
		smp.Gauges = append([]sample.Gauge(nil), smp.Gauges...)
		for i := range smp.Gauges {
			smp.Gauges[i].Name = strings.Clone(smp.Gauges[i].Name)
		}
		// Keep the newest: a wait only looks forward from its start.
		for {
			select {
			case s.samples <- smp:
				return
			default:
				select {
				case <-s.samples:
				default:
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.Flush(); err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(t testing.TB, url, name string) *nats.Conn {
	t.Helper()
	nc, err := natsconn.Dial(natsconn.Options{URL: url, Name: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// runSidecar runs a Publisher in-process until the test ends, and checks
// that it then returns cleanly.
func (s *stack) runSidecar(cfg sidecar.Config) *sidecar.Publisher {
	nc := dial(s.t, s.natsURL, "sidecar")
	p, err := sidecar.NewPublisher(nc, cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	s.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			s.t.Errorf("Publisher.Run: %v", err)
		}
	})
	return p
}

// startSidecar runs a sidecar reading a server of kind, as cfg says, and
// waits until the metrics API serves the pod's calls (none yet).
func (s *stack) startSidecar(kind sample.Kind, opts sidecar.Options, cfg sidecar.Config) {
	s.t.Helper()
	src, err := sidecar.New(kind, opts)
	if err != nil {
		s.t.Fatal(err)
	}
	cfg.Source = src
	s.runSidecar(cfg)
	s.waitPodValue(cfg.Namespace, cfg.Pod, sample.GaugeCalls, 0, true)
}

// nextSampleAfter returns the first sample observed at or after t0.
func (s *stack) nextSampleAfter(t0 time.Time) sample.Sample {
	s.t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case smp := <-s.samples:
			if !smp.Time.Before(t0) {
				return smp
			}
		case <-deadline:
			s.t.Fatalf("no sample observed after %s within %s", t0.Format(time.RFC3339Nano), waitLimit)
		}
	}
}

// pollAfter returns the sample of the first poll that started at or after
// t0: the second sample seen from t0 on, since the first may come from a
// poll already under way.
func (s *stack) pollAfter(t0 time.Time) sample.Sample {
	s.t.Helper()
	return s.nextSampleAfter(s.nextSampleAfter(t0).Time.Add(time.Millisecond))
}

// podValue asks the custom metrics API for a pod's metric as the HPA does.
// found is false when the API answers 404 (no fresh sample).
func (s *stack) podValue(namespace, pod, metric string) (v float64, found bool, err error) {
	resp, err := http.Get(fmt.Sprintf("%s/apis/custom.metrics.k8s.io/v1beta2/namespaces/%s/pods/%s/%s", s.api, namespace, pod, metric))
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return 0, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var list struct {
		Items []struct {
			Value resource.Quantity `json:"value"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, false, err
	}
	if len(list.Items) != 1 {
		return 0, false, fmt.Errorf("%d values for one pod: %s", len(list.Items), body)
	}
	return list.Items[0].Value.AsApproximateFloat64(), true, nil
}

// waitPodValue polls the metrics API until the pod's metric is want, or
// until it is not served at all when found is false.
func (s *stack) waitPodValue(namespace, pod, metric string, want float64, found bool) {
	s.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitLimit)
	var last string
	for {
		v, ok, err := s.podValue(namespace, pod, metric)
		switch {
		case err != nil:
			last = err.Error()
		case ok == found && (!found || v == want):
			return
		case ok:
			last = fmt.Sprint(v)
		default:
			last = "not found"
		}
		select {
		case <-tick.C:
		case <-deadline:
			if found {
				s.t.Fatalf("metrics API: %s of pod %s/%s is %s after %s, want %v", metric, namespace, pod, last, waitLimit, want)
			}
			s.t.Fatalf("metrics API: %s of pod %s/%s is %s after %s, want it not served", metric, namespace, pod, last, waitLimit)
		}
	}
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitLimit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: still %s after %s", what, state, waitLimit)
		}
	}
}

func gauge(s sample.Sample, name string) float64 {
	v, ok := s.Gauge(name)
	if !ok {
		return -1
	}
	return v
}

// countIs makes waitFor conditions on a count that a server reports.
func countIs(what string, read func() (int, error)) func(want int) func() (bool, string) {
	return func(want int) func() (bool, string) {
		return func() (bool, string) {
			n, err := read()
			if err != nil {
				return false, err.Error()
			}
			return n == want, fmt.Sprintf("%d %s", n, what)
		}
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

// process is a server the test started, in its own process group so that
// it and the children it forks are ended together.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  lockedWriter
}

type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func start(t testing.TB, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

// stop ends the process group: SIGTERM first so servers clean up, SIGKILL
// if they do not go.
func (p *process) stop() {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
}

func (p *process) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// wait waits for the process to exit on its own and returns its exit code.
func (p *process) wait(t testing.TB, what string) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		t.Fatalf("%s has not exited after %s", what, waitLimit)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *process) output() string {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	const max = 8000
	s := p.log.b.String()
	if len(s) > max {
		s = "..." + s[len(s)-max:]
	}
	return s
}
