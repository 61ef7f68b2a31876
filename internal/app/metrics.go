package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/pipeline"
)

// metrics are what /metrics exposes.
type metrics struct {
	reg          *prometheus.Registry
	eventsIn     *prometheus.CounterVec
	decodeErrors *prometheus.CounterVec
	lag          prometheus.Gauge
	latency      prometheus.Histogram
	alerts       *prometheus.CounterVec
	stored       prometheus.Counter
	duplicates   prometheus.Counter
	badMessages  prometheus.Counter

	notifySent    *prometheus.CounterVec
	notifyFailed  *prometheus.CounterVec
	notifyRetries *prometheus.CounterVec
	notifyPending *prometheus.GaugeVec
	notifyLatency prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		eventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_ingested_total", Help: "Events decoded by ingest and published to the bus, duplicates included, by source.",
		}, []string{"source"}),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_decode_errors_total", Help: "Records or request bodies that did not decode, by ingest kind.",
		}, []string{"kind"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_stream_lag_messages", Help: "Bus messages (each up to 500 events of one ingest request) not yet processed by detection.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_detection_latency_seconds", Help: "Time from ingest to each event being stored and evaluated, alerts included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_total", Help: "New alerts, by rule and severity.",
		}, []string{"rule", "severity"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_events_stored_total", Help: "Events stored for search.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_events_duplicate_total", Help: "Events detection skipped because they were stored already.",
		}),
		badMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_bus_unreadable_messages_total", Help: "Bus messages detection could not read and skipped.",
		}),
		notifySent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notifications_sent_total", Help: "Notifications the receiver accepted, by receiver.",
		}, []string{"receiver"}),
		notifyFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notifications_failed_total", Help: "Notifications dead-lettered (status failed), by receiver.",
		}, []string{"receiver"}),
		notifyRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notification_retries_total", Help: "Failed attempts to send a notification that will be retried, by receiver.",
		}, []string{"receiver"}),
		notifyPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_notifications_pending", Help: "Notifications in the outbox waiting for their first try or a retry, by receiver.",
		}, []string{"receiver"}),
		notifyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_notification_delivery_seconds", Help: "Time from a notification's queueing to its receiver accepting it, retries included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200},
		}),
	}
	m.reg.MustRegister(m.eventsIn, m.decodeErrors, m.lag, m.latency, m.alerts, m.stored, m.duplicates, m.badMessages,
		m.notifySent, m.notifyFailed, m.notifyRetries, m.notifyPending, m.notifyLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// addReceivers starts the per-receiver series of receivers at zero, so
// that they show before anything is sent.
func (m *metrics) addReceivers(names []string) {
	for _, n := range names {
		m.notifySent.WithLabelValues(n)
		m.notifyFailed.WithLabelValues(n)
		m.notifyRetries.WithLabelValues(n)
		m.notifyPending.WithLabelValues(n)
	}
}

// watchNotify exports the notification service's grouping counts.
func (m *metrics) watchNotify(svc *notify.Service) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_notify_groups", Help: "Alert groups held for notification.",
		}, func() float64 { return float64(svc.Stats().Groups) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_notify_alerts", Help: "Alerts held in the notification groups.",
		}, func() float64 { return float64(svc.Stats().Alerts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vigil_notify_alerts_dropped_total", Help: "Alerts not grouped for notification because the group limits were reached.",
		}, func() float64 { return float64(svc.Stats().Dropped) }),
	)
}

// watchCorrelations exports the correlation state's size and counters.
func (m *metrics) watchCorrelations(c *pipeline.Correlations) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(
		gauge("vigil_correlation_groups", "Correlation groups held in windows, all correlations together.",
			func() float64 { return float64(c.Stats().Groups) }),
		gauge("vigil_correlation_entries", "Base rule matches held in correlation windows.",
			func() float64 { return float64(c.Stats().Entries) }),
		gauge("vigil_correlation_pending", "Observations waiting in the correlation reorder buffer for the lateness tolerance to pass.",
			func() float64 { return float64(c.Stats().Pending) }),
		gauge("vigil_correlation_state_bytes", "Estimated memory of the correlation windows.",
			func() float64 { return float64(c.Stats().Bytes) }),
		counter("vigil_correlation_matches_total", "Correlation matches, building-block correlations included, since start (restored state included).",
			func() float64 { return float64(c.Stats().Matches) }),
		counter("vigil_correlation_late_total", "Observations dropped by correlations because they arrived more than detect.correlation_lateness behind the latest event time.",
			func() float64 { return float64(c.Stats().Late) }),
		counter("vigil_correlation_evictions_total", "Correlation groups evicted to respect the state bounds.",
			func() float64 { return float64(c.Stats().Evicted) }),
		counter("vigil_correlation_forced_total", "Observations processed early because the correlation reorder buffer was full.",
			func() float64 { return float64(c.Stats().Forced) }),
		counter("vigil_correlation_stale_total", "Observations dropped because the rules were reloaded between their evaluation and their correlation.",
			func() float64 { return float64(c.Stale()) }),
	)
}
