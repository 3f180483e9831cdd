package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/server"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/sample"
)

// Config sets up a demo. The zero value of a field means its default.
type Config struct {
	// Listen is where the metrics APIs are served (plain HTTP, no
	// authentication: keep it on loopback). Default 127.0.0.1:8080.
	Listen string
	// MetricsListen serves self-metrics and probes. Default 127.0.0.1:9090.
	MetricsListen string
	// NATSPort of the embedded server; 0 picks 4222 if free, else any.
	NATSPort int
	// Interval between samples. Default 2s.
	Interval time.Duration
	// Day is how long a simulated day lasts: the Clock that the fleet and
	// the forecasts run on goes 24h/Day times faster than real time.
	// Default 10m.
	Day time.Duration
	// Fleet to simulate. Default DefaultFleet.
	Fleet []Workload
	// Store tunes the collector.
	Store collector.Options
	// Provider tunes the adapter.
	Provider adapter.Options
	// SubjectPrefix of the samples. Default sample.DefaultSubjectPrefix.
	SubjectPrefix string
	// NoExternal turns the external metrics API off.
	NoExternal bool
	// HistoryDir is where the embedded NATS server's JetStream keeps the
	// workloads' histories. Default: a temporary directory, removed when
	// the demo stops. A directory that holds histories is resumed: the
	// simulated clock goes on from the newest minute they hold.
	HistoryDir string
}

// Addrs are where a running demo serves, and the simulated time it runs
// on.
type Addrs struct {
	API, Metrics string // http://host:port
	NATS         string // nats://host:port
	Clock        Clock
}

// step is the resolution of the demo's histories: the adapter's minute, of
// simulated time.
const step = time.Minute

// backfillDays is how many simulated days of history a demo writes into a
// new history stream before it starts, so that its forecasts have history
// at once: the predictor looks for a daily pattern in 3 days or more.
const backfillDays = 4

// lead is how far ahead the demo's forecasts look, in simulated time. It is
// set rather than learned: the simulated pods are Ready at once, and a
// learned lead is measured in real time. 30 minutes is a pod's start-up
// with the time an HPA takes to scale up on a steep ramp (docs/forecast.md),
// and shows on the demo's curve.
const lead = 30 * time.Minute

// forecastGauges are the gauges the demo forecasts, as the adapter's
// default --forecast-gauges: those that carry its fleet's load.
var forecastGauges = []string{sample.GaugeCalls, sample.GaugeParticipants}

