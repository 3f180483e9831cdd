// Package e2e proves rtcscale against the real control plane: etcd,
// kube-apiserver and kube-controller-manager built from their pinned sources
// (e2e/tools) and run on loopback. See docs/e2e.md.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/e2e/framework"
)

// raceEnabled is set by race_test.go when the tests run with -race.
var raceEnabled bool

var keep = flag.Bool("e2e.keep", false,
	"after the tests, keep the control plane running (printing a kubeconfig) until interrupted")

// coldBuildTimeout is the -timeout below which a run that must first build
// the binaries is refused: `go test` kills the test binary at -timeout plus
// one minute, which would cut the build short with no clear message.
const coldBuildTimeout = 40 * time.Minute

// cluster is the environment all tests share, started by the first test
// that asks for it (so that `go test -list` or `-run '^$'` start nothing);
// setupErr says why there is none.
var (
	setupOnce sync.Once
	cluster   *framework.Environment
	setupErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	framework.StopOnSignal(nil)
	code := m.Run()
	if cluster != nil {
		if *keep {
			waitForInterrupt()
		}
		if code != 0 {
			cluster.StopKeepDir()
			fmt.Fprintf(os.Stderr, "e2e: failed; logs kept in %s\n", cluster.Dir)
		} else {
			cluster.Stop()
		}
	}
	os.Exit(code)
}

func setup() (*framework.Environment, error) {
	ctx := context.Background()
	root, err := framework.RepoRoot(".")
	if err != nil {
		return nil, err
	}
	if !framework.BinariesCached(ctx, root) {
		if t := testTimeout(); t > 0 && t < coldBuildTimeout {
			return nil, fmt.Errorf("the control-plane binaries are not built yet and -timeout %v is too short to build them "+
				"(about 15 minutes the first time): run the tests with -timeout %v, or build first with `go run ./e2e/cmd/controlplane -build-only`",
				t, coldBuildTimeout)
		}
	}
	// Under -race the adapter is built with the race detector too, so the
	// scenarios also hunt for races in it under real apiserver traffic.
	// The deletion-cost controller is on for every scenario but writes only
	// to the pods that opt in (TestDeletionCost's), with the permission
	// that scenario grants (deploy/kustomize/components/deletion-cost).
	return framework.StartEnvironment(ctx, root, framework.EnvironmentOptions{
		Options:     controlPlaneOptions(),
		AdapterArgs: []string{"--pod-deletion-cost", "--pod-deletion-cost-interval=1s"},
		Race:        raceEnabled,
	})
}

// controlPlaneOptions are those of every environment of the suite.
func controlPlaneOptions() framework.Options {
	// New pods spend a second Running but not Ready, as servers that start
	// up do: the HPA and the adapter must handle that state.
	return framework.Options{Log: os.Stderr, PodReadyAfter: time.Second}
}

// testTimeout is the -test.timeout the binary runs with (0: none).
func testTimeout() time.Duration {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 0
	}
	d, _ := time.ParseDuration(f.Value.String())
	return d
}

func waitForInterrupt() {
	fmt.Fprintf(os.Stderr, "e2e: control plane kept up (-e2e.keep); Ctrl-C to stop it\n%s", cluster.Describe())
	ch := make(chan os.Signal, 1)
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	<-ch
}

// env returns the shared environment, or ends the test: skipped when
// RTCSCALE_E2E=0, failed when setting it up failed.
func env(t testing.TB) *framework.Environment {
	t.Helper()
	skipUnlessE2E(t)
	setupOnce.Do(func() { cluster, setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("e2e environment: %v", setupErr)
	}
	if err := cluster.Check(); err != nil {
		t.Fatal(err)
	}
	checkAdapterLog(t, cluster.Adapter)
	return cluster
}

// skipUnlessE2E skips the test when RTCSCALE_E2E=0.
func skipUnlessE2E(t testing.TB) {
	if os.Getenv("RTCSCALE_E2E") == "0" {
		t.Skip("e2e tests skipped: RTCSCALE_E2E=0")
	}
}

// checkAdapterLog fails the test, when it ends, if the adapter's log shows
// a refused request or a data race (Adapter.Problems).
func checkAdapterLog(t testing.TB, a *framework.Adapter) {
	t.Cleanup(func() {
		lines, err := a.Problems()
		if err != nil {
			t.Error(err)
		}
		for _, l := range lines {
			t.Errorf("adapter log: %s", l)
		}
	})
}
