// Package server assembles rtcscale's adapter, as metrics-server's
// pkg/server does: a Config holds what the flags decide, Complete builds
// the graph (the store, the informers that tell it the cluster's pods, the
// NATS connection and subscriber that feed it, the forecasts, the metrics
// provider, the pod-deletion-cost controllers and the ops endpoints), and
// Run runs it until its context ends.
//
// `rtcscale adapter` and `rtcscale demo` both build their graph here; they
// differ only in what they hand it: a real cluster or client-go's
// in-memory one, and the generic API server with delegated authentication
// (GenericAPI) or a plain handler on loopback (LocalAPI) in front.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/collector/cluster"
	"github.com/rtcscale/rtcscale/collector/ingest"
	"github.com/rtcscale/rtcscale/drain"
	"github.com/rtcscale/rtcscale/internal/exepages"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/ops"
	"github.com/rtcscale/rtcscale/kedascaler"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/sample"
)

// Config is the adapter's configuration. Complete checks nothing the flags
// have checked already.
type Config struct {
	// Store tunes the collector; Provider the metrics APIs. Both may
	// change while it runs (Reload).
	Store    collector.Options
	Provider adapter.Options
	// SubjectPrefix of the samples subscribed to. Default
	// sample.DefaultSubjectPrefix.
	SubjectPrefix string
	// ExternalMetrics serves external.metrics.k8s.io as well.
	ExternalMetrics bool

	// Client reaches the cluster whose pods and ReplicaSets the informers
	// watch: a real apiserver, or client-go's fake in the demo.
	Client kubernetes.Interface
	// APIServerURL, if set, is probed at start and logged at the default
	// verbosity while it cannot be reached.
	APIServerURL string
	// NATS is where the samples come from.
	NATS natsconn.Options
	// Warm, if set, loads the latest sample of every pod from JetStream
	// before subscribing.
	Warm *Warm
	// Forecasts, if set, serve <gauge>_forecast.
	Forecasts *Forecasts
	// DeletionCost, if set, runs the pod-deletion-cost controllers.
	DeletionCost *DeletionCost
	// KEDAScaler, if set, serves KEDA's external scaler protocol.
	KEDAScaler *KEDAScaler
	// Reload, if set, re-reads a config file when it changes.
	Reload *Reload

	// MetricsAddress serves self-metrics and probes (/metrics, /healthz,
	// /readyz). Complete listens on it, so that a port in use is an error
	// before anything runs.
	MetricsAddress string
	// Registry takes the self-metrics. Default: a new registry with the Go
	// and process collectors.
	Registry *prometheus.Registry
	// ReleaseStartupPages gives back the binary's pages that start-up read
	// once the informers have synced (ReleaseStartupPages): the adapter's
	// process sets it, a process that runs other things beside leaves it.
	ReleaseStartupPages bool
}

// Forecasts configure predictor.Live.
type Forecasts struct {
	Live  predictor.LiveConfig
	Store predictor.StoreConfig
}

// DeletionCost configures the pod-deletion-cost controllers (package
// drain): one per namespace listed, or one for every namespace.
type DeletionCost struct {
	Options    drain.Options
	Namespaces []string // empty: every namespace
}

// KEDAScaler configures the KEDA external scaler (package kedascaler).
type KEDAScaler struct {
	// Address is where it listens; Complete listens, so that a port in
	// use is an error before anything runs.
	Address string
	TLS     kedascaler.TLS
	// CheckInterval is how often each StreamIsActive stream checks.
	CheckInterval time.Duration
}

// Server is a completed Config, ready to Run.
type Server struct {
	// Store holds the latest sample of every pod.
	Store *collector.Store
	// Provider serves the metrics APIs from Store.
	Provider *adapter.Provider
	// Forecasts is nil when forecasts are off.
	Forecasts *predictor.Live
	// Registry holds the self-metrics.
	Registry *prometheus.Registry

	cfg       Config
	cluster   *cluster.Watch
	nc        *nats.Conn
	sub       *ingest.Subscriber
	drains    []*drain.Controller
	metricsLn net.Listener
	scaler    *kedascaler.Scaler
	scalerLn  net.Listener
	ready     chan struct{}
}

// Complete builds the graph of c and connects to NATS (retrying in the
// background while it cannot: readiness waits for it). It starts nothing.
func (c Config) Complete() (_ *Server, err error) {
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = sample.DefaultSubjectPrefix
	}
	reg := c.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{Registry: reg, cfg: c, ready: make(chan struct{})}
	s.Store = collector.NewStore(c.Store, collector.NewMetrics(reg))
	if s.cluster, err = cluster.NewWatch(c.Client, s.Store); err != nil {
		return nil, err
	}
	if f := c.Forecasts; f != nil {
		if err := f.Store.Validate(); err != nil {
			return nil, fmt.Errorf("the history stream: %w", err)
		}
		if s.Forecasts, err = predictor.NewLive(s.Store, f.Live, reg); err != nil {
			return nil, err
		}
		c.Provider.Forecaster = s.Forecasts
	}
	s.Provider = adapter.NewProvider(s.Store, c.Provider, adapter.NewMetrics(reg))
	if d := c.DeletionCost; d != nil {
		namespaces := d.Namespaces
		if len(namespaces) == 0 {
			namespaces = []string{""} // every namespace
		}
		for _, ns := range namespaces {
			opts := d.Options
			opts.Namespace = ns
			dc, err := drain.New(c.Client, s.Store, opts)
			if err != nil {
				return nil, fmt.Errorf("pod deletion cost: %w", err)
			}
			s.drains = append(s.drains, dc)
		}
	}
	if c.Reload != nil {
		c.Reload.metrics = newReloadMetrics(reg)
	}
	if s.metricsLn, err = net.Listen("tcp", c.MetricsAddress); err != nil {
		return nil, fmt.Errorf("serving self-metrics: %w", err)
	}
	defer func() {
		if err != nil {
			s.metricsLn.Close()
		}
	}()
	if k := c.KEDAScaler; k != nil {
		if s.scalerLn, err = net.Listen("tcp", k.Address); err != nil {
			return nil, fmt.Errorf("serving the KEDA external scaler: %w", err)
		}
		defer func() {
			if err != nil {
				s.scalerLn.Close()
			}
		}()
		s.scaler = kedascaler.NewScaler(s.Provider, k.CheckInterval, kedascaler.NewMetrics(reg))
	}
	nm := ingest.NewMetrics(reg)
	if s.nc, err = natsconn.Dial(c.NATS, nm); err != nil {
		return nil, err
	}
	s.sub = ingest.NewSubscriber(s.Store, c.SubjectPrefix, nm)
	return s, nil
}

