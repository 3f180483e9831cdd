package framework

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Environment is everything the e2e scenarios run against: the control
// plane, a NATS server in this process, and rtcscale's adapter registered
// with the aggregation layer.
type Environment struct {
	*ControlPlane
	NATS *server.Server
	// Conn is a NATS connection for publishing samples.
	Conn    *nats.Conn
	Adapter *Adapter
	// KEDA runs when EnvironmentOptions.KEDA is set.
	KEDA *KEDA
}

// EnvironmentOptions configure an Environment.
type EnvironmentOptions struct {
	Options
	// AdapterArgs are extra flags for `rtcscale adapter`.
	AdapterArgs []string
	// Race builds rtcscale with the race detector; Adapter.Problems then
	// reports the races it finds.
	Race bool
	// JetStreamDir, if set, runs the NATS server with JetStream storing
	// there, so that the adapter keeps its workloads' histories in it
	// (docs/forecast.md). Without JetStream the adapter has no history
	// store and its forecasts are the current sums.
	JetStreamDir string
	// BeforeAdapter, if set, runs once NATS is up and before the adapter
	// starts: to fill the history stream the adapter loads when it starts.
	BeforeAdapter func(context.Context, *Environment) error
	// KEDA runs KEDA's operator and metrics apiserver (StartKEDA), built
	// from e2e/tools/keda. KEDA then owns external.metrics.k8s.io, so the
	// adapter runs with AdapterOptions.NoExternalMetrics.
	KEDA bool
}

// StartEnvironment builds what is missing (the pinned binaries, rtcscale)
// and starts the environment. On error everything started is stopped.
func StartEnvironment(ctx context.Context, repoRoot string, opts EnvironmentOptions) (_ *Environment, err error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	bins, err := EnsureBinaries(ctx, repoRoot, opts.Log)
	if err != nil {
		return nil, err
	}
	var kedaBins KEDABinaries
	if opts.KEDA {
		if kedaBins, err = EnsureKEDABinaries(ctx, repoRoot, opts.Log); err != nil {
			return nil, err
		}
	}
	env := &Environment{}
	defer func() {
		if err != nil {
			env.Stop()
		}
	}()
	if env.ControlPlane, err = Start(ctx, bins, opts.Options); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, "e2e: building rtcscale\n")
	rtcscale, err := BuildRTCScale(ctx, repoRoot, filepath.Join(env.Dir, "bin"), opts.Race)
	if err != nil {
		return nil, err
	}
	if env.NATS, err = StartNATS(opts.JetStreamDir); err != nil {
		return nil, err
	}
	if env.Conn, err = nats.Connect(env.NATS.ClientURL()); err != nil {
		return nil, err
	}
	if opts.BeforeAdapter != nil {
		if err := opts.BeforeAdapter(ctx, env); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(opts.Log, "e2e: starting rtcscale adapter\n")
	env.Adapter, err = StartAdapter(ctx, env.ControlPlane, repoRoot, AdapterOptions{
		Binary: rtcscale, NATSURL: env.NATS.ClientURL(), Args: opts.AdapterArgs, NoExternalMetrics: opts.KEDA,
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, "e2e: adapter registered: %v\n", env.Adapter.APIServices)
	if opts.KEDA {
		if env.KEDA, err = StartKEDA(ctx, env.ControlPlane, kedaBins, opts.Log); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// Stop stops KEDA, the adapter, NATS and the control plane, and removes the
// working folder if it was temporary.
func (e *Environment) Stop() { e.stop(false) }

// StopKeepDir is Stop without removing the working folder (for the logs).
func (e *Environment) StopKeepDir() { e.stop(true) }

func (e *Environment) stop(keep bool) {
	if e.KEDA != nil {
		e.KEDA.Stop()
	}
	if e.Adapter != nil {
		e.Adapter.Stop()
	}
	if e.Conn != nil {
		e.Conn.Close()
	}
	if e.NATS != nil {
		e.NATS.Shutdown()
	}
	if e.ControlPlane != nil {
		e.ControlPlane.stop(keep)
	}
}

// Check returns an error if a process of the environment has exited.
func (e *Environment) Check() error {
	if err := e.ControlPlane.Check(); err != nil {
		return err
	}
	if e.KEDA != nil {
		if err := e.KEDA.Check(); err != nil {
			return err
		}
	}
	return e.Adapter.Process.ExitError()
}

// Describe tells a person how to reach the environment.
func (e *Environment) Describe() string {
	s := fmt.Sprintf(`  export KUBECONFIG=%s
  kubectl get --raw /apis/custom.metrics.k8s.io/v1beta2
  NATS (publish samples here): %s
  adapter: %s (self-metrics and probes: %s)
  logs: %s
`, e.AdminKubeconfig, e.NATS.ClientURL(), e.Adapter.URL, e.Adapter.OpsURL, filepath.Join(e.Dir, "logs"))
	if e.KEDA != nil {
		s += fmt.Sprintf("  KEDA %s (owns external.metrics.k8s.io): kubectl get scaledobjects -A\n", e.KEDA.Version)
	}
	return s
}
