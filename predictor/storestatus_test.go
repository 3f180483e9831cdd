package predictor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtcscale/rtcscale/internal/klogtest"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/natstest"
)

// checkStoreMetrics compares what Attach reports with ready and the
// failed attempts by reason, as Prometheus reads them.
func checkStoreMetrics(t *testing.T, g prometheus.Gatherer, ready int, failed map[string]int) {
	t.Helper()
	var want strings.Builder
	want.WriteString("# HELP rtcscale_history_store_errors_total Failed attempts to open and load the JetStream history store, by reason (permissions, jetstream_disabled, jetstream_error, unavailable, other); forecasts are reactive until one succeeds.\n" +
		"# TYPE rtcscale_history_store_errors_total counter\n")
	for _, r := range []string{"jetstream_disabled", "jetstream_error", "other", "permissions", "unavailable"} {
		fmt.Fprintf(&want, "rtcscale_history_store_errors_total{reason=%q} %d\n", r, failed[r])
	}
	fmt.Fprintf(&want, "# HELP rtcscale_history_store_ready 1 once the JetStream history store is opened and loaded; 0 while it is not, and forecasts are reactive (<gauge>_forecast equals <gauge>).\n"+
		"# TYPE rtcscale_history_store_ready gauge\nrtcscale_history_store_ready %d\n", ready)
	if err := testutil.GatherAndCompare(g, strings.NewReader(want.String()), "rtcscale_history_store_errors_total", "rtcscale_history_store_ready"); err != nil {
		t.Error(err)
	}
}

// wantStoreError checks that err is a StoreError for reason whose message
// says what.
func wantStoreError(t *testing.T, err error, reason, what string) {
	t.Helper()
	var se *StoreError
	if !errors.As(err, &se) || se.Reason != reason || !strings.Contains(err.Error(), what) {
		t.Fatalf("got %v, want a %s StoreError saying %q", err, reason, what)
	}
}

