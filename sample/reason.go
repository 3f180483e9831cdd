package sample

// Reason says why a sample was rejected. Every rejection is counted by
// reason in rtcscale_samples_rejected_total, so the set is fixed and small.
type Reason uint8

// Reasons, in the order they are checked.
const (
	Accepted Reason = iota
	ReasonTooLarge
	ReasonMalformed
	ReasonVersion
	ReasonKind
	ReasonNamespace
	ReasonPod
	ReasonNode
	ReasonRegion
	ReasonAddr
	ReasonTimestamp
	ReasonInterval
	ReasonNoGauges
	ReasonTooManyGauges
	ReasonGaugeName
	ReasonDuplicateGauge
	ReasonValue
	ReasonSubjectMismatch
	ReasonFuture
	ReasonTooOld
	ReasonOutOfOrder
	ReasonDuplicate
	ReasonSeriesLimit
	ReasonGaugeNameLimit
	NumReasons
)

var reasons = [NumReasons]struct{ label, description string }{
	Accepted:              {"", "accepted"},
	ReasonTooLarge:        {"too_large", "payload larger than 4096 bytes"},
	ReasonMalformed:       {"malformed", "not a JSON object, or a field of the wrong type"},
	ReasonVersion:         {"version", "missing or unsupported \"v\" (want 1)"},
	ReasonKind:            {"kind", "missing or unknown \"kind\""},
	ReasonNamespace:       {"namespace", "\"namespace\" is not a DNS label"},
	ReasonPod:             {"pod", "\"pod\" is not a DNS label"},
	ReasonNode:            {"node", "\"node\" is not a DNS subdomain"},
	ReasonRegion:          {"region", "\"region\" is not a label value"},
	ReasonAddr:            {"addr", "\"addr\" is not host:port (an IP address or DNS name, a port 1-65535)"},
	ReasonTimestamp:       {"timestamp", "missing or invalid \"ts_ms\""},
	ReasonInterval:        {"interval", "\"interval_ms\" missing or outside 100ms..5m"},
	ReasonNoGauges:        {"no_gauges", "\"gauges\" missing or empty"},
	ReasonTooManyGauges:   {"too_many_gauges", "more than 32 gauges"},
	ReasonGaugeName:       {"gauge_name", "a gauge name does not match ^[a-z][a-z0-9_]{0,62}$ or ends in a reserved suffix (_avg, _max, _forecast)"},
	ReasonDuplicateGauge:  {"duplicate_gauge", "a gauge appears twice"},
	ReasonValue:           {"value", "a gauge value is not a finite number between 0 and 1e15"},
	ReasonSubjectMismatch: {"subject_mismatch", "the subject does not name the sample's namespace, kind and pod"},
	ReasonFuture:          {"future", "\"ts_ms\" too far in the future"},
	ReasonTooOld:          {"too_old", "\"ts_ms\" already older than the staleness limit"},
	ReasonOutOfOrder:      {"out_of_order", "older than the pod's latest sample"},
	ReasonDuplicate:       {"duplicate", "same time and sequence as the pod's latest sample"},
	ReasonSeriesLimit:     {"series_limit", "the limit on pod series (total or per namespace) is reached"},
	ReasonGaugeNameLimit:  {"gauge_name_limit", "the limit on distinct gauge names is reached"},
}

// String returns the reason's metric label, e.g. "too_large".
func (r Reason) String() string {
	if r < NumReasons {
		return reasons[r].label
	}
	return "unknown"
}

// Description says what the reason means, for logs and errors.
func (r Reason) Description() string {
	if r < NumReasons {
		return reasons[r].description
	}
	return "unknown reason"
}
