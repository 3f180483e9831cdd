package sidecar_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/internal/testenv"
	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

const (
	backendNamespace = "voice"
	// backendInterval is how often the simulated backend sidecars publish.
	backendInterval = 200 * time.Millisecond
	// dispatcherSet is the set of the destination lists the tests write.
	dispatcherSet = 1
)

// TestDispatcherDrainsABackend is the drain of a dispatcher backend on real
// servers: Debian's Kamailio dispatches calls round-robin to two sipp UAS
// backends, A and B, while a sipp UAC places calls through it; rtcscale's
// Dispatcher watches the backends' samples on an in-process NATS server.
// Mid-run, B's sample says draining. The test waits until Kamailio's
// dispatcher.list shows B disabled, places a batch of calls and checks that
// every one reached A; the calls B carried end normally, and no call fails.
// B then serves again, and a last batch reaches both backends.
//
// Needs the Debian packages kamailio and sip-tester.
func TestDispatcherDrainsABackend(t *testing.T) {
	kamailioBin, sippBin := testenv.LookPath(t, "kamailio", "kamailio"), testenv.LookPath(t, "sipp", "sip-tester")
	const (
		loadCalls    = 60   // placed at loadRate over the whole test
		loadRate     = 10   // calls per second
		loadLength   = 4000 // ms: calls last long enough to be in flight at the drain
		batchCalls   = 20   // placed once B is disabled, and once it is back
		inFlightWant = 6    // dialogs up before B drains
	)
	dir := t.TempDir()
	uasA, uasB := freePort(t, "udp"), freePort(t, "udp")
	addrA, addrB := fmt.Sprintf("127.0.0.1:%d", uasA), fmt.Sprintf("127.0.0.1:%d", uasB)
	// B is listed with a transport parameter: a destination matches its
	// backend's host and port whatever the URI's parameters.
	uriA, uriB := "sip:"+addrA, "sip:"+addrB+";transport=udp"
	kam := startDispatcherKamailio(t, kamailioBin, dir, uriA, uriB)
	flagsAre := kam.flagsAre
	waitFor(t, "Kamailio's dispatcher set", flagsAre(map[string]string{uriA: "AX", uriB: "AX"}))

	ns := natstest.Start(t)
	d := runDispatcher(t, ns.ClientURL(), kam.rpc)
	pub := natstest.Connect(t, ns.ClientURL())
	publishBackend(t, pub, "asterisk-a", addrA)
	b := publishBackend(t, pub, "asterisk-b", addrB)

	uas := func(name string, port int) *sippUAS {
		u := &sippUAS{name: name, messages: filepath.Join(dir, name+".messages"), stats: filepath.Join(dir, name+".csv")}
		u.p = start(t, sippBin, "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-cp", strconv.Itoa(freePort(t, "udp")), "-nostdin",
			"-trace_msg", "-message_file", u.messages, "-trace_stat", "-stf", u.stats)
		return u
	}
	a, bUAS := uas("uas-a", uasA), uas("uas-b", uasB)
	uac := func(service string, calls, rate, length int) *sippUAC {
		c := &sippUAC{name: "uac-" + service, stats: filepath.Join(dir, "uac-"+service+".csv")}
		c.p = start(t, sippBin, "-sf", "testdata/sipp-uac-routed.xml", "-s", service, fmt.Sprintf("127.0.0.1:%d", kam.sipPort),
			"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "udp")), "-cp", strconv.Itoa(freePort(t, "udp")),
			"-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-d", strconv.Itoa(length), "-nostdin", "-trace_stat", "-stf", c.stats)
		return c
	}

	// The load runs through the drain: calls in flight on both backends
	// when it starts, new ones placed while it happens and after.
	load := uac("load", loadCalls, loadRate, loadLength)
	waitFor(t, "dialogs up on both backends", func() (bool, string) {
		onA, errA := kam.dialogsTo(addrA)
		onB, errB := kam.dialogsTo(addrB)
		if errA != nil || errB != nil {
			return false, fmt.Sprint(errA, errB)
		}
		return onA+onB >= inFlightWant && onA > 0 && onB > 0, fmt.Sprintf("%d on A, %d on B", onA, onB)
	})

	b.draining.Store(true)
	waitFor(t, "B disabled in Kamailio's dispatcher set", flagsAre(map[string]string{uriA: "AX", uriB: "DX"}))
	inFlightB, err := kam.dialogsTo(addrB)
	if err != nil {
		t.Fatal(err)
	}
	if inFlightB == 0 {
		t.Fatal("B carried no call when it was disabled: the drain of running calls is not tested")
	}
	drained := uac("drained", batchCalls, 2*loadRate, 500)
	drainedCalls := drained.wait(t)

	// Back to serving: Kamailio sends calls to B again. The last batch
	// waits for the load to end, so that round-robin alternates its own
	// calls between A and B.
	b.draining.Store(false)
	waitFor(t, "B active again in Kamailio's dispatcher set", flagsAre(map[string]string{uriA: "AX", uriB: "AX"}))
	loadResult := load.wait(t)
	back := uac("back", batchCalls, 2*loadRate, 500)
	backCalls := back.wait(t)

	// Soft quit: each UAS exits once its calls have ended.
	onA, onB := a.stop(t), bUAS.stop(t)

	for _, r := range []sippResult{loadResult, drainedCalls, backCalls} {
		if r.failed != 0 || r.successful != r.created {
			t.Errorf("%s: %d calls placed, %d successful, %d failed (exit status %d)", r.name, r.created, r.successful, r.failed, r.exit)
		}
	}
	if loadResult.created != loadCalls || drainedCalls.created != batchCalls || backCalls.created != batchCalls {
		t.Errorf("calls placed: load %d, drained %d, back %d; want %d, %d, %d", loadResult.created, drainedCalls.created, backCalls.created, loadCalls, batchCalls, batchCalls)
	}
	if n := len(onB.invites["drained"]); n != 0 {
		t.Errorf("B received %d new calls while disabled", n)
	}
	if n := len(onA.invites["drained"]); n != batchCalls {
		t.Errorf("A received %d of the %d calls placed while B was disabled", n, batchCalls)
	}
	if len(onA.invites["back"]) != batchCalls/2 || len(onB.invites["back"]) != batchCalls/2 {
		t.Errorf("after B is back: A received %d calls, B %d; want %d each", len(onA.invites["back"]), len(onB.invites["back"]), batchCalls/2)
	}
	if got := len(onA.invites["load"]) + len(onB.invites["load"]); got != loadCalls {
		t.Errorf("the backends received %d load calls, want %d", got, loadCalls)
	}
	// Every call B took ended with a BYE it answered, and sipp counts
	// none failed on its side either.
	for callID := range onB.allInvites() {
		if !onB.byes[callID] {
			t.Errorf("B's call %s never received its BYE", callID)
		}
	}
	if onB.failed != 0 || onA.failed != 0 {
		t.Errorf("failed calls on the backends: A %d, B %d", onA.failed, onB.failed)
	}
	// The samples said "draining" every 200 ms for the whole drain, and the
	// set was read every resync: Kamailio was asked once each way.
	if st := d.Stats(); st.Disabled != 1 || st.Enabled != 1 || st.RPCErrors != 0 || st.Rejected != 0 || st.UnknownAddr != 0 {
		t.Errorf("dispatcher stats %+v, want one disable, one enable and no error", st)
	}
	t.Logf("calls placed %d (load %d, while B drained %d, after %d), failed %d; B carried %d calls when disabled, all ended with a BYE; "+
		"new calls to B while disabled: %d (A took %d); load calls on A %d, on B %d; dispatcher %+v",
		loadResult.created+drainedCalls.created+backCalls.created, loadResult.created, drainedCalls.created, backCalls.created,
		loadResult.failed+drainedCalls.failed+backCalls.failed, inFlightB, len(onB.invites["drained"]), len(onA.invites["drained"]),
		len(onA.invites["load"]), len(onB.invites["load"]), d.Stats())
}

