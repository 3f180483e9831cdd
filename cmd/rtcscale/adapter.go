package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/klogflags"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/ops"
)

func runAdapter(ctx context.Context, args []string) error {
	base := &basecmd.AdapterBase{Name: "rtcscale", FlagSet: pflag.NewFlagSet("adapter", pflag.ContinueOnError)}
	base.InstallFlags()
	fs := base.FlagSet
	var cf collectorFlags
	cf.add(fs)
	var natsOpts natsconn.Options
	natsOpts.AddFlags(fs)
	var warm warmFlags
	warm.add(fs)
	var ff forecastFlags
	ff.add(fs)
	var df drainFlags
	df.add(fs)
	metricsAddr := fs.String("metrics-bind-address", ":9090", "where to serve self-metrics (/metrics) and probes (/healthz, /readyz); 127.0.0.1:PORT keeps them local")
	configPath := fs.String("config", "", "YAML file of settings (flag name: value) that override the flags and are reloaded when the file changes, without a restart: "+
		"stale-after, max-clock-skew, max-series, max-series-per-namespace, max-gauge-names, startup-grace, external-metrics-all-namespaces")
	klogflags.Add(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var configContent []byte
	if *configPath != "" {
		var err error
		if configContent, err = os.ReadFile(*configPath); err != nil {
			return err
		}
		if cf, err = loadSettings(configContent, fs); err != nil {
			return fmt.Errorf("--config %s: %w", *configPath, err)
		}
	}
	natsOpts.Password = os.Getenv("NATS_PASSWORD")
	natsOpts.Name = "rtcscale-adapter"

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := cf.store.Validate(); err != nil {
		return err
	}
	cm := collector.NewMetrics(reg)
	store := collector.NewStore(cf.store, cm)

	restConfig, err := base.ClientConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	cluster, err := collector.WatchCluster(client, store)
	if err != nil {
		return err
	}

	nc, err := natsconn.Dial(natsOpts, cm)
	if err != nil {
		return err
	}
	defer nc.Close()
	sub := collector.NewSubscriber(store, cf.subjectPrefix)
	// Subscribing waits for the warm restart, if on; readiness waits for
	// subscribing.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	warm.cfg.Prefix, warm.cfg.MaxMsgs = cf.subjectPrefix, int64(cf.store.MaxSeries)
	go func() {
		if err := warm.subscribe(ctx, nc, sub); err != nil {
			fail(err)
		}
	}()

	live, err := ff.start(ctx, store, nc, reg)
	if err != nil {
		return err
	}
	if live != nil {
		cf.provider.Forecaster = live
	}
	prov := adapter.NewProvider(store, cf.provider, adapter.NewMetrics(reg))
	base.WithCustomMetrics(prov)
	if cf.external {
		base.WithExternalMetrics(prov)
	}
	srv, err := base.Server()
	if err != nil {
		return err
	}

	cluster.Start(ctx.Done())
	synced := func() error {
		if !cluster.Synced() {
			return errors.New("pod and ReplicaSet informers have not synced yet")
		}
		return nil
	}
	checks := []ops.Check{{Name: "nats", Check: natsconn.Connected(nc)}, {Name: "informers", Check: synced}, {Name: "samples", Check: sub.Ready}}
	for _, c := range checks {
		if err := srv.GenericAPIServer.AddReadyzChecks(healthz.NamedCheck(c.Name, func(*http.Request) error { return c.Check() })); err != nil {
			return err
		}
	}
	go store.Run(ctx.Done(), 5*time.Second)
	if err := df.start(ctx, client, store); err != nil {
		return err
	}
	if *configPath != "" {
		reload := func(content []byte) error {
			c, err := loadSettings(content, fs)
			if err == nil {
				err = c.store.Validate()
			}
			if err != nil {
				return err
			}
			store.SetOptions(c.store)
			prov.SetOptions(c.provider)
			return nil
		}
		if err := watchConfig(ctx, *configPath, configContent, newConfigMetrics(reg).counted(reload)); err != nil {
			return err
		}
	}

	// The history store's state is on the metrics port's /readyz?verbose
	// only: the serving port's checks (the generic API server's) have no
	// way to report without failing.
	if live != nil {
		checks = append(checks, ops.Check{Name: "history", Check: live.StoreStatus, Warn: true})
	}
	opsServer := &http.Server{Addr: *metricsAddr, Handler: ops.NewHandler(reg, checks...), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := opsServer.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.ErrorS(err, "Self-metrics server failed", "address", *metricsAddr)
		}
	}()
	defer opsServer.Close()

	klog.InfoS("Serving metrics APIs", "natsURL", natsconn.RedactURLs(natsOpts.URL), "subjects", cf.subjectPrefix+".>", "externalMetrics", cf.external, "forecasts", live != nil, "podDeletionCost", df.on)
	if err := srv.GenericAPIServer.PrepareRun().RunWithContext(ctx); err != nil {
		return err
	}
	// A failed subscription stopped the server; a signal is no error.
	if err := context.Cause(ctx); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