// TestStoreUnderDocumentedPermissions runs the history store as the adapter
// does (natsconn.Dial, StoreOpener, Live.Attach and Tick) against a NATS
// server started from deploy/nats/accounts.conf, whose adapter user carries
// the documented permissions. A new stream is created and written, a
// restarted adapter updates and reads it, and every JetStream API request
// sent on the way is one that StoreConfig.Permissions names, each of which
// the file grants and each of which is used. A user with what install.md
// used to give the adapter (the samples, nothing to publish) is refused,
// and the refusal is reported as permissions, naming what to add.
func TestStoreUnderDocumentedPermissions(t *testing.T) {
	ctx := context.Background()
	oldPub, oldSeed := natstest.NewUser(t)
	oldSeedFile := filepath.Join(t.TempDir(), "old.nk")
	if err := os.WriteFile(oldSeedFile, oldSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	var documented *server.Permissions
	srv, caFile, seeds := natstest.Accounts(t, "../deploy/nats/accounts.conf", func(o *server.Options) {
		for _, u := range o.Nkeys {
			if u.Nkey != os.Getenv("RTCSCALE_ADAPTER_NKEY") {
				continue
			}
			documented = u.Permissions
			o.Nkeys = append(o.Nkeys, &server.NkeyUser{Nkey: oldPub, Account: u.Account, Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Deny: []string{">"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"rtcscale.load.v1.>"}},
			}})
		}
	})
	if documented == nil {
		t.Fatal("accounts.conf has no adapter user")
	}
	dial := func(seedFile string) *nats.Conn {
		nc, err := natsconn.Dial(natsconn.Options{URL: srv.ClientURL(), NKey: seedFile, TLSCA: caFile}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if !nc.IsConnected() {
			t.Fatalf("not connected: %v", nc.LastError())
		}
		return nc
	}
	// What the adapter's connections send, as the server reads it.
	var sent protocolTrace
	srv.SetLogger(&sent, false, true)

	now := time.Date(2024, 6, 6, 8, 0, 30, 0, time.UTC)
	f := newFleet(t, now, time.Minute)
	first := newTestLive(t, f, LiveConfig{}, nil)
	if err := first.Attach(ctx, StoreOpener(dial(seeds["ADAPTER"]), StoreConfig{})); err != nil {
		t.Fatalf("a first adapter, creating the stream: %v", err)
	}
	f.publish(now, 10)
	if err := first.Tick(ctx, now); err != nil {
		t.Fatalf("appending: %v", err)
	}
	reg := prometheus.NewRegistry()
	restarted := newTestLive(t, f, LiveConfig{}, reg)
	if err := restarted.Attach(ctx, StoreOpener(dial(seeds["ADAPTER"]), StoreConfig{})); err != nil {
		t.Fatalf("a restarted adapter, updating and reading the stream: %v", err)
	}
	if err := restarted.StoreStatus(); err != nil {
		t.Fatalf("StoreStatus after a load: %v", err)
	}
	checkStoreMetrics(t, reg, 1, nil)
	if n := testutil.ToFloat64(restarted.metrics.loaded); n != 2 { // calls and channels, one minute
		t.Fatalf("the restarted adapter read %v messages, want the 2 the first wrote", n)
	}

	publish, subscribe := StoreConfig{}.Permissions()
	for _, p := range publish {
		if !slices.Contains(documented.Publish.Allow, p) {
			t.Errorf("accounts.conf does not let the adapter publish on %s", p)
		}
	}
	for _, p := range subscribe {
		if !slices.Contains(documented.Subscribe.Allow, p) {
			t.Errorf("accounts.conf does not let the adapter subscribe to %s", p)
		}
	}
	for _, p := range documented.Publish.Allow {
		if strings.Contains(p, "RTCSCALE_HISTORY") || strings.HasPrefix(p, "rtcscale.history.") {
			if !slices.Contains(publish, p) {
				t.Errorf("accounts.conf grants %s, which the history store does not use", p)
			}
		}
	}
	// Every subject the adapter published to or subscribed to is one
	// the permissions name, and every one they name is used.
	ops := sent.ops(os.Getenv("RTCSCALE_ADAPTER_NKEY"))
	used := map[string]bool{}
	for _, op := range ops {
		allowed := publish
		if op.verb == "SUB" {
			allowed = subscribe
		}
		matched := false
		for _, p := range allowed {
			if server.SubjectMatchesFilter(op.subject, p) {
				used[p], matched = true, true
			}
		}
		if !matched {
			t.Errorf("the store sent %s %s, which StoreConfig.Permissions does not name", op.verb, op.subject)
		}
	}
	for _, p := range append(publish, subscribe...) {
		// Deleting a consumer is an ordered consumer's reset, after a
		// reconnection.
		if !used[p] && !strings.HasPrefix(p, "$JS.API.CONSUMER.DELETE.") {
			t.Errorf("%s is never used (the server traced %d operations)", p, len(ops))
		}
	}

	// The permissions install.md used to give: the store is refused.
	srv.SetLogger(&protocolTrace{}, false, false)
	logs := klogtest.Capture(t)
	reg = prometheus.NewRegistry()
	old := newTestLive(t, f, LiveConfig{}, reg)
	// A request the server refuses is never answered: a short timeout
	// only shortens the wait.
	err := old.Attach(ctx, StoreOpener(dial(oldSeedFile), StoreConfig{}, jetstream.WithDefaultTimeout(time.Second)))
	// nats.go subscribes to its reply inbox, then publishes the request:
	// the publish is the server's last refusal.
	wantStoreError(t, err, StorePermissions, "refused publish to $JS.API.STREAM.UPDATE.RTCSCALE_HISTORY")
	if !strings.Contains(err.Error(), "needs publish on "+strings.Join(publish, ", ")+" and subscribe on _INBOX.>") {
		t.Errorf("the error does not say what to grant: %v", err)
	}
	if st := old.StoreStatus(); st == nil || !strings.Contains(st.Error(), "forecasts are reactive") || !strings.Contains(st.Error(), "refused publish") {
		t.Errorf("StoreStatus %v", st)
	}
	checkStoreMetrics(t, reg, 0, map[string]int{StorePermissions: 1})
	if n := logs.Count("History store unusable", `"reason"="permissions"`, "needs publish on"); n != 1 {
		t.Errorf("%d log lines for the refusal, want 1:\n%s", n, logs)
	}
}

// TestStoreFailuresAreReportedOnce: without JetStream each attempt fails at
// once, is counted and is logged the first time only; when NATS goes away
// the cause changes and is logged again; once a store works, the status
// and the ready gauge say so.
// protocolTrace is a nats-server logger that keeps the publishes and
// subscriptions its clients send, from the server's protocol trace.
type protocolTrace struct {
	mu    sync.Mutex
	lines []string
}

type protocolOp struct{ verb, subject string }

// traced finds a client's operation in a trace line: ..."ACCOUNT/nkey:KEY"
// - <<- [PUB subject reply size], or HPUB, or [SUB subject sid].
var traced = regexp.MustCompile(`/nkey:(\w+)" - <<- \[(H?PUB|SUB) (\S+)`)

func (p *protocolTrace) Tracef(format string, v ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, fmt.Sprintf(format, v...))
}

func (p *protocolTrace) Noticef(string, ...any) {}
func (p *protocolTrace) Warnf(string, ...any)   {}
func (p *protocolTrace) Fatalf(string, ...any)  {}
func (p *protocolTrace) Errorf(string, ...any)  {}
func (p *protocolTrace) Debugf(string, ...any)  {}

