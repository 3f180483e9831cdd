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
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/klog/v2"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/klogflags"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/ops"
)

func adapterCommand(invocation) (cliflag.NamedFlagSets, func(context.Context, *pflag.FlagSet) error) {
	o := &adapterOptions{}
	return o.flags(), o.run
}

func (o *adapterOptions) flags() cliflag.NamedFlagSets {
	var fss cliflag.NamedFlagSets
	fs := fss.FlagSet("adapter")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":9090", "where to serve self-metrics (/metrics) and probes (/healthz, /readyz); 127.0.0.1:PORT keeps them local")
	fs.StringVar(&o.configPath, "config", "", "YAML file of settings (flag name: value) that override the flags and are reloaded when the file changes, without a restart: "+
		"stale-after, max-clock-skew, max-series, max-series-per-namespace, max-gauge-names, startup-grace, external-metrics-all-namespaces")
	o.cf.add(fss.FlagSet("collector"))
	o.nats.AddFlags(fss.FlagSet("NATS"))
	o.warm.add(fss.FlagSet("warm restart"))
	o.ff.add(fss.FlagSet("forecast"))
	o.df.add(fss.FlagSet("pod deletion cost"))
	o.kf.add(fss.FlagSet("KEDA external scaler"))
	// The custom-metrics-apiserver's flags: serving, authentication and
	// authorization, audit, and the Kubernetes client.
	o.base = &basecmd.AdapterBase{Name: "rtcscale", FlagSet: fss.FlagSet("API server")}
	o.base.InstallFlags()
	klogflags.Add(fss.FlagSet("logging"))
	return fss
}

// adapterOptions are the adapter's flags.
type adapterOptions struct {
	base                    *basecmd.AdapterBase
	cf                      collectorFlags
	nats                    natsconn.Options
	warm                    warmFlags
	ff                      forecastFlags
	df                      drainFlags
	kf                      kedaFlags
	metricsAddr, configPath string
}

// validate refuses the flags' values out of their range. The API server
// flags are the custom-metrics-apiserver's to check (base.Server).
func (o *adapterOptions) validate(fs *pflag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return errors.Join(
		checkFlags(
			check{"metrics-bind-address", o.metricsAddr, validAddress(o.metricsAddr), "host:port, the host optional"},
			check{"nats-ping-interval", o.nats.PingInterval, o.nats.PingInterval > 0, "a duration above 0"},
		),
		o.cf.validate(), o.warm.validate(), o.ff.validate(), o.df.validate(), o.kf.validate(),
	)
}

func (o *adapterOptions) run(ctx context.Context, fs *pflag.FlagSet) error {
	if err := o.validate(fs); err != nil {
		return err
	}
	// cf changes with the --config file; o.cf keeps the command line's.
	cf := o.cf
	var configContent []byte
	if o.configPath != "" {
		var err error
		if configContent, err = os.ReadFile(o.configPath); err != nil {
			return err
		}
		if cf, err = loadSettings(configContent, fs); err != nil {
			return fmt.Errorf("--config %s: %w", o.configPath, err)
		}
	}
	o.nats.Password = os.Getenv("NATS_PASSWORD")
	o.nats.Name = "rtcscale-adapter"

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cm := collector.NewMetrics(reg)
	store := collector.NewStore(cf.store, cm)

	restConfig, err := o.base.ClientConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	go awaitAPIServer(ctx, restConfig.Host, versionProbe(client, 10*time.Second), time.Second, time.Minute)
	cluster, err := collector.WatchCluster(client, store)
	if err != nil {
		return err
	}

	nc, err := natsconn.Dial(o.nats, cm)
	if err != nil {
		return err
	}
	defer nc.Close()
	sub := collector.NewSubscriber(store, cf.subjectPrefix)
	// Subscribing waits for the warm restart, if on; readiness waits for
	// subscribing.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	o.warm.cfg.Prefix, o.warm.cfg.MaxMsgs = cf.subjectPrefix, int64(cf.store.MaxSeries)
	go func() {
		if err := o.warm.subscribe(ctx, nc, sub); err != nil {
			fail(err)
		}
	}()

	live, err := o.ff.start(ctx, store, nc, reg)
	if err != nil {
		return err
	}
	if live != nil {
		cf.provider.Forecaster = live
	}
	prov := adapter.NewProvider(store, cf.provider, adapter.NewMetrics(reg))
	o.base.WithCustomMetrics(prov)
	if cf.external {
		o.base.WithExternalMetrics(prov)
	}
	// Selectors are checked before the library parses them, so that a
	// malformed metricLabelSelector is a 400 as a labelSelector is.
	cfg, err := o.base.Config()
	if err != nil {
		return err
	}
	cfg.GenericConfig.BuildHandlerChainFunc = adapter.BuildHandlerChain
	srv, err := o.base.Server()
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
	if err := o.df.start(ctx, client, store); err != nil {
		return err
	}
	if err := o.kf.start(ctx, prov, reg, fail); err != nil {
		return err
	}
	if o.configPath != "" {
		reload := func(content []byte) error {
			c, err := loadSettings(content, fs)
			if err != nil {
				return err
			}
			store.SetOptions(c.store)
			prov.SetOptions(c.provider)
			return nil
		}
		if err := watchConfig(ctx, o.configPath, configContent, newConfigMetrics(reg).counted(reload)); err != nil {
			return err
		}
	}

	// The history store's state is on the metrics port's /readyz?verbose
	// only: the serving port's checks (the generic API server's) have no
	// way to report without failing.
	if live != nil {
		checks = append(checks, ops.Check{Name: "history", Check: live.StoreStatus, Warn: true})
	}
	opsServer := &http.Server{Addr: o.metricsAddr, Handler: ops.NewHandler(reg, checks...), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := opsServer.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.ErrorS(err, "Self-metrics server failed", "address", o.metricsAddr)
		}
	}()
	defer opsServer.Close()

	klog.InfoS("Serving metrics APIs", "natsURL", natsconn.RedactURLs(o.nats.URL), "subjects", cf.subjectPrefix+".>", "externalMetrics", cf.external, "forecasts", live != nil, "podDeletionCost", o.df.on)
	if err := srv.GenericAPIServer.PrepareRun().RunWithContext(ctx); err != nil {
		return err
	}
	// A failed subscription stopped the server; a signal is no error.
	if err := context.Cause(ctx); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
