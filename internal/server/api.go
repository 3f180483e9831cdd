package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"k8s.io/apiserver/pkg/server/healthz"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"

	"github.com/rtcscale/rtcscale/adapter"
)

// GenericAPI returns the run of the metrics APIs served by
// custom-metrics-apiserver's generic API server, configured by base's
// flags (TLS, delegated authentication and authorization), with s's
// readiness checks on its /readyz too: what the aggregation layer and the
// HPA reach in a cluster.
func GenericAPI(base *basecmd.AdapterBase, s *Server) (func(context.Context) error, error) {
	base.WithCustomMetrics(s.Provider)
	if s.cfg.ExternalMetrics {
		base.WithExternalMetrics(s.Provider)
	}
	// Selectors are checked before the library parses them, so that a
	// malformed metricLabelSelector is a 400 as a labelSelector is.
	cfg, err := base.Config()
	if err != nil {
		return nil, err
	}
	cfg.GenericConfig.BuildHandlerChainFunc = adapter.BuildHandlerChain
	adapter.TrimOpenAPI(cfg.GenericConfig.OpenAPIConfig, cfg.GenericConfig.OpenAPIV3Config)
	srv, err := base.Server()
	if err != nil {
		return nil, err
	}
	// The history store's state stays on the metrics port's
	// /readyz?verbose only: the generic server's checks have no way to
	// report without failing.
	for _, c := range s.Checks() {
		if c.Warn {
			continue
		}
		if err := srv.GenericAPIServer.AddReadyzChecks(healthz.NamedCheck(c.Name, func(*http.Request) error { return c.Check() })); err != nil {
			return nil, err
		}
	}
	return srv.GenericAPIServer.PrepareRun().RunWithContext, nil
}

// LocalAPI returns the run of the metrics APIs served over plain HTTP on
// ln with no authentication (adapter.NewLocalHandler): the demo's. Keep
// ln on loopback.
func LocalAPI(ln net.Listener, s *Server) (func(context.Context) error, error) {
	h, err := adapter.NewLocalHandler(s.Provider, s.cfg.ExternalMetrics)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			<-ctx.Done()
			srv.Close()
		}()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, nil
}

// StartLocal completes c and runs it behind LocalAPI on ln until ctx ends,
// as the demo and the tests run the adapter; it returns once the server is
// Ready, or with the error that stopped it first. done then yields Run's
// result, after ctx ends.
func (c Config) StartLocal(ctx context.Context, ln net.Listener) (_ *Server, done <-chan error, err error) {
	s, err := c.Complete()
	if err != nil {
		return nil, nil, err
	}
	api, err := LocalAPI(ln, s)
	if err != nil {
		return nil, nil, err
	}
	result := make(chan error, 1)
	go func() { result <- s.Run(ctx, api) }()
	select {
	case <-s.Ready():
		return s, result, nil
	case err := <-result:
		if err == nil {
			err = ctx.Err()
		}
		return nil, nil, err
	}
}
