package kedascaler

import (
	"math"
	"strings"
	"testing"

	"github.com/rtcscale/rtcscale/sample"
)

// FuzzParseQuery feeds the metadata parser what a ScaledObject can hold:
// any namespace, and any keys and values (here "key=value" lines). It must
// never panic, and what it accepts must be a query the scaler can serve.
func FuzzParseQuery(f *testing.F) {
	f.Add("voice", "gauge=calls\nworkload=deployments.apps/asterisk\ntarget=50\nactivationThreshold=1")
	f.Add("meet", "gauge=participants\nworkload=statefulsets.apps/jvb\nforecast=true\ntarget=100")
	f.Add("voice", "gauge=calls\nlabelSelector=app=kamailio,tier in (edge)\ntarget=0.5\nscalerAddress=x:1")
	f.Add("voice", "gauge=calls\nlabelSelector=app==(\ntarget=1e400")
	f.Add("", "workload=deployments/a/b\ntarget=-0")
	f.Fuzz(func(t *testing.T, namespace, lines string) {
		md := map[string]string{}
		for _, l := range strings.Split(lines, "\n") {
			k, v, _ := strings.Cut(l, "=")
			md[k] = v
		}
		q, err := parseQuery(namespace, md)
		if err != nil {
			if len(err.Error()) > 1000 {
				t.Errorf("error of %d bytes: %.200s...", len(err.Error()), err)
			}
			return
		}
		if !sample.IsDNSLabel(q.namespace) || !sample.ValidGaugeName(q.gauge) {
			t.Errorf("accepted namespace %q, gauge %q", q.namespace, q.gauge)
		}
		if (q.pods == nil) == (q.workload.Name == "") {
			t.Errorf("accepted %v: want exactly one scope", md)
		}
		if q.forecast && q.pods != nil {
			t.Errorf("accepted a forecast over a selector: %v", md)
		}
		if !(q.target > 0) || !(q.activation >= 0) || math.IsInf(q.target, 0) || math.IsInf(q.activation, 0) {
			t.Errorf("accepted target %v, activation %v", q.target, q.activation)
		}
	})
}
