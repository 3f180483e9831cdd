package sidecar

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/sample"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crlf turns a fixture's line ends into the CRLF the manager interface
// sends.
func crlf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }

type parserCase struct {
	name     string
	input    []byte
	want     map[string]float64 // every gauge, exactly
	draining bool
	err      string // substring of the error; "" for success
}

func checkReading(t *testing.T, c parserCase, r Reading, err error) {
	t.Helper()
	if c.err != "" {
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", c.name, err)
		return
	}
	got := map[string]float64{}
	for _, g := range r.Gauges {
		got[g.Name] = g.Value
	}
	if len(got) != len(r.Gauges) {
		t.Errorf("%s: a gauge appears twice: %v", c.name, r.Gauges)
	}
	if len(got) != len(c.want) {
		t.Errorf("%s: gauges %v, want %v", c.name, got, c.want)
	}
	for name, v := range c.want {
		if g, ok := got[name]; !ok || math.Abs(g-v) > 1e-9*math.Max(1, v) {
			t.Errorf("%s: %s = %v (present %v), want %v", c.name, name, g, ok, v)
		}
	}
	if r.Draining != c.draining {
		t.Errorf("%s: draining %v, want %v", c.name, r.Draining, c.draining)
	}
}

func TestParseKamailio(t *testing.T) {
	for _, c := range []parserCase{
		{name: "stats.fetch", input: fixture(t, "kamailio-stats-fetch.json"), want: map[string]float64{"calls": 5}},
		{name: "stats.fetch number", input: []byte(`{"jsonrpc":"2.0","result":{"dialog.active_dialogs":7},"id":1}`), want: map[string]float64{"calls": 7}},
		{name: "no dialog module", input: fixture(t, "kamailio-stats-fetch-no-dialog.json"), err: "dialog.active_dialogs"},
		{name: "rpc error", input: []byte(`{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method Not Found"},"id":1}`), err: "Method Not Found"},
		{name: "not a number", input: []byte(`{"result":{"dialog.active_dialogs":"many"}}`), err: "not a number"},
		{name: "negative", input: []byte(`{"result":{"dialog.active_dialogs":"-1"}}`), err: "not a load value"},
		{name: "NaN", input: []byte(`{"result":{"dialog.active_dialogs":"NaN"}}`), err: "not a load value"},
		{name: "no result", input: []byte(`{"jsonrpc":"2.0","id":1}`), err: "without a result"},
		{name: "html", input: []byte(`<html>404</html>`), err: "not a JSON-RPC reply"},
	} {
		r, err := ParseKamailioStats(c.input)
		checkReading(t, c, r, err)
	}
	for _, c := range []parserCase{
		{name: "dlg.stats_active", input: fixture(t, "kamailio-dlg-stats-active.json"), want: map[string]float64{"calls": 41}},
		{name: "no all", input: []byte(`{"result":{"ongoing":3}}`), err: "all: missing"},
		{name: "result not an object", input: []byte(`{"result":[1,2]}`), err: "result: json"},
	} {
		r, err := ParseKamailioDialogStats(c.input)
		checkReading(t, c, r, err)
	}
}

