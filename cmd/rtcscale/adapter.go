package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	cliflag "k8s.io/component-base/cli/flag"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/klogflags"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/server"
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
	var reload *server.Reload
	if o.configPath != "" {
		content, err := os.ReadFile(o.configPath)
		if err != nil {
			return err
		}
		if cf, err = loadSettings(content, fs); err != nil {
			return fmt.Errorf("--config %s: %w", o.configPath, err)
		}
		reload = &server.Reload{Path: o.configPath, Applied: content, Parse: func(content []byte) (collector.Options, adapter.Options, error) {
			c, err := loadSettings(content, fs)
			return c.store, c.provider, err
		}}
	}
	forecasts, err := o.ff.config()
	if err != nil {
		return err
	}
	// The package initializers are done (package startup gave back the
	// pages of those before them): their pages go now, the API server's
	// set-up's once it is built, the rest once the informers have synced
	// (Config.ReleaseStartupPages), so that none adds to another's peak.
	server.ReleaseStartupPages("package initializers")
	restConfig, err := o.base.ClientConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	o.nats.Password = os.Getenv("NATS_PASSWORD")
	o.nats.Name = "rtcscale-adapter"

	s, err := server.Config{
		Store: cf.store, Provider: cf.provider, SubjectPrefix: cf.subjectPrefix, ExternalMetrics: cf.external,
		Client: client, APIServerURL: restConfig.Host, NATS: o.nats,
		Warm:      o.warm.config(cf.subjectPrefix, cf.store.MaxSeries),
		Forecasts: forecasts, DeletionCost: o.df.config(), KEDAScaler: o.kf.config(), Reload: reload,
		MetricsAddress: o.metricsAddr, ReleaseStartupPages: true,
	}.Complete()
	if err != nil {
		return err
	}
	api, err := server.GenericAPI(o.base, s)
	if err != nil {
		return err
	}
	server.ReleaseStartupPages("API server built")
	return s.Run(ctx, api)
}
