package dashboard

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	readings    prometheus.Counter
	frames      prometheus.Counter
	clients     prometheus.Gauge
	slowClients prometheus.Counter
	rejected    prometheus.Counter
	droppedKeys prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		readings: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_readings_total",
			Help: "Live readings taken from Kafka."}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_frames_total",
			Help: "Update frames broadcast to wall clients."}),
		clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_dashboard_clients",
			Help: "Connected websocket clients."}),
		slowClients: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_slow_clients_total",
			Help: "Clients disconnected because their send queue was full (dashboard.client_queue)."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_ws_rejected_total",
			Help: "Websocket upgrades refused (bad origin or handshake)."}),
		droppedKeys: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_dashboard_dropped_series_total",
			Help: "Readings of new series dropped because dashboard.max_keys was reached."}),
	}
	if reg != nil {
		reg.MustRegister(m.readings, m.frames, m.clients, m.slowClients, m.rejected, m.droppedKeys)
	}
	return m
}