// MetricsAddr is where the self-metrics and probes are served.
func (s *Server) MetricsAddr() net.Addr { return s.metricsLn.Addr() }

// Ready is closed once the informers have synced and the samples are
// subscribed to (after the warm restart, if on): the first moment every
// value served is complete.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Checks are the readiness checks: connected to NATS, informers synced,
// samples subscribed to; and, as a warning that does not fail readiness,
// the forecasts' history store.
func (s *Server) Checks() []ops.Check {
	synced := func() error {
		if !s.cluster.Synced() {
			return errors.New("pod and ReplicaSet informers have not synced yet")
		}
		return nil
	}
	checks := []ops.Check{{Name: "nats", Check: natsconn.Connected(s.nc)}, {Name: "informers", Check: synced}, {Name: "samples", Check: s.sub.Ready}}
	if s.Forecasts != nil {
		checks = append(checks, ops.Check{Name: "history", Check: s.Forecasts.StoreStatus, Warn: true})
	}
	return checks
}

// Run runs the graph and api, which serves the metrics APIs from
// s.Provider (GenericAPI, LocalAPI), until ctx is done or one of them
// fails. It closes the NATS connection and the ops server when it returns.
func (s *Server) Run(ctx context.Context, api func(context.Context) error) error {
	defer s.nc.Close()
	// Deferred in this order so that the goroutines are told to stop
	// (fail) before they are waited for.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	goRun := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}

	if s.cfg.APIServerURL != "" {
		goRun(func() {
			awaitAPIServer(ctx, s.cfg.APIServerURL, versionProbe(s.cfg.Client, 10*time.Second), time.Second, time.Minute)
		})
	}
	s.cluster.Start(ctx.Done())
	// Subscribing waits for the warm restart, if on; readiness waits for
	// both the subscription and the informers.
	goRun(func() {
		if err := s.cfg.Warm.subscribe(ctx, s.nc, s.sub); err != nil {
			fail(err)
			return
		}
		if s.cluster.WaitForSync(ctx.Done()) {
			if s.cfg.ReleaseStartupPages {
				ReleaseStartupPages("informers synced")
			}
			close(s.ready)
		}
	})
	if f := s.cfg.Forecasts; f != nil {
		goRun(func() { s.Forecasts.Run(ctx, predictor.StoreOpener(s.nc, f.Store)) })
	}
	goRun(func() { s.Store.Run(ctx.Done(), 5*time.Second) })
	for _, dc := range s.drains {
		goRun(func() {
			if err := dc.Run(ctx); err != nil && ctx.Err() == nil {
				klog.ErrorS(err, "Pod deletion-cost controller stopped")
			}
		})
	}
	if s.scaler != nil {
		goRun(func() {
			if err := kedascaler.Serve(ctx, s.scalerLn, s.cfg.KEDAScaler.TLS, s.scaler); err != nil {
				fail(fmt.Errorf("KEDA external scaler: %w", err))
			}
		})
	}
	if r := s.cfg.Reload; r != nil {
		if err := r.watch(ctx, s); err != nil {
			return err
		}
	}
	opsServer := &http.Server{Handler: ops.NewHandler(s.Registry, s.Checks()...), ReadHeaderTimeout: 10 * time.Second}
	goRun(func() {
		if err := opsServer.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.ErrorS(err, "Self-metrics server failed", "address", s.metricsLn.Addr())
		}
	})
	defer opsServer.Close()

	klog.InfoS("Serving metrics APIs", "natsURL", natsconn.RedactURLs(s.cfg.NATS.URL), "subjects", s.cfg.SubjectPrefix+".>",
		"externalMetrics", s.cfg.ExternalMetrics, "forecasts", s.Forecasts != nil, "podDeletionCost", len(s.drains) > 0, "kedaScaler", s.scaler != nil)
	if err := api(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	// A failed subscription stopped the API; a signal is no error.
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// SetOptions changes the store's and the provider's settings while they
// run.
func (s *Server) SetOptions(store collector.Options, p adapter.Options) {
	s.Store.SetOptions(store)
	s.Provider.SetOptions(p)
}

// ReleaseStartupPages gives back the pages of the binary that start-up
// read and the adapter does not need again (the package initializers', the
// set-up's): most of its RSS at small sizes (docs/benchmarks.md, "The
// adapter's memory"). after says which part of start-up is over.
func ReleaseStartupPages(after string) {
	before, now, err := exepages.Release()
	if err != nil {
		klog.InfoS("Could not give back the binary's start-up pages; the adapter works as before, with more memory resident", "after", after, "err", err)
		return
	}
	klog.V(2).InfoS("Gave back the binary's start-up pages", "after", after, "residentFileBytesBefore", before, "residentFileBytesAfter", now)
}
