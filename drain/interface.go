package drain

import (
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/collector"
)

// Store is what the controller reads: each pod's latest value of the gauge
// that orders deletions (collector.Store).
type Store interface {
	PodValue(namespace, name, gauge string, metricSel labels.Selector) (collector.PodValue, collector.Coverage, bool)
}

var _ Store = (*collector.Store)(nil)
