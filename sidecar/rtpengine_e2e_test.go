package sidecar_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/internal/testenv"
	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

// TestRTPEngineEndToEnd runs Debian's rtpengine in userspace mode (no
// kernel module) on loopback, opens sessions over its ng control protocol,
// relays RTP through one, and checks what the sidecar publishes from
// /metrics and what the metrics API serves: the sessions, rates derived
// from the counters, and 0 once the sessions are deleted.
//
// Needs the Debian package rtpengine-daemon.
func TestRTPEngineEndToEnd(t *testing.T) {
	const (
		namespace = "media"
		pod       = "rtpengine-0"
		sessions  = 3
		packets   = 50
		payload   = 160 // G.711, 20 ms
		interval  = 200 * time.Millisecond
	)
	rtpe := startRTPEngine(t)
	metricsURL, ng, own := rtpe.metricsURL, rtpe.ng, rtpe.ownIs

	st := startStack(t, namespace, pod)
	st.startSidecar(sample.KindRTPEngine, sidecar.Options{URL: metricsURL}, sidecar.Config{Namespace: namespace, Pod: pod, Interval: interval})

	var relayPort int
	for i := range sessions {
		reply := ngCommand(t, ng, map[string]string{"command": "offer", "call-id": fmt.Sprint("call-", i), "from-tag": fmt.Sprint("tag-", i), "sdp": audioSDP(i)})
		m := regexp.MustCompile(`m=audio (\d+) `).FindSubmatch(reply)
		if m == nil {
			t.Fatalf("offer: no media port in %q", reply)
		}
		relayPort, _ = strconv.Atoi(string(m[1]))
	}
	waitFor(t, "rtpengine's own sessions", own(sessions))
	s := st.pollAfter(time.Now())
	if got := gauge(s, sample.GaugeCalls); got != sessions {
		t.Errorf("published calls = %v with %d sessions open", got, sessions)
	}
	st.waitPodValue(namespace, pod, sample.GaugeCalls, sessions, true)

	// Relay RTP through the last session; rtpengine counts every byte.
	before := time.Now()
	_, bytes0, err := rtpengineOwn(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	rtp, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", relayPort))
	if err != nil {
		t.Fatal(err)
	}
	defer rtp.Close()
	pkt := make([]byte, 12+payload)
	pkt[0] = 0x80
	for i := range packets {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i*payload))
		if _, err := rtp.Write(pkt); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "rtpengine's relayed bytes", func() (bool, string) {
		_, b, err := rtpengineOwn(metricsURL)
		return err == nil && b == bytes0+packets*len(pkt), fmt.Sprint(b-bytes0, " bytes relayed, ", err)
	})
	// Every sample whose window holds the packets has a bit rate of
	// exactly 8 bits per byte of their packet size per packet; the rates
	// are over whatever time the polls were apart, so only the ratio is
	// known in advance.
	var rated []sample.Sample
	for _, s := range st.samplesUntilRead(before, time.Now()) {
		if gauge(s, sample.GaugePacketrateIn) > 0 {
			rated = append(rated, s)
		}
	}
	if len(rated) == 0 {
		t.Fatal("no sample carried the relayed packets' rate")
	}
	for _, s := range rated {
		bits, pps := gauge(s, sample.GaugeBitrateIn), gauge(s, sample.GaugePacketrateIn)
		if math.Abs(bits/pps-8*float64(len(pkt))) > 1e-6 || gauge(s, sample.GaugeBitrateOut) != bits || gauge(s, sample.GaugePacketrateOut) != pps {
			t.Errorf("sample %+v: %v bit/s for %v packets/s, want %d bits a packet", s.Gauges, bits, pps, 8*len(pkt))
		}
	}
	st.waitPodValue(namespace, pod, sample.GaugeBitrateIn, 0, true)

	for i := range sessions {
		ngCommand(t, ng, map[string]string{"command": "delete", "call-id": fmt.Sprint("call-", i), "from-tag": fmt.Sprint("tag-", i)})
	}
	waitFor(t, "rtpengine's own sessions after delete", own(0))
	s = st.pollAfter(time.Now())
	if got := gauge(s, sample.GaugeCalls); got != 0 {
		t.Errorf("published calls = %v after the sessions were deleted", got)
	}
	st.waitPodValue(namespace, pod, sample.GaugeCalls, 0, true)
}

