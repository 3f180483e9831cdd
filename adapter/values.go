package adapter

import (
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rtcscale/rtcscale/collector"
)

// The values below are the metrics APIs' answers for servers other than
// the aggregated API (the KEDA external scaler): the same sums, with the
// same staleness and draining rules and the same errors, without the
// Kubernetes API types around them.

// Value is a value served from memory and the time of the oldest sample in
// it.
type Value struct {
	Value float64
	Time  time.Time
}

// WorkloadSum is gauge summed over the pods of workload w in namespace, as
// the Object metric deployments.apps/NAME/GAUGE serves it. A workload
// without pods is an error naming it: the store cannot tell a workload
// scaled to zero from a typo.
func (p *Provider) WorkloadSum(namespace string, w collector.Workload, gauge string) (Value, error) {
	a, err := p.workloadAggregate(namespace, w, gauge, labels.Everything())
	if err != nil {
		return Value{}, err
	}
	p.metrics.age(a.Oldest)
	return Value{a.Sum, a.Oldest}, nil
}

// WorkloadForecast is <gauge>_forecast of workload w, as the Object
// metric serves it.
func (p *Provider) WorkloadForecast(namespace string, w collector.Workload, gauge string) (Value, error) {
	v, ts, err := p.forecast(namespace, []collector.WorkloadKind{w.Kind}, w.Name, gauge)
	return Value{v, ts}, err
}

// SelectorSum is gauge summed over the pods of namespace whose labels
// match podSel. Unlike a workload's sum, no pod at all is a fresh 0, not
// an error: the selector then picks a pool that is scaled to zero, or
// whose pods have not published yet. Pods that should have a fresh value
// and do not make it an error, as they make any sum one.
func (p *Provider) SelectorSum(namespace string, podSel labels.Selector, gauge string) (Value, error) {
	a, cov := p.store.SelectorAggregate(namespace, podSel, gauge)
	if cov.GaugeKnown && cov.Fresh == 0 && cov.Missing == 0 {
		return Value{}, nil
	}
	if err := p.complete(gauge, cov, fmt.Sprintf("pods matching %q in namespace %s", podSel.String(), namespace), target{namespace: namespace}); err != nil {
		return Value{}, err
	}
	p.metrics.age(a.Oldest)
	return Value{a.Sum, a.Oldest}, nil
}

// WorkloadKind is the kind of workload the resource gr names, as an Object
// metric's describedObject names it (deployments.apps, or deployments).
func WorkloadKind(gr schema.GroupResource) (collector.WorkloadKind, bool) {
	k, ok := workloadResources[normalize(gr)]
	return k, ok
}

// workloadAggregate is the sum over w's pods, or the error that explains
// why it is not served.
func (p *Provider) workloadAggregate(namespace string, w collector.Workload, gauge string, metricSel labels.Selector) (collector.Aggregate, error) {
	a, cov := p.store.WorkloadAggregate(namespace, w, gauge, metricSel)
	err := p.complete(gauge, cov, fmt.Sprintf("%s %s/%s", strings.ToLower(w.Kind.String()), namespace, w.Name), target{namespace: namespace, workload: w})
	return a, err
}

// staleError marks a refusal for want of fresh samples: the value exists
// but is not known now. It is still the 404 the metrics APIs answer.
type staleError struct{ *apierrors.StatusError }

func (e staleError) Unwrap() error { return e.StatusError }

func noFreshValue(err error) error {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		return staleError{se}
	}
	return err
}

// IsNoFreshValue reports whether err refuses a value because samples that
// should be in it are stale or missing, rather than because the request
// names something that does not exist. A caller that must fail safe (the
// KEDA scaler's activity) treats such a value as unknown, not as 0.
func IsNoFreshValue(err error) bool {
	var se staleError
	return errors.As(err, &se)
}
