package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
			Name: "vigil_stream_lag_events", Help: "Events in the bus not yet processed by detection.",
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
	}
	m.reg.MustRegister(m.eventsIn, m.decodeErrors, m.lag, m.latency, m.alerts, m.stored, m.duplicates, m.badMessages,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
