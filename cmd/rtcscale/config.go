package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"
)

// The adapter's --config file is a YAML map from flag names to values, for
// the settings that may change while it runs: the collector's limits and
// staleness, and the external metrics' namespace scope. In a cluster it is
// a mounted ConfigMap, which the kubelet replaces atomically (a symlink
// swap) when the ConfigMap changes; the adapter then re-reads it, so a
// change needs no restart.
//
// Precedence: the file, then the command line, then the flags' defaults.
// A setting removed from the file returns to its command-line value.

// restartOnly are collector flags the file may not set: they decide what
// the adapter subscribes to and registers at start-up.
var restartOnly = []string{"subject-prefix", "enable-external-metrics"}

// loadSettings returns the collector settings of a config file's content
// over those of the command line, refusing any out of its range.
func loadSettings(content []byte, cmdline *pflag.FlagSet) (collectorFlags, error) {
	var cf collectorFlags
	fs := pflag.NewFlagSet("config", pflag.ContinueOnError)
	cf.add(fs)
	var err error
	cmdline.Visit(func(f *pflag.Flag) {
		if err == nil && fs.Lookup(f.Name) != nil {
			err = fs.Set(f.Name, f.Value.String())
		}
	})
	if err != nil {
		return cf, err
	}
	var settings map[string]json.RawMessage
	if err := yaml.UnmarshalStrict(content, &settings); err != nil {
		return cf, fmt.Errorf("want a YAML map of flag names to values: %w", err)
	}
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if slices.Contains(restartOnly, name) {
			return cf, fmt.Errorf("%s: only the command line sets it (a change needs a restart)", name)
		}
		if fs.Lookup(name) == nil {
			return cf, fmt.Errorf("%s: not a setting the config file can change", name)
		}
		v, err := settingValue(settings[name])
		if err != nil {
			return cf, fmt.Errorf("%s: %w", name, err)
		}
		if err := fs.Set(name, v); err != nil {
			return cf, fmt.Errorf("%s: %w", name, err)
		}
	}
	return cf, cf.validate()
}

// settingValue returns a YAML scalar as a flag value: a string unquoted,
// a number or a boolean as written.
func settingValue(raw json.RawMessage) (string, error) {
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return "", errors.New("no value")
	case raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case raw[0] == '{' || raw[0] == '[':
		return "", errors.New("want a single value, not a list or a map")
	}
	return string(raw), nil
}

// configMetrics count reloads, as Prometheus counts its own.
type configMetrics struct {
	reloads *prometheus.CounterVec
	lastOK  prometheus.Gauge
}

func newConfigMetrics(reg prometheus.Registerer) *configMetrics {
	m := &configMetrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtcscale_config_reloads_total",
			Help: "Reloads of the --config file, by result (success, failure).",
		}, []string{"result"}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rtcscale_config_last_reload_successful",
			Help: "1 when the last reload of the --config file was applied, 0 when it was refused (the previous settings stay).",
		}),
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.lastOK.Set(1) // the file read at start-up, or the adapter would not run
	reg.MustRegister(m.reloads, m.lastOK)
	return m
}

// counted returns apply with each call's result counted in m.
func (m *configMetrics) counted(apply func([]byte) error) func([]byte) error {
	return func(content []byte) error {
		err := apply(content)
		if err != nil {
			m.reloads.WithLabelValues("failure").Inc()
			m.lastOK.Set(0)
			return err
		}
		m.reloads.WithLabelValues("success").Inc()
		m.lastOK.Set(1)
		return nil
	}
}

// watchConfig calls apply with the content of path whenever it changes,
// until ctx is done. It watches path's folder, not the file: the kubelet
// updates a mounted ConfigMap by swapping a symlink in that folder. A
// failed apply is logged (wrap apply with configMetrics.counted to count
// it), and the previous settings stay until the next change. seen is the content already applied.
func watchConfig(ctx context.Context, path string, seen []byte, apply func([]byte) error) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	if err := w.Add(filepath.Dir(path)); err != nil {
		w.Close()
		return fmt.Errorf("watching %s: %w", path, err)
	}
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-w.Errors:
				klog.ErrorS(err, "Watching the config file", "path", path)
			case <-w.Events:
				content, err := os.ReadFile(path)
				if err != nil {
					// Mid-swap, or the ConfigMap was deleted: the
					// next event brings the new file.
					klog.V(2).InfoS("Config file unreadable", "path", path, "err", err)
					continue
				}
				if bytes.Equal(content, seen) {
					continue // a swap's other events, or a rewrite with no change
				}
				seen = content
				if err := apply(content); err != nil {
					klog.ErrorS(err, "Config file refused; the previous settings stay", "path", path)
					continue
				}
				klog.InfoS("Config file reloaded", "path", path)
			}
		}
	}()
	return nil
}
