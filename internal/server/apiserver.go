package server

import (
	"context"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// awaitAPIServer probes the Kubernetes API server at url until it answers,
// and says at the default verbosity each time it does not. The informers
// retry on their own, in client-go's lines about a resource type; an
// operator whose adapter stays unready needs one line naming the server it
// cannot reach and what waits for it. Probes back off from first to most
// apart.
func awaitAPIServer(ctx context.Context, url string, probe func(context.Context) error, first, most time.Duration) {
	delay := first
	for attempt := 1; ; attempt++ {
		err := probe(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if attempt > 1 {
				klog.InfoS("Reached the Kubernetes API server", "url", url, "attempts", attempt)
			}
			return
		}
		klog.ErrorS(err, "Kubernetes API server unreachable; the pod informers cannot sync, so the adapter stays unready and its metrics wait for it", "url", url, "attempt", attempt, "retryIn", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, most)
	}
}

// versionProbe asks the API server for its version, which every client may
// read (system:public-info-viewer), each try within timeout.
func versionProbe(client kubernetes.Interface, timeout time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error()
	}
}
