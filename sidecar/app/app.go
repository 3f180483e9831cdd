// Package app is the sidecar's command line, shared by the small
// rtcscale-sidecar binary that runs in RTC pods and by `rtcscale sidecar`.
// It links only the sidecar and what the sidecar needs (NATS client,
// klog, pflag, client_golang), never the adapter's Kubernetes libraries:
// what it imports decides the size and memory of every RTC pod's sidecar.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/internal/klogflags"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

// defaultAddress is where the sidecar serves its HTTP port unless told
// otherwise. 9091: the adapter's is 9090, and RTC servers use neither
// (Asterisk 8088 and 5038, Kamailio 5060 and its RPC's 8080, JVB's
// private REST API 8080, rtpengine 2223 and 2225).
const defaultAddress = ":9091"

// defaultDrainTimeout is how long a drain waits for the server to empty
// unless told otherwise: an hour, longer than nearly every call and
// conference, where the kubelet's default grace period of 30 s cuts them.
// The pod's terminationGracePeriodSeconds must be a little longer than
// the drain's, or the kubelet ends the drain first.
const defaultDrainTimeout = time.Hour

// helpColumns is where --help wraps the flags' descriptions, as
// rtcscale's other commands do.
const helpColumns = 100

// shutdownWait bounds how long the HTTP server waits for the answers under
// way (a drain told that the sidecar stops) on shutdown.
const shutdownWait = 2 * time.Second

// Run runs the sidecar command, named name in its usage: with args
// "drain ..." the drain command, otherwise the sidecar itself, until ctx is
// done.
func Run(ctx context.Context, name string, args []string) error {
	if len(args) > 0 && args[0] == "drain" {
		err := runDrain(ctx, name+" drain", args[1:])
		if err != nil && !errors.Is(err, pflag.ErrHelp) {
			err = fmt.Errorf("drain: %w", err)
		}
		return err
	}
	return runSidecar(ctx, name, args)
}

