package sidecar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/rtcscale/rtcscale/internal/testenv"
	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

// TestKamailioEndToEnd runs Debian's Kamailio as a stateful proxy on
// loopback, has sipp place calls through it to a sipp UAS, and checks that
// the sidecar publishes exactly Kamailio's active dialogs and that
// rtcscale's metrics API serves them: with calls up, after they end, while
// Kamailio is down (nothing is served) and once it is back.
//
// Needs the Debian packages kamailio and sip-tester.
func TestKamailioEndToEnd(t *testing.T) {
	kamailioBin, sippBin := testenv.LookPath(t, "kamailio", "kamailio"), testenv.LookPath(t, "sipp", "sip-tester")
	const (
		namespace = "voice"
		pod       = "kamailio-0"
		calls     = 7
		interval  = 200 * time.Millisecond
	)

	dir := t.TempDir()
	sipPort, httpPort, uasPort := freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "udp")
	cfg := filepath.Join(dir, "kamailio.cfg")
	writeTemplate(t, "testdata/kamailio.cfg.tmpl", cfg, kamailioConfig{SIPPort: sipPort, HTTPPort: httpPort, UASPort: uasPort})
	startKamailio := func() *process {
		return start(t, kamailioBin, "-DD", "-E", "-f", cfg, "-Y", dir, "-m", "64", "-M", "8")
	}
	kam := startKamailio()
	rpc := fmt.Sprintf("http://127.0.0.1:%d/RPC", httpPort)
	activeIs := countIs("active dialogs", func() (int, error) { return kamailioActiveDialogs(rpc) })
	waitFor(t, "Kamailio up with no dialogs", activeIs(0))

	st := startStack(t, namespace, pod)
	st.startSidecar(sample.KindKamailio, sidecar.Options{URL: rpc}, sidecar.Config{Namespace: namespace, Pod: pod, Node: "node-1", Interval: interval})

	// sipp's UAS answers every call; the UAC holds up to `calls` calls
	// open for an hour. Without -m, sipp aborts open calls with a BYE on
	// a second SIGUSR1 (with -m it keeps resetting its quit state).
	start(t, sippBin, "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort), "-cp", strconv.Itoa(freePort(t, "udp")), "-nostdin")
	uac := start(t, sippBin, "-sn", "uac", fmt.Sprintf("127.0.0.1:%d", sipPort), "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "udp")),
		"-cp", strconv.Itoa(freePort(t, "udp")), "-l", strconv.Itoa(calls), "-r", "50", "-d", "3600000", "-nostdin")
	waitFor(t, "Kamailio's active dialogs", activeIs(calls))

	// The first poll that starts after Kamailio reports the calls
	// publishes them.
	s := st.pollAfter(time.Now())
	if got := gauge(s, sample.GaugeCalls); got != calls {
		t.Errorf("published calls = %v with %d dialogs up", got, calls)
	}
	if s.Kind != sample.KindKamailio || s.Namespace != namespace || s.Pod != pod || s.Node != "node-1" || s.Interval != interval || s.Draining {
		t.Errorf("sample %+v does not describe the pod", s)
	}
	st.waitPodValue(namespace, pod, sample.GaugeCalls, calls, true)

	// The other RPC method counts the same dialogs.
	dlg, err := sidecar.New(sample.KindKamailio, sidecar.Options{URL: rpc, KamailioMethod: sidecar.KamailioDialogStats})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := dlg.Read(context.Background()); err != nil || len(r.Gauges) != 1 || r.Gauges[0].Value != calls {
		t.Errorf("dlg.stats_active: %+v, %v; want %d calls", r, err, calls)
	}

	// End the calls: sipp sends a BYE for each.
	waitFor(t, "Kamailio's dialogs after the UAC aborts its calls", func() (bool, string) {
		if err := uac.signal(syscall.SIGUSR1); err != nil {
			return false, err.Error()
		}
		return activeIs(0)()
	})
	s = st.pollAfter(time.Now())
	if got := gauge(s, sample.GaugeCalls); got != 0 {
		t.Errorf("published calls = %v after the calls ended", got)
	}
	st.waitPodValue(namespace, pod, sample.GaugeCalls, 0, true)

	// Kamailio down: the sidecar publishes nothing, the value goes stale.
	kam.stop()
	st.waitPodValue(namespace, pod, sample.GaugeCalls, 0, false)
	// Back up: the sidecar reads it again on its own.
	startKamailio()
	st.waitPodValue(namespace, pod, sample.GaugeCalls, 0, true)
}

// kamailioConfig fills testdata/kamailio.cfg.tmpl: a proxy to the UAS on
// UASPort or, with a DispatcherList file, to the destinations of its set
// DispatcherSet.
type kamailioConfig struct {
	SIPPort, HTTPPort, UASPort int
	DispatcherList             string
	DispatcherSet              int
}

// kamailioActiveDialogs asks Kamailio itself, without the sidecar's code.
func kamailioActiveDialogs(rpc string) (int, error) {
	resp, err := http.Post(rpc, "application/json", bytes.NewBufferString(`{"jsonrpc":"2.0","method":"stats.fetch","params":["dialog:"],"id":1}`))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var reply struct {
		Result map[string]string `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		return 0, err
	}
	return strconv.Atoi(reply.Result["dialog.active_dialogs"])
}

func writeTemplate(t testing.TB, from, to string, data any) {
	t.Helper()
	tmpl, err := template.ParseFiles(from)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tmpl.Execute(f, data); err != nil {
		t.Fatal(err)
	}
}
