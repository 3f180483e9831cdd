// Command controlplane builds the e2e suite's pinned Kubernetes and KEDA
// binaries and runs the environment the tests use (control plane, NATS,
// rtcscale's adapter registered through its APIServices, and KEDA with
// -keda) until interrupted, for poking at with kubectl. See docs/e2e.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rtcscale/rtcscale/e2e/framework"
)

func main() {
	buildOnly := flag.Bool("build-only", false, "build (or find in the cache) the control-plane and KEDA binaries, print their paths, and exit")
	keda := flag.Bool("keda", false, "also run KEDA's operator and metrics apiserver, which then own external.metrics.k8s.io")
	dir := flag.String("dir", "", "working folder for certificates, kubeconfigs, etcd data and logs (default: a new temporary folder, removed on exit)")
	flag.Parse()
	if err := run(*buildOnly, *keda, *dir, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

func run(buildOnly, keda bool, dir string, adapterArgs []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := framework.RepoRoot(".")
	if err != nil {
		return err
	}
	if buildOnly {
		bins, err := framework.EnsureBinaries(ctx, root, os.Stderr)
		if err != nil {
			return err
		}
		// KEDA's too, for the KEDA scenarios (docs/e2e.md): hack/test.sh
		// builds everything here, before go test's -timeout runs.
		kedaBins, err := framework.EnsureKEDABinaries(ctx, root, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Printf("%s\n%s\n%s\n%s\n%s\n", bins.Etcd, bins.KubeAPIServer, bins.KubeControllerManager, kedaBins.Operator, kedaBins.MetricsAPIServer)
		return nil
	}
	env, err := framework.StartEnvironment(ctx, root, framework.EnvironmentOptions{
		Options:     framework.Options{Dir: dir, Log: os.Stderr},
		AdapterArgs: adapterArgs,
		KEDA:        keda,
	})
	if err != nil {
		return err
	}
	defer env.Stop()
	fmt.Printf("Environment up; Ctrl-C stops it.\n%s", env.Describe())
	<-ctx.Done()
	return nil
}
