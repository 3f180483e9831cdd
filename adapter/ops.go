package adapter

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
}

// NewOpsHandler serves rtcscale's self-metrics (/metrics) and its health
// (/healthz: the process runs; /readyz: every check passes, and which does
// not). It runs on its own port so that Prometheus and kubelet probes need
// no access to the metrics APIs.
func NewOpsHandler(g prometheus.Gatherer, checks ...Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		var failed []string
		var b strings.Builder
		for _, c := range checks {
			if err := c.Check(); err != nil {
				failed = append(failed, c.Name)
				fmt.Fprintf(&b, "[-]%s failed: %v\n", c.Name, err)
			} else {
				fmt.Fprintf(&b, "[+]%s ok\n", c.Name)
			}
		}
		if len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(&b, "readyz check failed: %s\n", strings.Join(failed, ", "))
		} else {
			b.WriteString("ok\n")
		}
		fmt.Fprint(w, b.String())
	})
	return mux
}