// ops are the operations of the user with the public key nkey.
func (p *protocolTrace) ops(nkey string) []protocolOp {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ops []protocolOp
	for _, l := range p.lines {
		if m := traced.FindStringSubmatch(l); m != nil && m[1] == nkey {
			ops = append(ops, protocolOp{strings.TrimPrefix(m[2], "H"), m[3]})
		}
	}
	return ops
}

func TestStoreFailuresAreReportedOnce(t *testing.T) {
	ctx := context.Background()
	logs := klogtest.Capture(t)
	reg := prometheus.NewRegistry()
	l := newTestLive(t, newFleet(t, time.Now(), time.Minute), LiveConfig{}, reg)
	if err := l.StoreStatus(); err == nil || !strings.Contains(err.Error(), "until the history store is opened") {
		t.Fatalf("StoreStatus before any attempt: %v", err)
	}
	checkStoreMetrics(t, reg, 0, nil)

	srv := natstest.Start(t) // core NATS only
	nc := natstest.Connect(t, srv.ClientURL())
	for range 3 {
		wantStoreError(t, l.Attach(ctx, StoreOpener(nc, StoreConfig{})), StoreJetStreamDisabled, "JetStream is not enabled for the adapter's NATS account")
	}
	if n := logs.Count("History store unusable", "jetstream_disabled"); n != 1 {
		t.Fatalf("%d log lines for three attempts, want 1:\n%s", n, logs)
	}
	if err := l.StoreStatus(); err == nil || !strings.Contains(err.Error(), "JetStream is not enabled") {
		t.Fatalf("StoreStatus: %v", err)
	}

	srv.Shutdown()
	// Nothing answers a server that is gone: a short timeout only
	// shortens the wait.
	wantStoreError(t, l.Attach(ctx, StoreOpener(nc, StoreConfig{}, jetstream.WithDefaultTimeout(time.Second))), StoreUnavailable, "did not answer")
	if n := logs.Count("History store unusable"); n != 2 {
		t.Fatalf("%d log lines, want 2: one per cause:\n%s", n, logs)
	}
	checkStoreMetrics(t, reg, 0, map[string]int{StoreJetStreamDisabled: 3, StoreUnavailable: 1})

	js := natstest.Start(t, natstest.JetStream(t.TempDir()))
	if err := l.Attach(ctx, StoreOpener(natstest.Connect(t, js.ClientURL()), StoreConfig{})); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreStatus(); err != nil {
		t.Fatalf("StoreStatus once attached: %v", err)
	}
	if logs.Count("History store usable now") != 1 {
		t.Errorf("the recovery is not logged:\n%s", logs)
	}
	checkStoreMetrics(t, reg, 1, map[string]int{StoreJetStreamDisabled: 3, StoreUnavailable: 1})
}

// TestStoreJetStreamRefusal: a stream JetStream refuses (its subjects
// overlap another stream's) is a jetstream_error carrying JetStream's own
// words.
func TestStoreJetStreamRefusal(t *testing.T) {
	srv := natstest.Start(t, natstest.JetStream(t.TempDir()))
	js, err := jetstream.New(natstest.Connect(t, srv.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"rtcscale.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err = OpenStore(ctx, js, StoreConfig{})
	wantStoreError(t, err, StoreJetStreamError, "subjects overlap")
}

func TestStoreConfigPermissionsAndValidate(t *testing.T) {
	publish, subscribe := StoreConfig{Stream: "TENANT_A", Subject: "tenant-a.history"}.Permissions()
	want := []string{"$JS.API.STREAM.INFO.TENANT_A", "$JS.API.STREAM.CREATE.TENANT_A", "$JS.API.STREAM.UPDATE.TENANT_A",
		"$JS.API.CONSUMER.CREATE.TENANT_A.*", "$JS.API.CONSUMER.MSG.NEXT.TENANT_A.*", "$JS.API.CONSUMER.DELETE.TENANT_A.*", "tenant-a.history.>"}
	if fmt.Sprint(publish) != fmt.Sprint(want) || fmt.Sprint(subscribe) != "[_INBOX.>]" {
		t.Errorf("Permissions: publish %q, subscribe %q", publish, subscribe)
	}
	if err := (StoreConfig{}).Validate(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
	for _, bad := range []StoreConfig{
		{Stream: "A.B"}, {Stream: "A B"}, {Stream: "A*"}, {Stream: "A/B"},
		{Subject: "a..b"}, {Subject: "a.>"}, {Subject: "a.*.b"}, {Subject: "a b"}, {Subject: "a."},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
