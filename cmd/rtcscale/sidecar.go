package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

func runSidecar(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("sidecar", pflag.ContinueOnError)
	var kinds []string
	for _, k := range sidecar.SourceKinds() {
		kinds = append(kinds, fmt.Sprintf("%s (default URL %s)", k, sidecar.DefaultURL(k)))
	}
	source := fs.String("source", "", "kind of server to read: "+strings.Join(kinds, ", "))
	var o sidecar.Options
	fs.StringVar(&o.URL, "url", "", "the server's endpoint; the default depends on --source. rtpengine: a path ending in /metrics reads Prometheus counters, any other is sent the ng statistics command as JSON (/ng-plain). asterisk: http://.../metrics reads res_prometheus, tcp://host:port reads AMI")
	fs.StringVar(&o.KamailioMethod, "kamailio-method", sidecar.KamailioStatsFetch, "Kamailio RPC method: stats.fetch (dialog.active_dialogs) or dlg.stats_active (all)")
	fs.StringVar(&o.AMIUser, "ami-user", "", "Asterisk manager user for a tcp:// URL (the secret is read from $AMI_SECRET)")
	var cfg sidecar.Config
	fs.DurationVar(&cfg.Interval, "interval", 5*time.Second, "how often to read the server and publish a sample")
	fs.StringVar(&cfg.Pod, "pod", os.Getenv("POD_NAME"), "the server's pod name (downward API: $POD_NAME)")
	fs.StringVar(&cfg.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the pod's namespace (downward API: $POD_NAMESPACE)")
	fs.StringVar(&cfg.Node, "node", os.Getenv("NODE_NAME"), "the pod's node (downward API: $NODE_NAME); optional")
	fs.StringVar(&cfg.Region, "region", os.Getenv("REGION"), "region label of the samples ($REGION); optional")
	fs.StringVar(&cfg.SubjectPrefix, "subject-prefix", sample.DefaultSubjectPrefix, "NATS subject prefix: samples go to <prefix>.<namespace>.<kind>.<pod>")
	var natsOpts collector.NATSOptions
	addNATSFlags(fs, &natsOpts)
	addKlogFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *source == "" {
		return errors.New("--source is required")
	}
	kind := sample.ParseKind(*source)
	if o.URL == "" {
		o.URL = sidecar.DefaultURL(kind)
	}
	o.AMISecret = os.Getenv("AMI_SECRET")
	src, err := sidecar.New(kind, o)
	if err != nil {
		return err
	}
	cfg.Source = src
	natsOpts.Password = os.Getenv("NATS_PASSWORD")
	natsOpts.Name = "rtcscale-sidecar"
	if cfg.Pod != "" {
		natsOpts.Name += "-" + cfg.Pod
	}
	// Check the pod's names before connecting, so a missing downward-API
	// variable fails the container at once rather than after a dial.
	if err := cfg.Check(); err != nil {
		return err
	}
	nc, err := collector.Dial(natsOpts, nil)
	if err != nil {
		return err
	}
	defer nc.Close()
	klog.InfoS("Publishing load samples", "source", kind, "url", o.URL, "interval", cfg.Interval, "namespace", cfg.Namespace, "pod", cfg.Pod, "natsURL", natsOpts.URL)
	return sidecar.Run(ctx, nc, cfg)
}
