package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
)

// Reload re-reads a config file whenever it changes and applies the
// settings Parse returns, without a restart. In a cluster the file is a
// mounted ConfigMap, which the kubelet replaces atomically (a symlink swap)
// when the ConfigMap changes.
type Reload struct {
	// Path of the file.
	Path string
	// Applied is the content already in effect (read at start-up).
	Applied []byte
	// Parse returns the settings of a content, or why it is refused; a
	// refused content leaves the settings in effect.
	Parse func(content []byte) (collector.Options, adapter.Options, error)

	metrics *reloadMetrics
}

func (r *Reload) watch(ctx context.Context, s *Server) error {
	return watchFile(ctx, r.Path, r.Applied, r.metrics.counted(func(content []byte) error {
		store, p, err := r.Parse(content)
		if err != nil {
			return err
		}
		s.SetOptions(store, p)
		return nil
	}))
}

// reloadMetrics count reloads, as Prometheus counts its own.
type reloadMetrics struct {
	reloads *prometheus.CounterVec
	lastOK  prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) *reloadMetrics {
	m := &reloadMetrics{
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
func (m *reloadMetrics) counted(apply func([]byte) error) func([]byte) error {
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

// watchFile calls apply with the content of path whenever it changes,
// until ctx is done. It watches path's folder, not the file: the kubelet
// updates a mounted ConfigMap by swapping a symlink in that folder. A
// failed apply is logged, and the previous settings stay until the next
// change. seen is the content already applied.
func watchFile(ctx context.Context, path string, seen []byte, apply func([]byte) error) error {
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
