package predictor

import (
	"fmt"
	"strings"
	"time"

	wire "github.com/rtcscale/rtcscale/sample"
)

// Leads say how far ahead each workload's forecast looks. The forecast has
// to look at least as far ahead as a new pod takes to become Ready, or the
// pods it asks for come too late; by default that is learned from the
// workload's own pods.
type Leads struct {
	// Default is the lead of the workloads not in Workloads; 0 means
	// learned.
	Default time.Duration
	// Workloads maps "namespace/name" to that workload's lead (any kind of
	// workload of that name); 0 means learned.
	Workloads map[string]time.Duration
	// Floor is the shortest learned lead. Default 1m.
	Floor time.Duration
}

// MaxLead bounds a configured lead: the predictor forecasts at most a day
// ahead.
const MaxLead = 24 * time.Hour

// learnedLeadQuantile is the quantile of recent start-ups a learned lead
// covers: most new pods, not the one that hit a slow node.
const learnedLeadQuantile = 0.9

// fixed returns the configured lead of a workload, and false if it is to
// be learned.
func (l Leads) fixed(namespace, name string) (time.Duration, bool) {
	d, ok := l.Workloads[namespace+"/"+name]
	if !ok {
		d = l.Default
	}
	return d, d > 0
}

// learned is the lead of a workload whose pods' start-up p90 is startup
// (n start-ups seen): that, plus one step of history for the HPA's sync
// period and the minute the forecast is resolved to, never below Floor.
func (l Leads) learned(startup time.Duration, step time.Duration) time.Duration {
	floor := l.Floor
	if floor <= 0 {
		floor = time.Minute
	}
	return max(floor, startup+step)
}

// ParseLeads parses the --forecast-lead flag: comma-separated
// "namespace/name=LEAD" and "default=LEAD", each LEAD a duration or
// "learned". An empty string is every workload learned.
func ParseLeads(s string) (Leads, error) {
	var l Leads
	if strings.TrimSpace(s) == "" {
		return l, nil
	}
	for _, item := range strings.Split(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return Leads{}, fmt.Errorf("forecast lead %q: want namespace/name=DURATION|learned or default=DURATION|learned", item)
		}
		d := time.Duration(0)
		if val != "learned" {
			var err error
			if d, err = time.ParseDuration(val); err != nil || d <= 0 || d > MaxLead {
				return Leads{}, fmt.Errorf("forecast lead %q: %q is neither \"learned\" nor a duration between 0 and %s", item, val, MaxLead)
			}
		}
		if key == "default" {
			l.Default = d
			continue
		}
		ns, name, ok := strings.Cut(key, "/")
		if !ok || !wire.IsDNSLabel(ns) || !wire.IsDNSSubdomain(name) {
			return Leads{}, fmt.Errorf("forecast lead %q: %q is not default or namespace/name", item, key)
		}
		if l.Workloads == nil {
			l.Workloads = map[string]time.Duration{}
		}
		if _, dup := l.Workloads[key]; dup {
			return Leads{}, fmt.Errorf("forecast lead %q: %s given twice", item, key)
		}
		l.Workloads[key] = d
	}
	return l, nil
}
