// Package ops serves what rtcscale's processes show to their operators and
// to the kubelet on their ops port: self-metrics and probes. The adapter
// and the sidecar share it, so it depends on nothing heavier than
// client_golang.
package ops

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is a named readiness condition; nil means ready.
type Check struct {
	Name  string
	Check func() error
	// Warn reports a failure without failing readiness, for a feature that
	// is degraded while every value served stays right (forecasts without
	// their history are reactive, not wrong): taking the replica out of
	// the Service would only take its correct values away.
	Warn bool
}

// NewHandler serves rtcscale's self-metrics (/metrics) and its health
// (/healthz: the process runs; /readyz: every check passes). As Kubernetes
// components do, /readyz answers "ok" when ready, and lists every check,
// with why it fails, when not ready or asked with ?verbose; a failing Warn
// check shows there as [!] and leaves the answer 200. It runs on its own
// port so that Prometheus and kubelet probes need no access to the metrics
// APIs. A caller may add its own paths to the returned mux.
func NewHandler(g prometheus.Gatherer, checks ...Check) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		var failed []string
		var b strings.Builder
		for _, c := range checks {
			switch err := c.Check(); {
			case err == nil:
				fmt.Fprintf(&b, "[+]%s ok\n", c.Name)
			case c.Warn:
				fmt.Fprintf(&b, "[!]%s warning (ready nonetheless): %v\n", c.Name, err)
			default:
				failed = append(failed, c.Name)
				fmt.Fprintf(&b, "[-]%s failed: %v\n", c.Name, err)
			}
		}
		switch {
		case len(failed) > 0:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(&b, "readyz check failed: %s\n", strings.Join(failed, ", "))
		case r.URL.Query().Has("verbose"):
			b.WriteString("readyz check passed\n")
		default:
			b.Reset()
			b.WriteString("ok\n")
		}
		fmt.Fprint(w, b.String())
	})
	return mux
}
