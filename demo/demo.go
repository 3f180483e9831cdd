package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
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
	// Day is how long a simulated day lasts. Default 10m.
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
	// the demo stops.
	HistoryDir string
}

// Addrs are where a running demo serves.
type Addrs struct {
	API, Metrics string // http://host:port
	NATS         string // nats://host:port
}

// Run runs the demo until ctx is done: it starts an embedded NATS server,
// the collector subscribed to it, the simulated fleet publishing, and the
// metrics APIs on localhost. It calls ready once everything serves, then
// prints to out how to look at it.
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

	reg := prometheus.NewRegistry()
	// The adapter's Go and process metrics too, so that the dashboards'
	// memory and CPU panels work against a demo.
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cm := collector.NewMetrics(reg)
	store := collector.NewStore(cfg.Store, cm)

	// The demo's cluster is client-go's in-memory one: the collector's
	// informers watch it exactly as they watch a real apiserver.
	client := fake.NewClientset()
	cluster, err := collector.WatchCluster(client, store)
	if err != nil {
		return err
	}
	cluster.Start(ctx.Done())
	fleet := NewFleet(cfg.Fleet, cfg.SubjectPrefix, cfg.Interval, cfg.Day, 1)
	if err := fleet.Register(ctx, client); err != nil {
		return fmt.Errorf("creating the simulated pods: %w", err)
	}
	if !cluster.WaitForSync(ctx.Done()) {
		return ctx.Err()
	}

	collectorConn, err := collector.Dial(collector.NATSOptions{URL: ns.ClientURL(), Name: "rtcscale-demo-collector"}, cm)
	if err != nil {
		return err
	}
	defer collectorConn.Close()
	sub := collector.NewSubscriber(store, cfg.SubjectPrefix)
	if err := sub.Start(collectorConn); err != nil {
		return err
	}
	// Publish once and wait until it is in, so that the first query a
	// newcomer pastes finds values.
	fleetConn, err := nats.Connect(ns.ClientURL(), nats.Name("rtcscale-demo-fleet"))
	if err != nil {
		return err
	}
	defer fleetConn.Close()
	if err := fleet.Publish(fleetConn, time.Now()); err != nil {
		return err
	}
	if err := fleetConn.Flush(); err != nil {
		return err
	}
	if err := collectorConn.Flush(); err != nil {
		return err
	}

	// Forecasts learn from the history the demo records in JetStream, a
	// value a minute. A demo day is minutes long, so the predictor sees
	// no daily pattern and serves the current sum: that is its rule until
	// it has 3 days of history.
	live, err := predictor.NewLive(store, predictor.LiveConfig{}, reg)
	if err != nil {
		return err
	}
	// The forecasts' first tick reads the store at once: let the first
	// samples, delivered on the subscriber's goroutine, be in it by then.
	waitForSeries(ctx, store, fleet.Pods(), 10*time.Second)
	go live.Run(ctx, predictor.StoreOpener(collectorConn, predictor.StoreConfig{}))
	cfg.Provider.Forecaster = live
	prov := adapter.NewProvider(store, cfg.Provider, adapter.NewMetrics(reg))
	api, err := adapter.NewLocalHandler(prov, !cfg.NoExternal)
	if err != nil {
		return err
	}
	natsUp := adapter.Check{Name: "nats", Check: func() error {
		if !collectorConn.IsConnected() {
			return errors.New("not connected to NATS")
		}
		return nil
	}}
	apiLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("serving the metrics APIs: %w (choose another address with --listen)", err)
	}
	metricsLn, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("serving self-metrics: %w (choose another address with --metrics-bind-address)", err)
	}
	servers := []*http.Server{
		{Handler: api, ReadHeaderTimeout: 10 * time.Second},
		{Handler: adapter.NewOpsHandler(reg, natsUp, adapter.Check{Name: "history", Check: live.StoreStatus, Warn: true}), ReadHeaderTimeout: 10 * time.Second},
	}
	errc := make(chan error, 3)
	for i, ln := range []net.Listener{apiLn, metricsLn} {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	go store.Run(ctx.Done(), 5*time.Second)
	go func() { errc <- fleet.Run(ctx, fleetConn) }()

	addrs := Addrs{API: "http://" + apiLn.Addr().String(), Metrics: "http://" + metricsLn.Addr().String(), NATS: ns.ClientURL()}
	if ready != nil {
		ready(addrs)
	}
	printHelp(out, addrs, cfg)

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nStopping.")
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
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

func printHelp(out io.Writer, a Addrs, cfg Config) {
	cm := a.API + "/apis/custom.metrics.k8s.io/v1beta2"
	em := a.API + "/apis/external.metrics.k8s.io/v1beta1"
	fmt.Fprintf(out, `rtcscale demo is running.

  embedded NATS      %s   (samples on %s.<namespace>.<kind>.<pod>)
  metrics APIs       %s   (plain HTTP on loopback; in a cluster the HPA reaches them through the apiserver)
  self-metrics       %s/metrics, %s/readyz

A simulated day lasts %s: watch the values follow the morning rush (samples every %s).
Try:

  # calls per Asterisk pod, as an HPA with a Pods metric asks for them
  curl -s '%s/namespaces/voice/pods/*/calls?labelSelector=app%%3Dasterisk'

  # calls summed over the Asterisk Deployment (Object metric), and the busiest pod
  curl -s '%s/namespaces/voice/deployments.apps/asterisk/calls'
  curl -s '%s/namespaces/voice/deployments.apps/asterisk/calls_max'

  # the calls it is expected to reach within its pods' start-up: the predictor needs
  # 3 days of history (kept in the embedded NATS's JetStream); until then, the current sum
  curl -s '%s/namespaces/voice/deployments.apps/asterisk/calls_forecast'

  # JVB participants per pod, and the whole namespace's
  curl -s '%s/namespaces/meet/pods/*/participants'
  curl -s '%s/namespaces/meet/metrics/participants'

  # fleet view (External metric): calls of every Asterisk in the voice namespace's eu-west region
  curl -s '%s/namespaces/voice/calls?labelSelector=kind%%3Dasterisk,region%%3Deu-west'

  # every metric served
  curl -s '%s'

Ctrl-C stops.
`, a.NATS, cfg.SubjectPrefix, a.API, a.Metrics, a.Metrics, cfg.Day, cfg.Interval, cm, cm, cm, cm, cm, cm, em, cm)
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