// rtpengineServer is Debian's rtpengine in userspace mode (no kernel
// module) on loopback, up and without sessions.
type rtpengineServer struct {
	metricsURL string
	cli        string   // its CLI (--listen-cli), host:port
	ng         net.Conn // to its ng control protocol
}

// startRTPEngine starts rtpengine for the test.
//
// Needs the Debian package rtpengine-daemon.
func startRTPEngine(t testing.TB) rtpengineServer {
	t.Helper()
	bin := testenv.LookPath(t, "rtpengine", "rtpengine-daemon")
	ngPort, httpPort, cliPort, portMin := freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "udp")
	portMin -= portMin % 2
	start(t, bin, "--config-file=none", "--table=-1", "--foreground", "--log-stderr", "--log-level=5",
		"--interface=127.0.0.1", fmt.Sprintf("--listen-ng=127.0.0.1:%d", ngPort), fmt.Sprintf("--listen-http=127.0.0.1:%d", httpPort),
		fmt.Sprintf("--listen-cli=127.0.0.1:%d", cliPort),
		fmt.Sprintf("--port-min=%d", portMin), fmt.Sprintf("--port-max=%d", portMin+99), "--delete-delay=0")
	s := rtpengineServer{metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", httpPort), cli: fmt.Sprintf("127.0.0.1:%d", cliPort)}
	waitFor(t, "rtpengine up with no sessions", s.ownIs(0))
	ng, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", ngPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ng.Close() })
	s.ng = ng
	return s
}

// ownIs is a waitFor condition: rtpengine's own sessions, as its /metrics
// says, are want.
func (s rtpengineServer) ownIs(want int) func() (bool, string) {
	return countIs("own sessions", func() (int, error) {
		n, _, err := rtpengineOwn(s.metricsURL)
		return n, err
	})(want)
}

// audioSDP is the SDP of one G.711 audio stream; i tells streams apart.
func audioSDP(i int) string {
	return fmt.Sprintf("v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", i, 40000+2*i)
}

// samplesUntilRead returns the samples observed from `from` on, up to and
// including the first one whose poll started after `read` (the second
// sample after it).
func (s *stack) samplesUntilRead(from, read time.Time) []sample.Sample {
	var out []sample.Sample
	after := 0
	for after < 2 {
		smp := s.nextSampleAfter(from)
		from = smp.Time.Add(time.Millisecond)
		out = append(out, smp)
		if !smp.Time.Before(read) {
			after++
		}
	}
	return out
}

// ngCommand sends one command over rtpengine's ng protocol and returns the
// reply, which must be ok.
func ngCommand(t testing.TB, conn net.Conn, cmd map[string]string) []byte {
	t.Helper()
	reply := ngRequest(t, conn, cmd)
	if !bytes.Contains(reply, []byte("6:result2:ok")) {
		t.Fatalf("ng %s: %q", cmd["command"], reply)
	}
	return reply
}

// ngRequest sends one command over rtpengine's ng protocol (a cookie and a
// bencoded dictionary over UDP) and returns the reply.
func ngRequest(t testing.TB, conn net.Conn, cmd map[string]string) []byte {
	t.Helper()
	keys := make([]string, 0, len(cmd))
	for k := range cmd {
		keys = append(keys, k)
	}
	sort.Strings(keys) // bencode wants sorted keys
	var b bytes.Buffer
	cookie := fmt.Sprint("c", time.Now().UnixNano())
	b.WriteString(cookie + " d")
	for _, k := range keys {
		fmt.Fprintf(&b, "%d:%s%d:%s", len(k), k, len(cmd[k]), cmd[k])
	}
	b.WriteString("e")
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 65536)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("ng %s: %v", cmd["command"], err)
		}
		reply, ok := bytes.CutPrefix(buf[:n], []byte(cookie+" "))
		if !ok {
			continue // a late reply to an earlier command
		}
		return reply
	}
}

// rtpengineOwn reads rtpengine's own sessions and relayed bytes from its
// /metrics, without the sidecar's code.
func rtpengineOwn(url string) (sessions, relayed int, err error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	m := regexp.MustCompile(`(?m)^rtpengine_sessions\{type="own"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		return 0, 0, fmt.Errorf("no own sessions in %q", body)
	}
	sessions, _ = strconv.Atoi(string(m[1]))
	for _, m := range regexp.MustCompile(`(?m)^rtpengine_bytes_total\{type="\w+"\} (\d+)$`).FindAllSubmatch(body, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		relayed += n
	}
	return sessions, relayed, nil
}
