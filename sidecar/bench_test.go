package sidecar

import "testing"

// The parsers run once per poll (every 5 s by default), so their cost is
// what one sidecar spends on CPU besides the HTTP round trip.
func BenchmarkParsers(b *testing.B) {
	metrics := func(body []byte) (Reading, error) {
		_, err := ParseRTPEngineMetrics(body)
		return Reading{}, err
	}
	amiChannels := func(body []byte) (Reading, error) { return ParseCoreShowChannels(body, "1") }
	for _, c := range []struct {
		name    string
		fixture string
		parse   func([]byte) (Reading, error)
	}{
		{"kamailio-stats.fetch", "kamailio-stats-fetch.json", ParseKamailioStats},
		{"kamailio-dlg.stats_active", "kamailio-dlg-stats-active.json", ParseKamailioDialogStats},
		{"rtpengine-metrics", "rtpengine-metrics-busy.txt", metrics},
		{"rtpengine-statistics", "rtpengine-statistics.json", ParseRTPEngineStatistics},
		{"jvb-colibri-stats", "jvb-colibri-stats.json", ParseJVBStats},
		{"asterisk-metrics", "asterisk-metrics.txt", ParseAsteriskMetrics},
		{"asterisk-ami-3-channels", "asterisk-ami-coreshowchannels.txt", amiChannels},
	} {
		body := fixture(b, c.fixture)
		if c.name == "asterisk-ami-3-channels" {
			body = crlf(body)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := c.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
