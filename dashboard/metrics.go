package dashboard

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	readings    prometheus.Counter
	rejected    prometheus.Counter
	droppedKeys prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		readings: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_readings_total",
			Help: "Live readings taken from Kafka."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_ws_rejected_total",
			Help: "Websocket upgrades refused (bad origin or handshake)."}),
		droppedKeys: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_dropped_series_total",
			Help: "Readings of new series dropped from GET /api/latest because dashboard.max_keys was reached."}),
	}
	if reg != nil {
		reg.MustRegister(m.readings, m.rejected, m.droppedKeys)
	}
	return m
}
