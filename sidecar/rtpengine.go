package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rtcscale/rtcscale/sample"
)

// rtpengine reads an rtpengine media relay over its HTTP listener
// (--listen-http). A URL whose path ends in /metrics is read as Prometheus
// text (every rtpengine since 9.x); any other path is sent the ng
// "statistics" command as JSON (POST /ng-plain, in rtpengine releases that
// have it: Debian 12's 10.5 does not).
//
// rtpengine counts the media it relays: every relayed byte is received on
// one side of a call and sent on the other, so its one rate is published as
// both the in and the out gauge. It is drained through its CLI
// (drain_rtpengine.go).
type rtpengine struct {
	client  *http.Client
	url     string
	metrics bool
	cli     string
	now     func() time.Time

	// The previous /metrics reading, to derive rates from counters.
	prev   RTPEngineCounters
	prevAt time.Time
}

func newRTPEngine(o Options) (*rtpengine, error) {
	cli := o.RTPEngineCLI
	if cli == "" {
		cli = defaultRTPEngineCLI
	}
	if _, _, err := net.SplitHostPort(cli); err != nil {
		return nil, fmt.Errorf("rtpengine CLI address %q: want host:port (rtpengine's --listen-cli): %w", cli, err)
	}
	return &rtpengine{
		client:  o.Client,
		url:     o.URL,
		metrics: strings.HasSuffix(strings.SplitN(o.URL, "?", 2)[0], "/metrics"),
		cli:     cli,
		now:     time.Now,
	}, nil
}

func (*rtpengine) Kind() sample.Kind { return sample.KindRTPEngine }

var rtpengineStatistics = []byte(`{"command":"statistics"}`)

func (e *rtpengine) Read(ctx context.Context) (Reading, error) {
	if !e.metrics {
		return fetch(ctx, e.client, http.MethodPost, e.url, rtpengineStatistics, "rtpengine statistics", ParseRTPEngineStatistics)
	}
	body, err := httpRequest(ctx, e.client, http.MethodGet, e.url, nil)
	if err != nil {
		return Reading{}, err
	}
	at := e.now()
	c, err := ParseRTPEngineMetrics(body)
	if err != nil {
		return Reading{}, fmt.Errorf("rtpengine metrics: %w", err)
	}
	r := Reading{Gauges: []sample.Gauge{{Name: sample.GaugeCalls, Value: c.Sessions}}}
	// Rates need two readings. The first poll (and the first after
	// rtpengine restarted) publishes the session count alone rather than
	// waiting: a pod's sessions matter more than its bit rate, and a
	// sample now keeps the pod from counting as silent. After failed
	// polls the rate is the average since the last good one.
	if bytesPS, packetsPS, ok := c.Rates(e.prev, at.Sub(e.prevAt)); ok {
		r.Gauges = append(r.Gauges,
			sample.Gauge{Name: sample.GaugeBitrateIn, Value: 8 * bytesPS},
			sample.Gauge{Name: sample.GaugeBitrateOut, Value: 8 * bytesPS},
			sample.Gauge{Name: sample.GaugePacketrateIn, Value: packetsPS},
			sample.Gauge{Name: sample.GaugePacketrateOut, Value: packetsPS})
	}
	e.prev, e.prevAt = c, at
	return r, nil
}

// RTPEngineCounters are what rtpengine's /metrics says about its load.
type RTPEngineCounters struct {
	// Sessions is the number of calls this instance owns (foreign
	// sessions, learnt from a shared Redis, are relayed elsewhere).
	Sessions float64
	// Bytes and Packets are the totals relayed since start, in userspace
	// and kernel forwarding together; HasTraffic says whether the
	// exposition had them.
	Bytes, Packets float64
	HasTraffic     bool
}

// Rates returns the bytes and packets relayed per second between prev and
// c, taken dt apart, or false when no rate can be told: no counters, no
// time between, or counters that went down (rtpengine restarted).
func (c RTPEngineCounters) Rates(prev RTPEngineCounters, dt time.Duration) (bytesPerSec, packetsPerSec float64, ok bool) {
	if !c.HasTraffic || !prev.HasTraffic || dt <= 0 || c.Bytes < prev.Bytes || c.Packets < prev.Packets {
		return 0, 0, false
	}
	s := dt.Seconds()
	return (c.Bytes - prev.Bytes) / s, (c.Packets - prev.Packets) / s, true
}

// ParseRTPEngineMetrics parses rtpengine's /metrics: the gauge
// rtpengine_sessions{type="own"} and the counters rtpengine_bytes_total
// and rtpengine_packets_total (summed over their type label).
func ParseRTPEngineMetrics(body []byte) (RTPEngineCounters, error) {
	fams, err := promFamilies(body)
	if err != nil {
		return RTPEngineCounters{}, err
	}
	var c RTPEngineCounters
	var found bool
	if c.Sessions, found, err = promSum(fams, "rtpengine_sessions", labelIs("type", "own")); err != nil {
		return RTPEngineCounters{}, err
	} else if !found {
		return RTPEngineCounters{}, fmt.Errorf(`rtpengine_sessions{type="own"}: %w`, errNoValue)
	}
	var haveBytes, havePackets bool
	if c.Bytes, haveBytes, err = promSum(fams, "rtpengine_bytes_total", nil); err != nil {
		return RTPEngineCounters{}, err
	}
	if c.Packets, havePackets, err = promSum(fams, "rtpengine_packets_total", nil); err != nil {
		return RTPEngineCounters{}, err
	}
	c.HasTraffic = haveBytes && havePackets
	return c, nil
}

// ParseRTPEngineStatistics parses the reply to the ng command
// "statistics": statistics.currentstatistics holds sessionsown, byterate
// (bytes/s) and packetrate, as numbers or strings.
func ParseRTPEngineStatistics(body []byte) (Reading, error) {
	var reply struct {
		Result      string `json:"result"`
		ErrorReason string `json:"error-reason"`
		Statistics  struct {
			Current struct {
				SessionsOwn *count `json:"sessionsown"`
				ByteRate    *count `json:"byterate"`
				PacketRate  *count `json:"packetrate"`
			} `json:"currentstatistics"`
		} `json:"statistics"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return Reading{}, err
	}
	if reply.Result != "ok" {
		return Reading{}, fmt.Errorf("result %q: %s", reply.Result, reply.ErrorReason)
	}
	cur := &reply.Statistics.Current
	calls, err := required("currentstatistics.sessionsown", cur.SessionsOwn)
	if err != nil {
		return Reading{}, err
	}
	r := Reading{Gauges: []sample.Gauge{{Name: sample.GaugeCalls, Value: calls}}}
	if cur.ByteRate != nil {
		bits := 8 * float64(*cur.ByteRate)
		r.Gauges = append(r.Gauges, sample.Gauge{Name: sample.GaugeBitrateIn, Value: bits}, sample.Gauge{Name: sample.GaugeBitrateOut, Value: bits})
	}
	if cur.PacketRate != nil {
		r.Gauges = append(r.Gauges, sample.Gauge{Name: sample.GaugePacketrateIn, Value: float64(*cur.PacketRate)}, sample.Gauge{Name: sample.GaugePacketrateOut, Value: float64(*cur.PacketRate)})
	}
	return r, nil
}
