package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/rtcscale/rtcscale/sample"
)

// Kamailio's RPC methods that report active dialogs (dialog module).
const (
	// KamailioStatsFetch reads the dialog module's statistics:
	// {"dialog.active_dialogs":"40",...}, values as strings.
	KamailioStatsFetch = "stats.fetch"
	// KamailioDialogStats counts the dialogs in the dialog table by state:
	// {"starting":0,"connecting":0,"answering":0,"ongoing":40,"all":40}.
	KamailioDialogStats = "dlg.stats_active"
)

// kamailio reads a Kamailio proxy's concurrent dialogs over JSON-RPC
// (jsonrpcs module over xhttp). Kamailio has no drain state of its own (a
// proxy is drained upstream, by whatever routes SIP to it), so Draining
// stays false and kamailio is not a Drainer. As a dispatcher in front of
// backends it is what stops sending calls to a draining backend, told by
// that backend's draining sample rather than by a drain of its own.
type kamailio struct {
	client  *http.Client
	url     string
	method  string
	request []byte
	parse   func([]byte) (Reading, error)
}

func newKamailio(o Options) (*kamailio, error) {
	k := &kamailio{client: o.Client, url: o.URL, method: o.KamailioMethod}
	if k.method == "" {
		k.method = KamailioStatsFetch
	}
	switch k.method {
	case KamailioStatsFetch:
		k.request = []byte(`{"jsonrpc":"2.0","method":"stats.fetch","params":["dialog:"],"id":1}`)
		k.parse = ParseKamailioStats
	case KamailioDialogStats:
		k.request = []byte(`{"jsonrpc":"2.0","method":"dlg.stats_active","id":1}`)
		k.parse = ParseKamailioDialogStats
	default:
		return nil, fmt.Errorf("unknown Kamailio RPC method %q (want %s or %s)", k.method, KamailioStatsFetch, KamailioDialogStats)
	}
	return k, nil
}

func (*kamailio) Kind() sample.Kind { return sample.KindKamailio }

func (k *kamailio) Read(ctx context.Context) (Reading, error) {
	return fetch(ctx, k.client, http.MethodPost, k.url, k.request, "kamailio "+k.method, k.parse)
}

// jsonRPCReply is a JSON-RPC 2.0 reply with its result left raw.
type jsonRPCReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (r *jsonRPCReply) decode(body []byte) (json.RawMessage, error) {
	if err := json.Unmarshal(body, r); err != nil {
		return nil, fmt.Errorf("not a JSON-RPC reply: %w", err)
	}
	if r.Error != nil {
		return nil, fmt.Errorf("JSON-RPC error %d: %s", r.Error.Code, r.Error.Message)
	}
	if len(r.Result) == 0 || string(r.Result) == "null" {
		return nil, fmt.Errorf("JSON-RPC reply without a result")
	}
	return r.Result, nil
}

// ParseKamailioStats parses the reply to stats.fetch("dialog:"). Its
// dialog.active_dialogs (early dialogs included) is the calls gauge.
func ParseKamailioStats(body []byte) (Reading, error) {
	return kamailioCalls(body, "dialog.active_dialogs", " (is the dialog module loaded with enable_stats=1?)")
}

// ParseKamailioDialogStats parses the reply to dlg.stats_active. Its "all"
// (every dialog in the table not yet ended) is the calls gauge.
func ParseKamailioDialogStats(body []byte) (Reading, error) {
	return kamailioCalls(body, "all", "")
}

// kamailioCalls reads the calls gauge from field key of an RPC result.
func kamailioCalls(body []byte, key, hint string) (Reading, error) {
	var reply jsonRPCReply
	raw, err := reply.decode(body)
	if err != nil {
		return Reading{}, err
	}
	var result map[string]json.RawMessage
	if err := json.Unmarshal(raw, &result); err != nil {
		return Reading{}, fmt.Errorf("result: %w", err)
	}
	v, ok := result[key]
	if !ok || string(v) == "null" {
		return Reading{}, fmt.Errorf("%s: %w%s", key, errNoValue, hint)
	}
	var calls count
	if err := calls.UnmarshalJSON(v); err != nil {
		return Reading{}, fmt.Errorf("%s: %w", key, err)
	}
	return Reading{Gauges: []sample.Gauge{{Name: sample.GaugeCalls, Value: float64(calls)}}}, nil
}
