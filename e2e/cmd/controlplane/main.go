// Command controlplane builds the e2e suite's pinned Kubernetes binaries and
// runs the same loopback control plane the tests use, until interrupted, for
// poking at with kubectl. See docs/e2e.md.
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
	buildOnly := flag.Bool("build-only", false, "build (or find in the cache) the binaries, print their paths, and exit")
	dir := flag.String("dir", "", "working folder for certificates, kubeconfigs, etcd data and logs (default: a new temporary folder, removed on exit)")
	flag.Parse()
	if err := run(*buildOnly, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

func run(buildOnly bool, dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := framework.RepoRoot(".")
	if err != nil {
		return err
	}
	bins, err := framework.EnsureBinaries(ctx, root, os.Stderr)
	if err != nil {
		return err
	}
	if buildOnly {
		fmt.Printf("%s\n%s\n%s\n", bins.Etcd, bins.KubeAPIServer, bins.KubeControllerManager)
		return nil
	}
	cp, err := framework.Start(ctx, bins, framework.Options{Dir: dir, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer cp.Stop()
	fmt.Printf("Control plane up. Logs: %s/logs\n  export KUBECONFIG=%s\nCtrl-C stops it.\n", cp.Dir, cp.AdminKubeconfig)
	<-ctx.Done()
	return nil
}
