package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/rtcscale/rtcscale/sample"
)

// jvb reads a Jitsi Videobridge's /colibri/stats (REST API enabled, private
// port), and drains it through the same REST API (drain_jvb.go). The bridge
// refreshes most of those statistics every 5 s, so polling faster only
// repeats values.
type jvb struct {
	client *http.Client
	url    string
	drain  jvbDrain
}

func newJVB(o Options) (*jvb, error) {
	d, err := newJVBDrain(o)
	if err != nil {
		return nil, err
	}
	return &jvb{client: o.Client, url: o.URL, drain: d}, nil
}

func (*jvb) Kind() sample.Kind { return sample.KindJVB }

func (j *jvb) Read(ctx context.Context) (Reading, error) {
	return fetch(ctx, j.client, http.MethodGet, j.url, nil, "jvb colibri stats", ParseJVBStats)
}

// colibriStats holds the fields of /colibri/stats that say how loaded the
// bridge is. Pointers tell a missing field from a zero.
type colibriStats struct {
	Participants      *count `json:"participants"` // deprecated alias of endpoints
	Endpoints         *count `json:"endpoints"`
	LocalEndpoints    *count `json:"local_endpoints"`
	OctoEndpoints     *count `json:"octo_endpoints"`
	Conferences       *count `json:"conferences"`
	LargestConference *count `json:"largest_conference"`
	StressLevel       *count `json:"stress_level"`
	BitRateDownload   *count `json:"bit_rate_download"` // kbit/s
	BitRateUpload     *count `json:"bit_rate_upload"`   // kbit/s
	PacketRateDown    *count `json:"packet_rate_download"`
	PacketRateUp      *count `json:"packet_rate_upload"`

	Drain            bool `json:"drain"`
	GracefulShutdown bool `json:"graceful_shutdown"`
	ShuttingDown     bool `json:"shutting_down"`
}

// ParseJVBStats parses a /colibri/stats reply.
//
// participants counts the endpoints this bridge serves itself:
// local_endpoints, which the bridge keeps as endpoints come and go and
// whose fall to graceful-shutdown-min-participants ends a graceful
// shutdown (Videobridge.localEndpointExpired); from a bridge without it,
// all endpoints less those relayed from other bridges (octo), as Jitsi's
// graceful_shutdown.sh counts them, both refreshed only every 5 s. Bit
// rates are converted from kbit/s to bit/s. The bridge is draining while
// drain, graceful_shutdown or shutting_down is set. Fields an older or
// newer bridge lacks are left out, except the participant count, without
// which the reply is refused.
func ParseJVBStats(body []byte) (Reading, error) {
	var s colibriStats
	if err := json.Unmarshal(body, &s); err != nil {
		return Reading{}, err
	}
	var local float64
	switch total := firstOf(s.Participants, s.Endpoints); {
	case s.LocalEndpoints != nil:
		local = float64(*s.LocalEndpoints)
	case total != nil:
		local = float64(*total)
		if s.OctoEndpoints != nil {
			if float64(*s.OctoEndpoints) > local {
				return Reading{}, fmt.Errorf("octo_endpoints (%v) exceeds participants (%v)", float64(*s.OctoEndpoints), local)
			}
			local -= float64(*s.OctoEndpoints)
		}
	default:
		return Reading{}, fmt.Errorf("no participants, endpoints or local_endpoints: %w", errNoValue)
	}
	r := Reading{
		Gauges:   []sample.Gauge{{Name: sample.GaugeParticipants, Value: local}},
		Draining: s.Drain || s.GracefulShutdown || s.ShuttingDown,
	}
	for _, g := range [...]struct {
		name  string
		v     *count
		scale float64
	}{
		{sample.GaugeConferences, s.Conferences, 1},
		{sample.GaugeLargestConference, s.LargestConference, 1},
		{sample.GaugeStress, s.StressLevel, 1},
		{sample.GaugeBitrateIn, s.BitRateDownload, 1000},
		{sample.GaugeBitrateOut, s.BitRateUpload, 1000},
		{sample.GaugePacketrateIn, s.PacketRateDown, 1},
		{sample.GaugePacketrateOut, s.PacketRateUp, 1},
	} {
		if g.v != nil {
			r.Gauges = append(r.Gauges, sample.Gauge{Name: g.name, Value: float64(*g.v) * g.scale})
		}
	}
	return r, nil
}

func firstOf(cs ...*count) *count {
	for _, c := range cs {
		if c != nil {
			return c
		}
	}
	return nil
}
