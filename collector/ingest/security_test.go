package ingest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/klogtest"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// sidecar connects as one sidecar user; errs receives the server's
// asynchronous refusals (permission violations).
func sidecar(t *testing.T, url, caFile, seedFile string) (*nats.Conn, chan error) {
	t.Helper()
	nkey, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	nc := natstest.Connect(t, url, nkey, nats.RootCAs(caFile), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	return nc, errs
}

func wantViolation(t *testing.T, errs chan error, what string) {
	t.Helper()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "Permissions Violation") {
			t.Fatalf("%s: %v, want a permissions violation", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the server did not refuse it", what)
	}
}

// TestSecureNATS runs the example account configuration over TLS with
// NKeys: the adapter connects with --nats-nkey and --nats-tls-ca, reads
// every sample and uses its streams but cannot publish a sample; a sidecar
// publishes its own pod's subject only and reads nothing; a client without
// TLS or without a key is refused.
func TestSecureNATS(t *testing.T) {
	srv, caFile, seeds := natstest.Accounts(t, "../../deploy/nats/accounts.conf")
	url := srv.ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	store, c := newTestStore(collector.Options{})
	store.UpsertPod(readyPod("voice", "kamailio-0", "kamailio", collector.Workload{}))
	store.UpsertPod(readyPod("voice", "kamailio-1", "kamailio", collector.Workload{}))
	nc, err := natsconn.Dial(natsconn.Options{URL: url, NKey: seeds["ADAPTER"], TLSCA: caFile}, NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, "the adapter connects over TLS with its NKey", nc.IsConnected)
	if !nc.TLSRequired() {
		t.Fatal("the server does not require TLS")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureWarmStream(ctx, js, WarmConfig{Stream: "RTCSCALE_LATEST"}); err != nil {
		t.Fatalf("the adapter may not create its warm-restart stream: %v", err)
	}
	sub := NewSubscriber(store, sample.DefaultSubjectPrefix, nil)
	if err := sub.Start(nc); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// A sidecar publishes its own pod's samples.
	kam0, errs := sidecar(t, url, caFile, seeds["SIDECAR_KAMAILIO_0"])
	own := smp("voice", "kamailio-0", c.Now(), calls(3))
	own.Kind = sample.KindKamailio
	publish(t, kam0, own)
	waitFor(t, "the sidecar's sample arrives", func() bool { return served(t, store, "voice", "app=kamailio", "calls")["kamailio-0"] == 3 })

	// ...and not another pod's: the server refuses before the adapter
	// sees it.
	other := *own
	other.Pod = "kamailio-1"
	publish(t, kam0, &other)
	wantViolation(t, errs, "a sidecar publishing another pod's subject")
	own.Time, own.Gauges = own.Time.Add(time.Second), []sample.Gauge{calls(4)}
	publish(t, kam0, own) // NATS keeps a publisher's order: once this is here, the other would be too
	waitFor(t, "the next own sample", func() bool { return served(t, store, "voice", "app=kamailio", "calls")["kamailio-0"] == 4 })
	if got := served(t, store, "voice", "app=kamailio", "calls"); len(got) != 1 {
		t.Fatalf("served %v: another pod's subject got through", got)
	}
	// A sidecar reads nothing.
	if _, err := kam0.Subscribe(sample.DefaultSubjectPrefix+".>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	wantViolation(t, errs, "a sidecar subscribing to the samples")

	// The adapter publishes no sample.
	if err := nc.Publish(own.Subject(sample.DefaultSubjectPrefix), own.AppendJSON(nil)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the adapter's publish refused", func() bool {
		return nc.LastError() != nil && strings.Contains(nc.LastError().Error(), "Permissions Violation")
	})

	// A sidecar of the Deployment publishes for any pod of its kind in its
	// namespace, no further.
	ast, astErrs := sidecar(t, url, caFile, seeds["SIDECAR_ASTERISK"])
	publish(t, ast, smp("voice", "asterisk-5d4-x2x4z", c.Now(), calls(1)))
	kam := smp("voice", "kamailio-0", c.Now().Add(2*time.Second), calls(99))
	kam.Kind = sample.KindKamailio
	publish(t, ast, kam)
	wantViolation(t, astErrs, "the Asterisk sidecars publishing a Kamailio subject")

	// The adapter's streams work under its permissions: the warm load, and
	// the history the predictor keeps (written with message IDs, read with
	// an ordered consumer).
	fresh := collector.NewStore(collector.Options{Now: c.Now}, nil)
	fresh.UpsertPod(readyPod("voice", "kamailio-0", "kamailio", collector.Workload{}))
	if _, err := NewSubscriber(fresh, sample.DefaultSubjectPrefix, nil).WarmLoad(ctx, js, "RTCSCALE_LATEST"); err != nil {
		t.Fatalf("warm load with the adapter's permissions: %v", err)
	}
	if got := served(t, fresh, "voice", "app=kamailio", "calls"); got["kamailio-0"] != 4 {
		t.Fatalf("warm load: %v", got)
	}
	history, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "RTCSCALE_HISTORY", Subjects: []string{"rtcscale.history.v1.>"}})
	if err != nil {
		t.Fatalf("history stream with the adapter's permissions: %v", err)
	}
	if _, err := js.Publish(ctx, "rtcscale.history.v1.dm9pY2U", []byte(`{"w":"voice","t":0,"v":1}`), jetstream.WithMsgID("voice@0")); err != nil {
		t.Fatalf("history write: %v", err)
	}
	cons, err := history.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("history read: %v", err)
	}
	if msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil || string(msg.Data()) != `{"w":"voice","t":0,"v":1}` {
		t.Fatalf("history read: %v", err)
	}

	// Without a key, or without TLS, no entry.
	if nc, err := nats.Connect(url, nats.RootCAs(caFile)); err == nil {
		nc.Close()
		t.Fatal("a client without an NKey connected")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Fatalf("anonymous client: %v", err)
	}
	if nc, err := nats.Connect(url, nats.Secure(nil)); err == nil {
		nc.Close()
		t.Fatal("a client that does not trust the CA connected")
	}
}