func runSidecar(ctx context.Context, name string, args []string) error {
	// The flags in sections, the sidecar's own first, as --help lists
	// them.
	sections := []struct {
		title string
		fs    *pflag.FlagSet
	}{{"server", pflag.NewFlagSet("server", pflag.ContinueOnError)}, {"pod and samples", pflag.NewFlagSet("pod", pflag.ContinueOnError)},
		{"sidecar", pflag.NewFlagSet("sidecar", pflag.ContinueOnError)}, {"Kamailio dispatcher", pflag.NewFlagSet("dispatcher", pflag.ContinueOnError)},
		{"NATS", pflag.NewFlagSet("NATS", pflag.ContinueOnError)}, {"logging", pflag.NewFlagSet("logging", pflag.ContinueOnError)}}
	server, pod, side, dispatcher := sections[0].fs, sections[1].fs, sections[2].fs, sections[3].fs
	var kinds []string
	for _, k := range sidecar.SourceKinds() {
		kinds = append(kinds, fmt.Sprintf("%s (default URL %s)", k, sidecar.DefaultURL(k)))
	}
	source := server.String("source", "", "kind of server to read: "+strings.Join(kinds, ", "))
	var o sidecar.Options
	server.StringVar(&o.URL, "url", "", "the server's endpoint; the default depends on --source. rtpengine: a path ending in /metrics reads Prometheus counters, any other is sent the ng statistics command as JSON (/ng-plain). asterisk: http://.../metrics reads res_prometheus, tcp://host:port reads AMI")
	server.StringVar(&o.KamailioMethod, "kamailio-method", sidecar.KamailioStatsFetch, "Kamailio RPC method: stats.fetch (dialog.active_dialogs) or dlg.stats_active (all)")
	server.StringVar(&o.AMIUser, "ami-user", "", "Asterisk manager user, to read over a tcp:// URL or to drain (the secret is read from $AMI_SECRET)")
	server.StringVar(&o.AMIURL, "ami-url", "", "asterisk: the manager interface (tcp://host:port) that drains it; default --url when that is tcp://, else tcp://127.0.0.1:5038. Read over http://.../metrics to see the calls during a graceful stop: Asterisk refuses every AMI action then")
	server.StringVar(&o.AsteriskDrain, "asterisk-drain", sidecar.AsteriskDrainGracefully, "asterisk: how a drain stops it: "+sidecar.AsteriskDrainGracefully+" (core stop gracefully: no new calls, exits after the last) or "+sidecar.AsteriskDrainWhenConvenient+" (core stop when convenient: exits when idle, still takes calls)")
	server.StringVar(&o.JVBDrain, "jvb-drain", sidecar.JVBDrainMode, "jvb: how a drain stops it: "+sidecar.JVBDrainMode+" (POST /colibri/drain/enable: no new conferences) or "+sidecar.JVBGracefulShutdown+" (POST /colibri/shutdown, graceful; needs rest.shutdown.enabled)")
	server.StringVar(&o.RTPEngineCLI, "rtpengine-cli", "", "rtpengine: its command-line interface (--listen-cli), host:port, where a drain sets maxsessions 0; default 127.0.0.1:9900")
	var cfg sidecar.Config
	pod.DurationVar(&cfg.Interval, "interval", 5*time.Second, "how often to read the server and publish a sample")
	pod.StringVar(&cfg.Pod, "pod", os.Getenv("POD_NAME"), "the server's pod name (downward API: $POD_NAME)")
	pod.StringVar(&cfg.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the pod's namespace (downward API: $POD_NAMESPACE)")
	pod.StringVar(&cfg.Node, "node", os.Getenv("NODE_NAME"), "the pod's node (downward API: $NODE_NAME); optional")
	pod.StringVar(&cfg.Region, "region", os.Getenv("REGION"), "region label of the samples ($REGION); optional")
	pod.StringVar(&cfg.SubjectPrefix, "subject-prefix", sample.DefaultSubjectPrefix, "NATS subject prefix: samples go to <prefix>.<namespace>.<kind>.<pod>")
	pod.StringVar(&cfg.Addr, "sip-address", "", "where the SIP proxy in front sends this server its calls, host:port (e.g. $(POD_IP):5060), published so that a Kamailio sidecar takes this pod out of its dispatcher set while it drains; optional")
	var dc sidecar.DispatcherConfig
	backends := dispatcher.StringSlice("dispatcher-backends", nil, "kamailio: the kinds of server (asterisk, ...) of the dispatcher set --dispatcher-group; turns the dispatcher on: a backend whose samples say draining is disabled in the set, and enabled again when it serves (its sidecar's --sip-address names its destination)")
	dispatcher.IntVar(&dc.Group, "dispatcher-group", 1, "kamailio: the dispatcher set (setid) that --dispatcher-backends keeps in step")
	dispatcher.StringVar(&dc.Namespace, "dispatcher-namespace", "", "kamailio: the backends' namespace (default: --namespace)")
	dispatcher.DurationVar(&dc.Resync, "dispatcher-resync", sidecar.DefaultDispatcherResync, "kamailio: how often the set is read again (dispatcher.list) and corrected, as after a Kamailio restart")
	addr := side.String("metrics-bind-address", defaultAddress, "where to serve self-metrics (/metrics), probes (/healthz, /readyz) and drain requests (POST /drain, taken from the pod's loopback only)")
	drainTimeout := side.Duration("drain-timeout", defaultDrainTimeout, "how long a drain waits for the server to empty, unless the request says (set the pod's terminationGracePeriodSeconds a little longer)")
	copyTo := side.String("copy-binary-to", "", "copy this binary to this path at start (in an emptyDir the server container mounts too), so that the server container's preStop hook can run PATH drain whatever its image")
	var natsOpts natsconn.Options
	natsOpts.AddFlags(sections[4].fs)
	klogflags.Add(sections[5].fs)
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	for _, sec := range sections {
		fs.AddFlagSet(sec.fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s --source KIND [flags]\n"+
			"       %s drain [--timeout D] [--address host:port]\n\n"+
			"Reads the pod's RTC server and publishes its load on NATS; drain (the server container's preStop hook) drains it.\n\n", name, name)
		for _, sec := range sections {
			fmt.Fprintf(fs.Output(), "%s flags:\n\n%s\n", sec.title, sec.fs.FlagUsagesWrapped(helpColumns))
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	kind, err := sidecar.ParseSourceKind(*source)
	if err != nil {
		return fmt.Errorf("--source: %w", err)
	}
	if *drainTimeout <= 0 {
		return fmt.Errorf("--drain-timeout %s is not positive", *drainTimeout)
	}
	if o.URL == "" {
		o.URL = sidecar.DefaultURL(kind)
	}
	o.AMISecret = os.Getenv("AMI_SECRET")
	if kind == sample.KindAsterisk && strings.HasPrefix(o.URL, "tcp://") && o.AsteriskDrain == sidecar.AsteriskDrainGracefully {
		klog.InfoS("Warning: reading Asterisk over AMI, a drain cannot see its calls (Asterisk refuses every AMI action during a graceful stop) and ends when Asterisk exits or at --drain-timeout; read res_prometheus (--url http://127.0.0.1:8088/metrics) and drain over --ami-url", "url", o.URL)
	}
	if cfg.Source, err = sidecar.New(kind, o); err != nil {
		return err
	}
	var disp *sidecar.Dispatcher
	if len(*backends) > 0 {
		if kind != sample.KindKamailio {
			return fmt.Errorf("--dispatcher-backends: a dispatcher set is Kamailio's; this sidecar reads %s", kind)
		}
		for _, b := range *backends {
			dc.Kinds = append(dc.Kinds, sample.ParseKind(b))
		}
		if dc.Namespace == "" {
			dc.Namespace = cfg.Namespace
		}
		dc.URL, dc.SubjectPrefix = o.URL, cfg.SubjectPrefix
		if disp, err = sidecar.NewDispatcher(dc); err != nil {
			return fmt.Errorf("--dispatcher-backends: %w", err)
		}
	}
	// Check the pod's names before connecting, so a missing downward-API
	// variable fails the container at once rather than after a dial.
	if err := cfg.Check(); err != nil {
		return err
	}
	if *copyTo != "" {
		if err := copyBinary(*copyTo); err != nil {
			return fmt.Errorf("--copy-binary-to: %w", err)
		}
		klog.InfoS("Copied this binary for the server container's preStop hook", "path", *copyTo)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("--metrics-bind-address: %w", err)
	}
	defer ln.Close()

	natsOpts.Password = os.Getenv("NATS_PASSWORD")
	natsOpts.Name = "rtcscale-sidecar-" + cfg.Pod
	nc, err := natsconn.Dial(natsOpts, nil)
	if err != nil {
		return err
	}
	defer nc.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Metrics = reg
	p, err := sidecar.NewPublisher(nc, cfg)
	if err != nil {
		return err
	}
	if disp != nil {
		reg.MustRegister(disp.Collector())
		dctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			if err := disp.Run(dctx, nc); err != nil {
				klog.ErrorS(err, "The dispatcher set is not kept in step with its backends")
			}
		}()
	}
	srv := &http.Server{Handler: p.Handler(reg, *drainTimeout), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.ErrorS(err, "The sidecar's HTTP server failed; no metrics, probes or drains", "address", *addr)
		}
	}()
	klog.InfoS("Publishing load samples", "source", kind, "url", o.URL, "interval", cfg.Interval, "namespace", cfg.Namespace, "pod", cfg.Pod,
		"natsURL", natsconn.RedactURLs(natsOpts.URL), "address", ln.Addr().String())
	err = p.Run(ctx)
	// Run has returned, so any drain under way answers that the sidecar
	// stops; let those answers go out.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		klog.InfoS("Not every HTTP answer went out before the sidecar stopped", "err", serr)
	}
	return err
}

// copyBinary copies the running binary to path. It writes a temporary
// file and renames it into place: a sidecar that restarts must not write
// into the copy that a preStop hook may be running (ETXTBSY), and a hook
// must never find half a binary.
func copyBinary(path string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails once renamed
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func runDrain(ctx context.Context, name string, args []string) error {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	address := fs.String("address", "127.0.0.1"+defaultAddress, "the sidecar's HTTP server (its --metrics-bind-address), on the pod's loopback")
	timeout := fs.Duration("timeout", 0, "how long to wait for the server to empty; 0: the sidecar's --drain-timeout")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [--timeout D] [--address host:port]\n\n"+
			"Drains the pod's RTC server through its sidecar and waits until it is empty: the server container's preStop hook.\n"+
			"Exits 0 once the server is empty, 1 if it is not by the deadline or the sidecar cannot drain it.\n\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *timeout < 0 {
		return fmt.Errorf("--timeout %s is negative", *timeout)
	}
	answer, err := sidecar.RequestDrain(ctx, *address, *timeout)
	if err != nil {
		return err
	}
	fmt.Println(answer)
	return nil
}
