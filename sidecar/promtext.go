package sidecar

import (
	"bytes"
	"fmt"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promFamilies parses a Prometheus text exposition (what rtpengine and
// Asterisk's res_prometheus serve) with Prometheus's own parser.
func promFamilies(body []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("not a Prometheus text exposition: %w", err)
	}
	return fams, nil
}

// promSum returns the sum of a gauge's or counter's series whose labels
// match (all series when match is nil), and whether any matched.
func promSum(fams map[string]*dto.MetricFamily, name string, match func(*dto.Metric) bool) (float64, bool, error) {
	mf := fams[name]
	if mf == nil {
		return 0, false, nil
	}
	var sum float64
	var found bool
	for _, m := range mf.GetMetric() {
		if match != nil && !match(m) {
			continue
		}
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Untyped != nil:
			v = m.Untyped.GetValue()
		default:
			return 0, false, fmt.Errorf("%s is neither a gauge nor a counter", name)
		}
		if err := checkValue(v); err != nil {
			return 0, false, fmt.Errorf("%s: %w", name, err)
		}
		sum += v
		found = true
	}
	if err := checkValue(sum); err != nil {
		return 0, false, fmt.Errorf("sum of %s: %w", name, err)
	}
	return sum, found, nil
}

// labelIs matches the series whose label name has value value.
func labelIs(name, value string) func(*dto.Metric) bool {
	return func(m *dto.Metric) bool {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue() == value
			}
		}
		return false
	}
}