// Run runs the demo until ctx is done: it starts an embedded NATS server,
// the collector subscribed to it, the simulated fleet publishing, the
// forecasts on the simulated Clock, and the metrics APIs on localhost. It
// calls ready once everything serves, then prints to out how to look at
// it.
func Run(ctx context.Context, cfg Config, out io.Writer, ready func(Addrs)) error {
	cfg = cfg.withDefaults()

	if cfg.HistoryDir == "" {
		dir, err := os.MkdirTemp("", "rtcscale-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.HistoryDir = dir
	}
	ns, err := startNATS(cfg.NATSPort, cfg.HistoryDir)
	if err != nil {
		return err
	}
	defer func() {
		// JetStream flushes its files while shutting down: wait before
		// the directory is removed.
		ns.Shutdown()
		ns.WaitForShutdown()
	}()

	// The demo's cluster is client-go's in-memory one: the collector's
	// informers watch it exactly as they watch a real apiserver.
	client := fake.NewClientset()
	fleet := NewFleet(cfg.Fleet, cfg.SubjectPrefix, cfg.Interval, 1)
	fleetConn, err := nats.Connect(ns.ClientURL(), nats.Name("rtcscale-demo-fleet"))
	if err != nil {
		return err
	}
	defer fleetConn.Close()
	js, err := jetstream.New(fleetConn)
	if err != nil {
		return err
	}
	start, backfilled, err := openHistory(ctx, js, fleet)
	if err != nil {
		return fmt.Errorf("the demo's history stream: %w", err)
	}
	clock := Clock{Began: time.Now(), Start: start, Day: cfg.Day}

	if err := fleet.Register(ctx, client); err != nil {
		return fmt.Errorf("creating the simulated pods: %w", err)
	}
	apiLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("serving the metrics APIs: %w (choose another address with --listen)", err)
	}
	defer apiLn.Close()

	// The adapter's graph, on the simulated clock: the forecasts record
	// the workloads every simulated minute into the JetStream history,
	// which they load first, with the days written into it above, and
	// refit every 15 simulated minutes. A demo day is a day to them.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	s, runErr, err := server.Config{
		Store: cfg.Store, Provider: cfg.Provider, SubjectPrefix: cfg.SubjectPrefix, ExternalMetrics: !cfg.NoExternal,
		Client: client,
		NATS:   natsconn.Options{URL: ns.ClientURL(), Name: "rtcscale-demo-collector"},
		Forecasts: &server.Forecasts{Live: predictor.LiveConfig{
			Step: step, Gauges: forecastGauges, Leads: predictor.Leads{Default: lead},
			Now: clock.Now, After: clock.After,
		}},
		MetricsAddress: cfg.MetricsListen,
	}.StartLocal(ctx, apiLn)
	if opErr := (*net.OpError)(nil); errors.As(err, &opErr) && opErr.Op == "listen" {
		return fmt.Errorf("%w (choose another address with --metrics-bind-address)", err)
	} else if err != nil {
		return err
	}
	// wait stops the adapter and returns what it stopped with, once
	// whichever way Run ends.
	var once sync.Once
	var runResult error
	wait := func() error {
		once.Do(func() { stop(); runResult = <-runErr })
		return runResult
	}
	defer wait()
	// The pods are known and the samples subscribed to: publish once and
	// wait until it is in, so that the first query a newcomer pastes
	// finds values.
	fleetErr := make(chan error, 1)
	if err := fleet.Publish(fleetConn, clock, time.Now()); err != nil {
		return err
	}
	if err := fleetConn.Flush(); err != nil {
		return err
	}
	waitForSeries(ctx, s.Store, fleet.Pods(), 10*time.Second)
	go func() { fleetErr <- fleet.Run(ctx, fleetConn, clock) }()

	addrs := Addrs{API: "http://" + apiLn.Addr().String(), Metrics: "http://" + s.MetricsAddr().String(), NATS: ns.ClientURL(), Clock: clock}
	if ready != nil {
		ready(addrs)
	}
	history := fmt.Sprintf("%d simulated days of history, written into JetStream at start from the same curve and noise", backfillDays)
	if !backfilled {
		history = "the history kept in " + cfg.HistoryDir + ", which the simulated clock goes on from"
	}
	printHelp(out, addrs, cfg, history)

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nStopping.")
		return wait()
	case err := <-runErr:
		once.Do(func() { runResult = err })
		return err
	case err := <-fleetErr:
		wait()
		return err
	}
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.MetricsListen == "" {
		c.MetricsListen = "127.0.0.1:9090"
	}
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
	}
	if c.Day <= 0 {
		c.Day = 10 * time.Minute
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = sample.DefaultSubjectPrefix
	}
	if c.Fleet == nil {
		c.Fleet = DefaultFleet
	}
	return c
}

