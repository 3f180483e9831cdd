package adapter

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/collector"
)

// target is what a request asked about, so that an empty answer can say
// when it does not exist: a typo in the HPA's namespace, workload or kind
// is a mistake of the request, not a silent sidecar.
type target struct {
	namespace string             // "" for every namespace (external, all namespaces)
	workload  collector.Workload // zero unless one workload was asked about
	pod       string             // "" unless one pod was asked about
}

// maxListed bounds the workloads an error names, so that it stays one
// readable line in an HPA's events whatever the namespace holds.
const maxListed = 5

// absent returns a 404 naming the part of t the cluster does not have, as
// far as the informers have told the store, or nil when all of it exists.
// It reads the store's pods, on the error path only.
func (p *Provider) absent(t target) error {
	if t.namespace == "" {
		return nil
	}
	if t.pod != "" && p.store.KnownPod(t.namespace, t.pod) {
		return nil
	}
	sc := p.store.Scope(t.namespace)
	switch {
	case sc.Pods == 0:
		return notFound("namespace %q has no pod rtcscale knows of", clip(t.namespace))
	case t.pod != "":
		return notFound("namespace %s has no pod %q that rtcscale knows of", t.namespace, clip(t.pod))
	case t.workload.Kind != collector.WorkloadNone && !sc.Has(t.workload):
		return noWorkload(t.namespace, t.workload, sc.Workloads)
	}
	return nil
}

// noWorkload says that w has no pod, and what the namespace has instead:
// the same name as another kind (a DaemonSet asked for as a Deployment),
// else the workloads of w's kind, else those of any kind.
func noWorkload(namespace string, w collector.Workload, have []collector.Workload) error {
	kind := strings.ToLower(w.Kind.String())
	var sameKind, all []string
	for _, o := range have {
		if o.Name == w.Name {
			return notFound("%s %s/%s has no pod rtcscale knows of, but %s %s/%s has: ask for %s/%s",
				kind, namespace, clip(w.Name), strings.ToLower(o.Kind.String()), namespace, o.Name, resourceOf(o.Kind), o.Name)
		}
		if o.Kind == w.Kind {
			sameKind = append(sameKind, o.Name)
		}
		all = append(all, strings.ToLower(o.Kind.String())+" "+o.Name)
	}
	there := kind + "s there: " + list(sameKind)
	switch {
	case len(have) == 0:
		there = "its pods belong to no workload"
	case len(sameKind) == 0:
		there = "workloads there: " + list(all)
	}
	return notFound("%s %q in namespace %s has no pod rtcscale knows of (%s)", kind, clip(w.Name), namespace, there)
}

// resourceOf is the resource an HPA's describedObject or a request path
// names for kind: daemonsets.apps for DaemonSet.
func resourceOf(kind collector.WorkloadKind) string {
	return strings.ToLower(kind.String()) + "s.apps"
}

// list joins names, at most maxListed of them.
func list(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
}

// noPodValues explains an empty Pods metric: a namespace without pods,
// selectors that match none of its pods, then the gauge and the pods'
// samples.
func (p *Provider) noPodValues(namespace string, selector labels.Selector, gauge string, metricSel labels.Selector, cov collector.Coverage) error {
	what := fmt.Sprintf("pods matching %q in namespace %s", selector.String(), namespace)
	if cov.GaugeKnown && cov.Pods == 0 {
		if err := p.absent(target{namespace: namespace}); err != nil {
			return err
		}
		msg := fmt.Sprintf("no pod rtcscale knows of in namespace %s matches labelSelector %q", namespace, clip(selector.String()))
		if !metricSel.Empty() {
			msg += fmt.Sprintf(" and metricLabelSelector %q", clip(metricSel.String()))
		}
		return notFound("%s", msg)
	}
	return p.notFound(gauge, cov, what, target{namespace: namespace})
}