func TestParseRTPEngine(t *testing.T) {
	for _, c := range []parserCase{
		{name: "statistics", input: fixture(t, "rtpengine-statistics.json"), want: map[string]float64{
			"calls": 12, "bitrate_in": 8 * 192000, "bitrate_out": 8 * 192000, "packetrate_in": 1200, "packetrate_out": 1200,
		}},
		{name: "sessions only", input: []byte(`{"result":"ok","statistics":{"currentstatistics":{"sessionsown":"2"}}}`), want: map[string]float64{"calls": 2}},
		{name: "error", input: fixture(t, "rtpengine-statistics-error.json"), err: "Unrecognized command"},
		{name: "no sessions", input: []byte(`{"result":"ok","statistics":{"currentstatistics":{}}}`), err: "sessionsown: missing"},
	} {
		r, err := ParseRTPEngineStatistics(c.input)
		checkReading(t, c, r, err)
	}

	for _, c := range []struct {
		name string
		in   []byte
		want RTPEngineCounters
		err  string
	}{
		// Read from Debian 12's rtpengine 10.5 in userspace mode, idle and
		// with three sessions after 50 relayed packets.
		{name: "idle", in: fixture(t, "rtpengine-metrics-idle.txt"), want: RTPEngineCounters{HasTraffic: true}},
		{name: "busy", in: fixture(t, "rtpengine-metrics-busy.txt"), want: RTPEngineCounters{Sessions: 3, Bytes: 8600, Packets: 50, HasTraffic: true}},
		{name: "sessions only", in: []byte("rtpengine_sessions{type=\"own\"} 4\nrtpengine_sessions{type=\"foreign\"} 9\n"), want: RTPEngineCounters{Sessions: 4}},
		{name: "no own sessions", in: []byte("rtpengine_sessions{type=\"foreign\"} 9\n"), err: "missing"},
		{name: "negative", in: []byte("rtpengine_sessions{type=\"own\"} -4\n"), err: "not a load value"},
		{name: "not prometheus", in: []byte("{\"sessions\": 3}"), err: "not a Prometheus text exposition"},
		{name: "histogram", in: []byte("# TYPE rtpengine_sessions histogram\nrtpengine_sessions_bucket{type=\"own\",le=\"+Inf\"} 1\nrtpengine_sessions_sum{type=\"own\"} 1\nrtpengine_sessions_count{type=\"own\"} 1\n"), err: "neither a gauge nor a counter"},
	} {
		got, err := ParseRTPEngineMetrics(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}

func TestRTPEngineRates(t *testing.T) {
	prev := RTPEngineCounters{Sessions: 3, Bytes: 1000, Packets: 10, HasTraffic: true}
	cur := RTPEngineCounters{Sessions: 3, Bytes: 21000, Packets: 110, HasTraffic: true}
	if b, p, ok := cur.Rates(prev, 2*time.Second); !ok || b != 10000 || p != 50 {
		t.Errorf("rates %v B/s %v p/s %v, want 10000 B/s 50 p/s", b, p, ok)
	}
	for name, c := range map[string]struct {
		prev, cur RTPEngineCounters
		dt        time.Duration
	}{
		"first reading":   {RTPEngineCounters{}, cur, 2 * time.Second},
		"restarted":       {cur, prev, 2 * time.Second},
		"no time between": {prev, cur, 0},
		"no counters":     {prev, RTPEngineCounters{Sessions: 3}, time.Second},
	} {
		if _, _, ok := c.cur.Rates(c.prev, c.dt); ok {
			t.Errorf("%s: a rate was told", name)
		}
	}
}

func TestParseJVB(t *testing.T) {
	for _, c := range []parserCase{
		{name: "busy", input: fixture(t, "jvb-colibri-stats.json"), want: map[string]float64{
			// 14 participants, 4 of them relayed from other bridges.
			"participants": 10, "conferences": 3, "largest_conference": 8, "stress": 0.42,
			"bitrate_in": 1234000, "bitrate_out": 5678000, "packetrate_in": 800, "packetrate_out": 900,
		}},
		{name: "draining", input: fixture(t, "jvb-colibri-stats-draining.json"), draining: true, want: map[string]float64{
			"participants": 2, "conferences": 1, "largest_conference": 2, "stress": 0.01,
			"bitrate_in": 0, "bitrate_out": 0, "packetrate_in": 0, "packetrate_out": 0,
		}},
		{name: "local endpoints, graceful shutdown", input: fixture(t, "jvb-colibri-stats-local-only.json"), draining: true, want: map[string]float64{
			"participants": 7, "conferences": 2,
		}},
		// local_endpoints changes as endpoints leave; participants and
		// octo_endpoints only at the next refresh.
		{name: "local endpoints before the refresh", input: []byte(`{"participants":9,"octo_endpoints":2,"local_endpoints":6,"drain":true}`), draining: true, want: map[string]float64{"participants": 6}},
		{name: "endpoints without participants", input: []byte(`{"endpoints":9,"octo_endpoints":2,"shutting_down":true}`), draining: true, want: map[string]float64{"participants": 7}},
		{name: "more relayed than all", input: []byte(`{"participants":2,"octo_endpoints":3}`), err: "exceeds"},
		{name: "no participants", input: []byte(`{"conferences":2}`), err: "missing"},
		{name: "negative bit rate", input: []byte(`{"participants":2,"bit_rate_upload":-5}`), err: "not a load value"},
		{name: "drain not a boolean", input: []byte(`{"participants":2,"drain":"yes"}`), err: "bool"},
		{name: "not JSON", input: []byte(`Service Unavailable`), err: "invalid character"},
	} {
		r, err := ParseJVBStats(c.input)
		checkReading(t, c, r, err)
	}
}

func TestParseAsterisk(t *testing.T) {
	for _, c := range []parserCase{
		{name: "res_prometheus", input: fixture(t, "asterisk-metrics.txt"), want: map[string]float64{"calls": 23, "channels": 46}},
		{name: "calls only", input: []byte("asterisk_calls_count{eid=\"a\"} 2\n"), want: map[string]float64{"calls": 2}},
		{name: "core metrics off", input: []byte("# TYPE asterisk_endpoints_count gauge\nasterisk_endpoints_count 3\n"), err: "asterisk_calls_count: missing"},
		{name: "infinite", input: []byte("asterisk_calls_count +Inf\n"), err: "not a load value"},
	} {
		r, err := ParseAsteriskMetrics(c.input)
		checkReading(t, c, r, err)
	}
	for _, c := range []parserCase{
		// Two bridged legs of one call and a lone channel in an
		// application; an unsolicited event in between is skipped.
		{name: "three channels", input: crlf(fixture(t, "asterisk-ami-coreshowchannels.txt")), want: map[string]float64{"calls": 2, "channels": 3}},
		{name: "three channels, LF", input: fixture(t, "asterisk-ami-coreshowchannels.txt"), want: map[string]float64{"calls": 2, "channels": 3}},
		{name: "idle", input: crlf(fixture(t, "asterisk-ami-coreshowchannels-empty.txt")), want: map[string]float64{"calls": 0, "channels": 0}},
		{name: "permission denied", input: crlf(fixture(t, "asterisk-ami-permission-denied.txt")), err: "Permission denied"},
		{name: "cut short", input: crlf(fixture(t, "asterisk-ami-coreshowchannels.txt"))[:300], err: "reading the answer"},
		{name: "bad count", input: []byte("Response: Success\r\nActionID: 1\r\n\r\nEvent: CoreShowChannelsComplete\r\nActionID: 1\r\nListItems: -3\r\n\r\n"), err: "not a count"},
		{name: "event first", input: []byte("Event: CoreShowChannelsComplete\r\nActionID: 1\r\nListItems: 3\r\n\r\n"), err: "before the response"},
	} {
		r, err := ParseCoreShowChannels(c.input, "1")
		checkReading(t, c, r, err)
	}
}

// checkFuzzReading is what every parser promises of any input: no panic,
// and a reading it accepts has only gauges a sample can carry.
func checkFuzzReading(t *testing.T, r Reading, err error) {
	if err != nil {
		if len(r.Gauges) != 0 {
			t.Fatalf("gauges with an error: %v", r.Gauges)
		}
		return
	}
	if len(r.Gauges) == 0 {
		t.Fatal("no gauges and no error")
	}
	seen := map[string]bool{}
	for _, g := range r.Gauges {
		if !sample.ValidGaugeName(g.Name) || seen[g.Name] {
			t.Fatalf("bad or repeated gauge name %q", g.Name)
		}
		seen[g.Name] = true
		if checkValue(g.Value) != nil {
			t.Fatalf("gauge %s = %v", g.Name, g.Value)
		}
	}
}

func fuzzParser(f *testing.F, parse func([]byte) (Reading, error), seeds ...string) {
	for _, s := range seeds {
		f.Add(fixture(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parse(b)
		checkFuzzReading(t, r, err)
	})
}

func FuzzParseKamailioStats(f *testing.F) {
	f.Add([]byte(`{"result":{"dialog.active_dialogs":3}}`))
	fuzzParser(f, ParseKamailioStats, "kamailio-stats-fetch.json", "kamailio-stats-fetch-no-dialog.json")
}

func FuzzParseKamailioDialogStats(f *testing.F) {
	fuzzParser(f, ParseKamailioDialogStats, "kamailio-dlg-stats-active.json")
}

func FuzzParseRTPEngineStatistics(f *testing.F) {
	fuzzParser(f, ParseRTPEngineStatistics, "rtpengine-statistics.json", "rtpengine-statistics-error.json")
}

func FuzzParseRTPEngineMetrics(f *testing.F) {
	f.Add(fixture(f, "rtpengine-metrics-idle.txt"))
	f.Add(fixture(f, "rtpengine-metrics-busy.txt"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseRTPEngineMetrics(b)
		if err != nil {
			return
		}
		for _, v := range []float64{c.Sessions, c.Bytes, c.Packets} {
			if checkValue(v) != nil {
				t.Fatalf("counters %+v", c)
			}
		}
		if bps, pps, ok := c.Rates(RTPEngineCounters{HasTraffic: true}, time.Second); ok && (checkValue(bps) != nil || checkValue(pps) != nil) {
			t.Fatalf("rates %v %v from %+v", bps, pps, c)
		}
	})
}

func FuzzParseJVBStats(f *testing.F) {
	fuzzParser(f, ParseJVBStats, "jvb-colibri-stats.json", "jvb-colibri-stats-draining.json", "jvb-colibri-stats-local-only.json")
}

func FuzzParseAsteriskMetrics(f *testing.F) {
	fuzzParser(f, ParseAsteriskMetrics, "asterisk-metrics.txt")
}

func FuzzParseCoreShowChannels(f *testing.F) {
	for _, s := range []string{"asterisk-ami-coreshowchannels.txt", "asterisk-ami-coreshowchannels-empty.txt", "asterisk-ami-permission-denied.txt"} {
		f.Add(crlf(fixture(f, s)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseCoreShowChannels(b, "1")
		checkFuzzReading(t, r, err)
	})
}