// TestNoSecretInLogsOrErrors dials with secrets that the server refuses
// (a password in the URL and in the options, a seed file that is not a
// seed) and checks that none of them appears in an error or a log line.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	srv, caFile, _ := natstest.Accounts(t, "../../deploy/nats/accounts.conf")
	logs := klogtest.Capture(t)
	const password, urlPassword, notASeed = "hunter2-Tr0ub4dor", "c0rrect-h0rse-battery", "SUAPRIVATEBUTNOTASEEDATALL1234567890"
	port := srv.Addr().(*net.TCPAddr).Port

	var errs []string
	nc, err := natsconn.Dial(natsconn.Options{URL: srv.ClientURL(), User: "adapter", Password: password, TLSCA: caFile}, nil)
	if err != nil {
		errs = append(errs, err.Error())
	} else {
		waitFor(t, "the refusal logged", func() bool { return logs.Count("uthorization") > 0 })
		// Refused credentials are retried, not given up on (nats.go's
		// default is to give up after two refusals): they may be fixed
		// on the server's side. The server counts the attempts.
		attempts := func() uint64 { v, _ := srv.Varz(nil); return v.TotalConnections }
		seen := attempts()
		waitFor(t, "three more attempts", func() bool { return attempts() >= seen+3 })
		if nc.IsClosed() {
			t.Fatal("the connection gave up after the credentials were refused")
		}
		if n := logs.Count("uthorization"); n != 1 {
			t.Fatalf("%d log lines for the same refusal, want 1:\n%s", n, logs)
		}
		if last := nc.LastError(); last != nil {
			errs = append(errs, last.Error())
		}
		nc.Close()
	}
	withPassword := "nats://adapter:" + urlPassword + "@127.0.0.1:" + strconv.Itoa(port)
	nc, err = natsconn.Dial(natsconn.Options{URL: withPassword, TLSCA: caFile}, nil)
	if err != nil {
		errs = append(errs, err.Error())
	} else {
		waitFor(t, "the second refusal logged", func() bool { return logs.Count("uthorization") > 1 })
		if last := nc.LastError(); last != nil {
			errs = append(errs, last.Error())
		}
		nc.Close()
	}
	errs = append(errs, natsconn.RedactURLs(withPassword))
	seedFile := filepath.Join(t.TempDir(), "bad.nk")
	if err := os.WriteFile(seedFile, []byte(notASeed), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := natsconn.Dial(natsconn.Options{URL: srv.ClientURL(), NKey: seedFile}, nil); err == nil {
		t.Fatal("a seed file without a seed was accepted")
	} else {
		errs = append(errs, err.Error())
	}
	everything := strings.Join(errs, "\n") + "\n" + logs.String()
	for _, secret := range []string{password, urlPassword, notASeed} {
		if strings.Contains(everything, secret) {
			t.Errorf("secret %q appears in:\n%s", secret, everything)
		}
	}
	if !strings.Contains(everything, "xxxxx") {
		t.Errorf("the URL was not redacted:\n%s", everything)
	}
}
