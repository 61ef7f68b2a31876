package app

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/geoip"
	"github.com/vigil-sec/vigil/internal/pipeline"
	"github.com/vigil-sec/vigil/rules/baselines"
)

// OpenGeo opens the GeoIP database at path, if one is configured, and
// returns what it gives baselines. The caller closes the database.
func OpenGeo(path string) (baseline.Geo, *geoip.DB, error) {
	if path == "" {
		return baseline.Geo{}, nil, nil
	}
	db, err := geoip.Open(path)
	if err != nil {
		return baseline.Geo{}, nil, fmt.Errorf("opening the GeoIP database %s: %w; check the path (detect.geoip_database) or leave it empty to run without asn and country", path, err)
	}
	var geo baseline.Geo
	if db.HasASN() {
		geo.ASN = db.ASN
	}
	if db.HasCountry() {
		geo.Country = db.Country
	}
	return geo, db, nil
}

// LoadBaselines loads the built-in baseline rules unless noBuiltin, and
// those of paths. Rules that fail to load are in the set's Failed.
func LoadBaselines(paths []string, noBuiltin bool, geo baseline.Geo) (*baseline.Set, error) {
	var files []baseline.File
	if !noBuiltin {
		builtin, err := baseline.ReadFS(baselines.FS, ".")
		if err != nil {
			return nil, fmt.Errorf("reading the built-in baseline rules: %w", err)
		}
		for i := range builtin {
			builtin[i].Name = "builtin:" + builtin[i].Name
		}
		files = builtin
	}
	extra, err := baseline.ReadPaths(paths)
	if err != nil {
		return nil, err
	}
	return baseline.Load(append(files, extra...), geo), nil
}

// openBaselines builds the baseline evaluator the configuration asks for,
// or returns nil when baselines are off.
func (s *Server) openBaselines(d *config.Detect, log *slog.Logger) (*pipeline.Baselines, error) {
	if !d.Baselines {
		return nil, nil
	}
	geo, db, err := OpenGeo(d.GeoIPDatabase)
	if err != nil {
		return nil, err
	}
	s.geo = db
	set, err := LoadBaselines(d.BaselineRules, !d.Builtin, geo)
	if err != nil {
		return nil, err
	}
	if len(set.Failed) > 0 {
		var b []byte
		for _, f := range set.Failed {
			b = append(b, f.Error()...)
			b = append(b, '\n')
		}
		return nil, fmt.Errorf("baseline rules do not load:\n%s", b)
	}
	for _, in := range set.Inactive {
		log.Info("baseline rule inactive", "rule", in.Rule.Title, "file", in.Rule.File, "reason", in.Reason)
	}
	return pipeline.NewBaselines(set.Rules, pipeline.BaselinesOptions{
		Lateness: d.BaselineLateness, Geo: geo, Logger: log, Now: s.now,
	})
}

// watchBaselines exports the baseline state's size and counters.
func (m *metrics) watchBaselines(b *pipeline.Baselines) {
	gauge := func(name, help string, f func(baseline.Stats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f(b.Stats())) })
	}
	counter := func(name, help string, f func(baseline.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(b.Stats())) })
	}
	m.reg.MustRegister(
		gauge("vigil_baseline_keys", "Keys of rate baselines, all rules together.",
			func(s baseline.Stats) int64 { return int64(s.Keys) }),
		gauge("vigil_baseline_combinations", "Combinations remembered by first-seen baselines.",
			func(s baseline.Stats) int64 { return int64(s.Combinations) }),
		gauge("vigil_baseline_pending", "Open baseline buckets waiting for detect.baseline_lateness to pass.",
			func(s baseline.Stats) int64 { return int64(s.Pending) }),
		gauge("vigil_baseline_state_bytes", "Estimated memory of the baseline state.",
			func(s baseline.Stats) int64 { return s.Bytes }),
		counter("vigil_baseline_matches_total", "Baseline matches since start (restored state included).",
			func(s baseline.Stats) int64 { return s.Matches }),
		counter("vigil_baseline_late_total", "Events not counted by baselines because their bucket had closed (detect.baseline_lateness).",
			func(s baseline.Stats) int64 { return s.Late }),
		counter("vigil_baseline_evictions_total", "Baseline keys and combinations evicted to respect the state bounds.",
			func(s baseline.Stats) int64 { return s.Evicted }),
		counter("vigil_baseline_forced_total", "Baseline buckets closed early because too many were open.",
			func(s baseline.Stats) int64 { return s.Forced }),
	)
}
