package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/ops"
)

// DrainPath is where the sidecar's HTTP server takes drain requests.
const DrainPath = "/drain"

// Handler serves the sidecar's HTTP port: /metrics (g's), /healthz,
// /readyz (checks "server": the latest poll read the server; "nats": the
// connection is up) and POST /drain (DrainHandler).
func (p *Publisher) Handler(g prometheus.Gatherer, drainTimeout time.Duration) http.Handler {
	mux := ops.NewHandler(g,
		ops.Check{Name: "server", Check: p.Ready},
		ops.Check{Name: "nats", Check: natsconn.Connected(p.nc)})
	mux.Handle(DrainPath, p.DrainHandler(drainTimeout))
	return mux
}

// DrainHandler drains the server (Drain) and answers when it is empty,
// 200, or at the deadline, 504; the body says where the drain stands.
// ?timeout=D (a Go duration, such as 30m) sets the deadline, default
// drainTimeout. Only POST from the pod's loopback is taken: a drain takes
// the pod's server out of service, which nothing outside the pod may do,
// while Prometheus and the kubelet reach the same port from outside.
func (p *Publisher) DrainHandler(drainTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "a drain is a POST", http.StatusMethodNotAllowed)
			return
		}
		if !fromLoopback(r) {
			http.Error(w, "a drain is only taken from the pod's loopback (run the drain command in the pod)", http.StatusForbidden)
			return
		}
		timeout := drainTimeout
		if v := r.URL.Query().Get("timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				http.Error(w, fmt.Sprintf("timeout %q is not a positive duration such as 30m", v), http.StatusBadRequest)
				return
			}
			timeout = d
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		st, err := p.Drain(ctx)
		switch {
		case err == nil:
			klog.InfoS("Drained: the server is empty", "subject", p.subject, "drain", st.String())
			fmt.Fprintln(w, st)
		case errors.Is(err, context.DeadlineExceeded):
			msg := fmt.Sprintf("not drained within %s: %s", timeout, st)
			klog.InfoS("A drain request's deadline passed with the server not empty", "subject", p.subject, "drain", msg)
			http.Error(w, msg, http.StatusGatewayTimeout)
		case errors.Is(err, errStopped):
			http.Error(w, fmt.Sprintf("%v: %s", err, st), http.StatusServiceUnavailable)
		}
		// Otherwise the client went away: nobody reads an answer, and the
		// drain goes on for the next request.
	})
}

// fromLoopback says whether a request came from this host's loopback:
// from a container of the pod, which shares its network namespace.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RequestDrain asks the sidecar whose HTTP server is at address (host:port)
// to drain its server, and waits for the answer: what the drain command
// runs as the server container's preStop hook. It returns the sidecar's
// account of the drain, and an error unless the server is empty. timeout 0
// leaves the deadline to the sidecar (its --drain-timeout).
func RequestDrain(ctx context.Context, address string, timeout time.Duration) (string, error) {
	if _, _, err := net.SplitHostPort(address); err != nil {
		return "", fmt.Errorf("the sidecar's address %q is not host:port: %w", address, err)
	}
	u := url.URL{Scheme: "http", Host: address, Path: DrainPath}
	if timeout > 0 {
		u.RawQuery = url.Values{"timeout": {timeout.String()}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return "", err
	}
	// No proxy: the sidecar is on the pod's loopback, whatever the
	// server container's environment says.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("asking the sidecar to drain: %w (is it running, serving on %s?)", err, address)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return "", fmt.Errorf("reading the sidecar's answer: %w", err)
	}
	answer := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return answer, fmt.Errorf("%s: %s", resp.Status, answer)
	}
	return answer, nil
}
