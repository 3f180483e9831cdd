package adapter

import (
	"fmt"
	"net/http"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"
)

// NewLocalHandler serves the metrics APIs of p over plain HTTP with no
// authentication: the same handlers, routing and encoding the HPA reaches
// through the aggregation layer, for the demo and for tests. Never expose
// it beyond loopback; `rtcscale adapter` serves TLS with delegated
// authentication and authorization instead.
func NewLocalHandler(p *Provider, external bool) (http.Handler, error) {
	cfg := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	// Discovery names an address for clients; a local server has no
	// secure port to derive it from.
	cfg.ExternalAddress = "127.0.0.1:0"
	// The generic server insists on a loopback client config; nothing in
	// a metrics adapter uses it.
	cfg.LoopbackClientConfig = &rest.Config{Host: "127.0.0.1:0"}
	// A local server has no loopback client, authenticator or authorizer,
	// and no informers: the handler chain skips what is not configured.
	cfg.SkipOpenAPIInstallation = true
	cfg.EnableIndex = false
	cfg.EnableProfiling = false
	cfg.BuildHandlerChainFunc = BuildHandlerChain
	var em provider.ExternalMetricsProvider
	if external {
		em = p
	}
	srv, err := (&apiserver.Config{GenericConfig: &cfg.Config}).Complete(nil).New("rtcscale-local", p, em)
	if err != nil {
		return nil, fmt.Errorf("building the local metrics API server: %w", err)
	}
	return srv.GenericAPIServer.Handler, nil
}