// TestDispatcherKeepsTheSetInStep checks, on a real Kamailio (no calls),
// what the Dispatcher does beyond one drain: a backend listed for two
// transports, a probing destination, other sets, a Kamailio restart (its
// list reloads with every destination active), a backend gone stale, and
// the samples it cannot use (counted, the set untouched).
//
// Needs the Debian package kamailio.
func TestDispatcherKeepsTheSetInStep(t *testing.T) {
	kamailioBin := testenv.LookPath(t, "kamailio", "kamailio")
	dir := t.TempDir()
	addrA, addrB, addrOther := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp")), fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp")), fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp"))
	// A is probed (flags 8); B is listed for UDP and TCP; the other
	// address is in another set.
	uriA, uriBUDP, uriBTCP, uriOther := "sip:"+addrA, "sip:"+addrB+";transport=udp", "sip:"+addrB+";transport=tcp", "sip:"+addrOther
	kam := startDispatcherKamailio(t, kamailioBin, dir, uriA+" 8", uriBUDP, uriBTCP, "2 "+uriOther)
	all := func(a, b string) map[string]string { return map[string]string{uriA: a, uriBUDP: b, uriBTCP: b} }
	waitFor(t, "Kamailio's dispatcher set", kam.flagsAre(all("AP", "AX")))

	// The RPC permissions of docs/drain.md refuse what the sidecar does
	// not call.
	resp, err := http.Post(kam.rpc, "application/json", strings.NewReader(`{"jsonrpc":"2.0","method":"dispatcher.reload","id":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("dispatcher.reload: %s, want 403 Forbidden", resp.Status)
	}

	ns := natstest.Start(t)
	d := runDispatcher(t, ns.ClientURL(), kam.rpc)
	pub := natstest.Connect(t, ns.ClientURL())
	a := publishBackend(t, pub, "asterisk-a", addrA)
	b := publishBackend(t, pub, "asterisk-b", addrB)
	statsAre := func(what string, ok func(sidecar.DispatcherStats) bool) {
		t.Helper()
		waitFor(t, what, func() (bool, string) { st := d.Stats(); return ok(st), fmt.Sprintf("%+v", st) })
	}

	statsAre("the Dispatcher subscribed", func(st sidecar.DispatcherStats) bool { return st.Samples > 0 })

	// Samples it cannot use: counted, nothing set.
	publishBackend(t, pub, "asterisk-unknown", "127.0.0.1:9")
	publishBackend(t, pub, "asterisk-no-addr", "")
	// A backend of another set drains: that set is not this Dispatcher's.
	publishBackend(t, pub, "asterisk-other-set", addrOther).draining.Store(true)
	subject := func(pod string) string {
		return sample.Subject(sample.DefaultSubjectPrefix, backendNamespace, sample.KindAsterisk, pod)
	}
	drainB := backendSample("asterisk-b", addrB, true, time.Now())
	drainBody := string(drainB.AppendJSON(nil))
	for _, m := range []struct{ subject, body string }{
		{subject("asterisk-a"), `{"v":1,`},
		// A body naming another pod than its subject's.
		{subject("asterisk-x"), drainBody},
		// An address without a port.
		{subject("asterisk-b"), strings.Replace(drainBody, addrB, "127.0.0.1", 1)},
	} {
		if err := pub.Publish(m.subject, []byte(m.body)); err != nil {
			t.Fatal(err)
		}
	}
	statsAre("bad samples counted", func(st sidecar.DispatcherStats) bool {
		return st.Rejected == 3 && st.UnknownAddr >= 2 && st.NoAddr >= 1
	})

	// Draining A disables it; serving again gives it back its probing.
	a.draining.Store(true)
	waitFor(t, "A disabled", kam.flagsAre(all("DX", "AX")))
	a.draining.Store(false)
	waitFor(t, "A active and probing again", kam.flagsAre(all("AP", "AX")))

	// B is disabled for both transports, once each, however many samples
	// and resyncs follow.
	b.draining.Store(true)
	waitFor(t, "B disabled for both transports", kam.flagsAre(all("AP", "DX")))
	before := d.Stats()
	statsAre("ten more samples and two resyncs", func(st sidecar.DispatcherStats) bool {
		return st.Samples >= before.Samples+10 && st.Resyncs >= before.Resyncs+2
	})
	if st := d.Stats(); st.Disabled != 3 || st.Enabled != 1 {
		t.Errorf("stats %+v: want 3 destinations disabled (A, B twice) and 1 enabled, each once", st)
	}

	// A restarted Kamailio reloads its list with B active: the next
	// resync disables B again.
	kam.stop()
	failed := d.Stats().RPCErrors
	statsAre("Kamailio unreachable", func(st sidecar.DispatcherStats) bool { return st.RPCErrors > failed })
	kam.start()
	waitFor(t, "B disabled again after Kamailio's restart", kam.flagsAre(all("AP", "DX")))
	if st := d.Stats(); st.Disabled != 5 {
		t.Errorf("stats %+v: want B's two destinations disabled again, 5 in all", st)
	}

	// A sample already stale on arrival is ignored: B stays disabled.
	b.stop()
	stale := backendSample("asterisk-b", addrB, false, time.Now().Add(-time.Minute))
	if err := pub.Publish(stale.Subject(sample.DefaultSubjectPrefix), stale.AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	statsAre("the stale sample", func(st sidecar.DispatcherStats) bool { return st.Stale == 1 })
	if ok, flags := kam.flagsAre(all("AP", "DX"))(); !ok {
		t.Fatalf("a stale sample changed the set: %s", flags)
	}

	// B's pod is gone: once its last sample is stale, B is left alone,
	// even when a Kamailio restart makes it active.
	waitFor(t, "B's last sample stale", func() (bool, string) {
		return time.Now().After(b.last().Add(3 * backendInterval)), "fresh"
	})
	kam.stop()
	kam.start()
	waitFor(t, "Kamailio's list reloaded", kam.flagsAre(all("AP", "AX")))
	resyncs := d.Stats().Resyncs
	statsAre("two resyncs", func(st sidecar.DispatcherStats) bool { return st.Resyncs >= resyncs+2 })
	if ok, flags := kam.flagsAre(all("AP", "AX"))(); !ok {
		t.Errorf("after B went stale and Kamailio restarted: %s, want B left active", flags)
	}
	if flags, err := kam.flags(); err != nil || flags[uriOther] != "AX" {
		t.Errorf("the other set's destination: %q (%v), want it untouched", flags[uriOther], err)
	}
}

// dispatcherKamailio is a Kamailio proxy in front of a dispatcher set.
type dispatcherKamailio struct {
	t       testing.TB
	bin     string
	args    []string
	p       *process
	rpc     string
	sipPort int
}

// startDispatcherKamailio runs Kamailio with a destination list of the
// given lines ("<uri> [flags]" in set dispatcherSet, or "<set> <uri>").
func startDispatcherKamailio(t testing.TB, bin, dir string, dests ...string) *dispatcherKamailio {
	t.Helper()
	var list strings.Builder
	for _, line := range dests {
		if !strings.HasPrefix(line, "sip:") {
			fmt.Fprintln(&list, line)
			continue
		}
		fmt.Fprintln(&list, dispatcherSet, line)
	}
	listPath := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sipPort, httpPort := freePort(t, "udp"), freePort(t, "tcp")
	cfg := filepath.Join(dir, "kamailio.cfg")
	writeTemplate(t, "testdata/kamailio.cfg.tmpl", cfg, kamailioConfig{SIPPort: sipPort, HTTPPort: httpPort, DispatcherList: listPath, DispatcherSet: dispatcherSet})
	k := &dispatcherKamailio{t: t, bin: bin, args: []string{"-DD", "-E", "-f", cfg, "-Y", dir, "-m", "64", "-M", "8"},
		rpc: fmt.Sprintf("http://127.0.0.1:%d/RPC", httpPort), sipPort: sipPort}
	k.start()
	return k
}

func (k *dispatcherKamailio) start() { k.p = start(k.t, k.bin, k.args...) }
func (k *dispatcherKamailio) stop()  { k.p.stop() }

// flags asks Kamailio itself, without the Dispatcher's code, for the flags
// of every destination it lists, by URI.
func (k *dispatcherKamailio) flags() (map[string]string, error) {
	var reply struct {
		Result struct {
			Records []struct {
				Set struct {
					Targets []struct {
						Dest struct{ URI, Flags string } `json:"DEST"`
					} `json:"TARGETS"`
				} `json:"SET"`
			} `json:"RECORDS"`
		} `json:"result"`
	}
	if err := k.call("dispatcher.list", &reply); err != nil {
		return nil, err
	}
	flags := map[string]string{}
	for _, r := range reply.Result.Records {
		for _, d := range r.Set.Targets {
			flags[d.Dest.URI] = d.Dest.Flags
		}
	}
	return flags, nil
}

// flagsAre makes a waitFor condition on the flags of some destinations.
func (k *dispatcherKamailio) flagsAre(want map[string]string) func() (bool, string) {
	return func() (bool, string) {
		got, err := k.flags()
		if err != nil {
			return false, err.Error()
		}
		for uri, f := range want {
			if got[uri] != f {
				return false, fmt.Sprint(got)
			}
		}
		return true, ""
	}
}

// dialogsTo counts the confirmed dialogs whose callee is the backend at
// addr (its Contact).
func (k *dispatcherKamailio) dialogsTo(addr string) (int, error) {
	var reply struct {
		Result []struct {
			State  int `json:"state"`
			Callee struct {
				Contact string `json:"contact"`
			} `json:"callee"`
		} `json:"result"`
	}
	if err := k.call("dlg.list", &reply); err != nil {
		return 0, err
	}
	n := 0
	for _, dlg := range reply.Result {
		if dlg.State == 4 && strings.HasPrefix(dlg.Callee.Contact, "sip:"+addr+";") {
			n++
		}
	}
	return n, nil
}

func (k *dispatcherKamailio) call(method string, reply any) error {
	resp, err := http.Post(k.rpc, "application/json", strings.NewReader(`{"jsonrpc":"2.0","method":"`+method+`","id":1}`))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(reply)
}

// runDispatcher runs a Dispatcher for set dispatcherSet of the Kamailio at
// rpc, watching the Asterisk backends of backendNamespace, until the test
// ends, and checks that it then returns cleanly.
func runDispatcher(t testing.TB, natsURL, rpc string) *sidecar.Dispatcher {
	t.Helper()
	d, err := sidecar.NewDispatcher(sidecar.DispatcherConfig{URL: rpc, Group: dispatcherSet, Namespace: backendNamespace,
		Kinds: []sample.Kind{sample.KindAsterisk}, Resync: backendInterval})
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, natsURL)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Dispatcher.Run: %v", err)
		}
	})
	return d
}

// backend publishes an Asterisk backend pod's samples as its sidecar
// would, every backendInterval until stopped or the test ends.
type backend struct {
	draining atomic.Bool
	lastTime atomic.Int64 // unix ms of the last sample published
	stopc    chan struct{}
	stopped  chan struct{}
}

func backendSample(pod, addr string, draining bool, at time.Time) sample.Sample {
	return sample.Sample{Kind: sample.KindAsterisk, Namespace: backendNamespace, Pod: pod, Addr: addr, Time: at,
		Interval: backendInterval, Draining: draining, Gauges: []sample.Gauge{{Name: sample.GaugeCalls, Value: 0}}}
}

func publishBackend(t testing.TB, nc *nats.Conn, pod, addr string) *backend {
	b := &backend{stopc: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(b.stopped)
		tick := time.NewTicker(backendInterval)
		defer tick.Stop()
		for seq := uint64(0); ; seq++ {
			s := backendSample(pod, addr, b.draining.Load(), time.Now())
			s.Seq = seq
			if err := s.Validate(); err != nil {
				t.Errorf("backend %s: %v", pod, err)
				return
			}
			if err := nc.Publish(s.Subject(sample.DefaultSubjectPrefix), s.AppendJSON(nil)); err != nil {
				t.Errorf("backend %s: %v", pod, err)
				return
			}
			b.lastTime.Store(s.Time.UnixMilli())
			select {
			case <-b.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(b.stop)
	return b
}

// stop ends the publishing; it may be called twice.
func (b *backend) stop() {
	select {
	case <-b.stopc:
	default:
		close(b.stopc)
	}
	<-b.stopped
}

func (b *backend) last() time.Time { return time.UnixMilli(b.lastTime.Load()) }

// sippUAC is a sipp placing calls: -m calls, then it exits.
type sippUAC struct {
	name  string
	p     *process
	stats string
}

type sippResult struct {
	name                        string
	exit                        int
	created, successful, failed int
}

// wait waits for the UAC to have placed all its calls and returns its
// final counts.
func (c *sippUAC) wait(t testing.TB) sippResult {
	t.Helper()
	r := sippResult{name: c.name, exit: c.p.wait(t, c.name)}
	r.created, r.successful, r.failed = sippCounts(t, c.stats)
	return r
}

// sippUAS is a sipp answering calls, logging every message.
type sippUAS struct {
	name, messages, stats string
	p                     *process
}

// uasCalls is what a UAS received: the Call-IDs of its INVITEs by the
// service they called (the R-URI's user), and of its BYEs.
type uasCalls struct {
	invites map[string]map[string]bool
	byes    map[string]bool
	failed  int
}

func (c uasCalls) allInvites() map[string]bool {
	all := map[string]bool{}
	for _, ids := range c.invites {
		for id := range ids {
			all[id] = true
		}
	}
	return all
}

// stop asks the UAS to quit once its calls have ended (SIGUSR1), waits
// for it and reads its message log and counts.
func (u *sippUAS) stop(t testing.TB) uasCalls {
	t.Helper()
	if err := u.p.signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if exit := u.p.wait(t, u.name); exit != 0 {
		t.Errorf("%s exited with status %d", u.name, exit)
	}
	calls := uasCalls{invites: map[string]map[string]bool{}, byes: map[string]bool{}}
	_, _, calls.failed = sippCounts(t, u.stats)
	log, err := os.ReadFile(u.messages)
	if err != nil {
		t.Fatal(err)
	}
	// Each message is logged after a line that says whether it was
	// received or sent; retransmissions repeat a Call-ID, which counts
	// once.
	var received bool
	var method, service string
	sc := bufio.NewScanner(bytes.NewReader(log))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, "UDP message "):
			received, method = strings.HasPrefix(line, "UDP message received"), ""
		case !received || line == "":
		case method == "":
			// The request line: INVITE sip:service@host:port SIP/2.0.
			method, _, _ = strings.Cut(line, " ")
			service = ""
			if m, ok := strings.CutPrefix(line, "INVITE sip:"); ok {
				service, _, _ = strings.Cut(m, "@")
			}
		case strings.HasPrefix(line, "Call-ID: "):
			id := strings.TrimPrefix(line, "Call-ID: ")
			switch method {
			case "INVITE":
				if calls.invites[service] == nil {
					calls.invites[service] = map[string]bool{}
				}
				calls.invites[service][id] = true
			case "BYE":
				calls.byes[id] = true
			}
		}
	}
	return calls
}

// sippCounts reads the cumulative counts of the last line of a sipp
// statistics file (-trace_stat): calls created, successful and failed.
func sippCounts(t testing.TB, path string) (created, successful, failed int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 2 {
		t.Fatalf("%s: no statistics line", path)
	}
	header, last := strings.Split(lines[0], ";"), strings.Split(lines[len(lines)-1], ";")
	value := func(column string) int {
		for i, h := range header {
			if h == column && i < len(last) {
				n, err := strconv.Atoi(last[i])
				if err != nil {
					t.Fatalf("%s: %s = %q", path, column, last[i])
				}
				return n
			}
		}
		t.Fatalf("%s: no column %s", path, column)
		return 0
	}
	return value("TotalCallCreated"), value("SuccessfulCall(C)"), value("FailedCall(C)")
}