// openHistory opens the demo's history stream and returns the simulated
// time its clock starts at: a step after the newest value an earlier demo
// kept there (--history-dir), so that the forecasts go on from it; in a new
// stream, 06:00 today, so that the morning rush comes soon, after writing
// the backfillDays simulated days before it. backfilled says which.
func openHistory(ctx context.Context, js jetstream.JetStream, fleet *Fleet) (start time.Time, backfilled bool, err error) {
	st, err := predictor.OpenStore(ctx, js, predictor.StoreConfig{})
	if err != nil {
		return time.Time{}, false, err
	}
	// Histories of one step are enough to find the newest.
	hs, _, err := st.Load(ctx, step, 1)
	if err != nil {
		return time.Time{}, false, err
	}
	for _, h := range hs {
		if t, ok := h.Latest(); ok && t.After(start) {
			start = t
		}
	}
	if !start.IsZero() {
		return start.Add(step), false, nil
	}
	start = time.Now().UTC().Truncate(24 * time.Hour).Add(6 * time.Hour)
	return start, true, fleet.Backfill(ctx, st, forecastGauges, start.Add(-backfillDays*24*time.Hour), start, step)
}

// startNATS starts an in-process NATS server on loopback, with JetStream
// storing in dir.
func startNATS(port int, dir string) (*natsserver.Server, error) {
	if port == 0 {
		port = natsserver.RANDOM_PORT
		if ln, err := net.Listen("tcp", "127.0.0.1:4222"); err == nil {
			ln.Close()
			port = 4222
		}
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true, JetStream: true, StoreDir: dir})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS server did not start on 127.0.0.1:" + strconv.Itoa(port))
	}
	return ns, nil
}

func printHelp(out io.Writer, a Addrs, cfg Config, history string) {
	cm := a.API + "/apis/custom.metrics.k8s.io/v1beta2"
	em := a.API + "/apis/external.metrics.k8s.io/v1beta1"
	asterisk := cm + "/namespaces/voice/deployments.apps/asterisk"
	minute := (time.Duration(float64(time.Minute) / a.Clock.speed())).Round(time.Millisecond)
	fmt.Fprintf(out, `rtcscale demo is running.

  embedded NATS      %s   (samples on %s.<namespace>.<kind>.<pod>)
  metrics APIs       %s   (plain HTTP on loopback; in a cluster the HPA reaches them through the apiserver)
  self-metrics       %s/metrics, %s/readyz

A simulated day lasts %s, from %s (a simulated minute is %s; samples every %s):
watch the values follow the morning rush at 10:00 and the afternoon one at 15:00.
The forecasts run on the simulated clock and learn from %s.
Try:

  # calls per Asterisk pod, as an HPA with a Pods metric asks for them
  curl -s '%s/namespaces/voice/pods/*/calls?labelSelector=app%%3Dasterisk'

  # calls summed over the Asterisk Deployment (Object metric), and the busiest pod
  curl -s '%s/calls'
  curl -s '%s/calls_max'

  # the calls the Deployment is expected to reach within the next %s (simulated): above
  # calls as each rush hour nears, so that an HPA on it adds pods before the calls come
  curl -s '%s/calls_forecast'

  # both, every 2 s
  while sleep 2; do for m in calls calls_forecast; do printf '%%s %%-8s ' $m $(curl -s '%s/'$m | grep -o '"value": *"[^"]*"' | cut -d'"' -f4); done; echo; done

  # JVB participants per pod, and the whole namespace's
  curl -s '%s/namespaces/meet/pods/*/participants'
  curl -s '%s/namespaces/meet/metrics/participants'

  # fleet view (External metric): calls of every Asterisk in the voice namespace's eu-west region
  curl -s '%s/namespaces/voice/calls?labelSelector=kind%%3Dasterisk,region%%3Deu-west'

  # every metric served
  curl -s '%s'

Ctrl-C stops.
`, a.NATS, cfg.SubjectPrefix, a.API, a.Metrics, a.Metrics, cfg.Day, a.Clock.Start.Format("Mon 15:04"), minute, cfg.Interval, history,
		cm, asterisk, asterisk, lead, asterisk, asterisk, cm, cm, em, cm)
}

// waitForSeries waits until store holds n series, ctx ends, or limit
// passes (a broken pipeline must not stop the demo from starting).
func waitForSeries(ctx context.Context, store *collector.Store, n int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for store.Stats().Series < n && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
