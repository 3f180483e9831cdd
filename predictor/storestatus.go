package predictor

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Why the history store could not be used: StoreError.Reason, and the
// reason label of rtcscale_history_store_errors_total.
const (
	// StorePermissions: the NATS server refused one of the store's
	// publishes or subscriptions (the user's permissions lack it).
	StorePermissions = "permissions"
	// StoreJetStreamDisabled: nothing answers the JetStream API in the
	// account.
	StoreJetStreamDisabled = "jetstream_disabled"
	// StoreJetStreamError: JetStream answered with an error (a stream of
	// another configuration, too many replicas for the cluster, limits).
	StoreJetStreamError = "jetstream_error"
	// StoreUnavailable: no answer in time, NATS disconnected, or JetStream
	// temporarily unavailable (no quorum).
	StoreUnavailable = "unavailable"
	// storeOther: an error of an opener that is not the Store's own.
	storeOther = "other"
)

var storeReasons = []string{StorePermissions, StoreJetStreamDisabled, StoreJetStreamError, StoreUnavailable, storeOther}

// StoreError says why the history store could not be used, and what would
// fix it. OpenStore and Store.Load return one for every failure of NATS or
// JetStream.
type StoreError struct {
	// Reason is one of StorePermissions, StoreJetStreamDisabled,
	// StoreJetStreamError and StoreUnavailable.
	Reason string
	stream string
	err    error
	fix    string
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("history stream %s: %v: %s", e.stream, e.err, e.fix)
}

func (e *StoreError) Unwrap() error { return e.err }

// Permissions are the NATS subjects the store publishes to and subscribes
// to: exactly what the adapter's NATS user needs for forecasts, on top of
// subscribing to the samples. docs/security.md explains each;
// deploy/nats/accounts.conf and the Helm chart's notes grant them, and
// TestStoreUnderDocumentedPermissions checks them against a real server.
func (c StoreConfig) Permissions() (publish, subscribe []string) {
	c = c.withDefaults()
	const api = "$JS.API."
	return []string{
			api + "STREAM.INFO." + c.Stream,              // Load: the stream's last sequence
			api + "STREAM.CREATE." + c.Stream,            // OpenStore, when there is no stream yet
			api + "STREAM.UPDATE." + c.Stream,            // OpenStore: CreateOrUpdateStream tries an update first
			api + "CONSUMER.CREATE." + c.Stream + ".*",   // Load's ordered consumer: a name and no filter
			api + "CONSUMER.MSG.NEXT." + c.Stream + ".*", // its pull requests
			api + "CONSUMER.DELETE." + c.Stream + ".*",   // its previous consumer, when it resets after a reconnection
			c.Subject + ".>",                             // Append
		},
		// Replies to the API requests and publishes, and the ordered
		// consumer's messages, arrive on the connection's inboxes.
		[]string{"_INBOX.>"}
}

// Validate refuses a stream name or subject prefix that JetStream or the
// permissions derived from them would trip on.
func (c StoreConfig) Validate() error {
	c = c.withDefaults()
	if strings.ContainsAny(c.Stream, " \t\r\n.*>/\\") {
		return fmt.Errorf("history stream name %q: no spaces, '.', '*', '>', '/' or '\\'", c.Stream)
	}
	for _, tok := range strings.Split(c.Subject, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("history subject prefix %q: dot-separated tokens without spaces or wildcards", c.Subject)
		}
	}
	return nil
}

// StoreOpener returns the function Live.Run opens the store with: OpenStore
// over nc, with JetStream options opts (none in the adapter).
func StoreOpener(nc *nats.Conn, cfg StoreConfig, opts ...jetstream.JetStreamOpt) func(context.Context) (*Store, error) {
	return func(ctx context.Context) (*Store, error) {
		js, err := jetstream.New(nc, opts...)
		if err != nil {
			return nil, err
		}
		return OpenStore(ctx, js, cfg)
	}
}

// violation finds what a NATS permissions violation names.
var violation = regexp.MustCompile(`for (Publish|Subscription) to "([^"]+)"`)

// diagnose turns an error of the store's requests on nc into a StoreError.
// before is nc's last error when the requests began. A NATS server does not
// answer a request it refuses to route, nor a reply it refuses to deliver:
// the request times out, and why is only in the -ERR the server sent,
// which nats.go keeps as the connection's last error.
func (c StoreConfig) diagnose(nc *nats.Conn, before, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	se := &StoreError{stream: c.Stream, err: err}
	refused := c.refused(nc, before)
	var api *jetstream.APIError
	answered := errors.As(err, &api)
	switch {
	case refused != "":
		pub, sub := c.Permissions()
		se.Reason = StorePermissions
		se.fix = fmt.Sprintf("the NATS server refused %s: the adapter's NATS user needs publish on %s and subscribe on %s, besides the samples (docs/security.md)",
			refused, strings.Join(pub, ", "), strings.Join(sub, ", "))
	case errors.Is(err, nats.ErrNoResponders),
		answered && (api.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled || api.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabledForAccount):
		se.Reason = StoreJetStreamDisabled
		se.fix = "JetStream is not enabled for the adapter's NATS account: enable it on the server (a jetstream block, and jetstream: enabled in the account), or turn forecasts off (--forecast=false)"
	case answered && api.Code != 503:
		se.Reason = StoreJetStreamError
		se.fix = "JetStream refused the stream: fix what it says (--history-stream, --history-subject, --history-replicas, or the account's JetStream limits)"
	default:
		se.Reason = StoreUnavailable
		se.fix = fmt.Sprintf("NATS or JetStream did not answer (the NATS connection is %s)", nc.Status())
	}
	return se
}

// refused returns what the NATS server refused nc since before, when it is
// one of the store's subjects: "publish to SUBJECT" or "subscribe to
// _INBOX.>".
func (c StoreConfig) refused(nc *nats.Conn, before error) string {
	if nc.IsConnected() {
		// The server answers a flush's PING after it has sent the -ERR of
		// everything before it, and nats.go reads them in order.
		_ = nc.FlushTimeout(5 * time.Second)
	}
	last := nc.LastError()
	// A violation is a *fmt.wrapError: comparable, whatever before is.
	if !errors.Is(last, nats.ErrPermissionViolation) || last == before {
		return ""
	}
	m := violation.FindStringSubmatch(last.Error())
	switch {
	case m == nil:
		return ""
	case m[1] == "Subscription" && strings.HasPrefix(m[2], "_INBOX."):
		// Inboxes have random names; one way of saying it keeps the log
		// to one line however often it is retried.
		return "subscribe to _INBOX.>"
	case m[1] == "Publish" && (strings.HasPrefix(m[2], "$JS.API.") || strings.HasPrefix(m[2], c.Subject+".")):
		return "publish to " + m[2]
	}
	return "" // another part of the adapter's, such as the samples' subscription
}
