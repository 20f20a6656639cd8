package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	received     prometheus.Counter
	readings     prometheus.Counter
	acked        prometheus.Counter
	deadLetters  *prometheus.CounterVec
	queueDepth   prometheus.Gauge
	connected    prometheus.Gauge
	writeSeconds prometheus.Histogram
	writeErrors  prometheus.Counter
	dropped      *prometheus.CounterVec
	unackedAge   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, queueSize int, maxUnackedAge float64) *metrics {
	m := &metrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_ingest_mqtt_received_total",
			Help: "MQTT messages received (each becomes readings or one dead letter)."}),
		readings: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_ingest_readings_total",
			Help: "Readings decoded from MQTT and queued for Kafka."}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_ingest_mqtt_acked_total",
			Help: "MQTT messages acknowledged to the broker after Kafka took their records."}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_ingest_dead_letters_total",
			Help: "MQTT messages sent to the dead-letter topic, by reason."}, []string{"reason"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_ingest_queue_depth",
			Help: "MQTT messages decoded and waiting for Kafka."}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_ingest_mqtt_connected",
			Help: "1 while connected to the MQTT broker."}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_ingest_kafka_write_seconds",
			Help: "Time for Kafka to acknowledge a batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_ingest_kafka_write_errors_total",
			Help: "Failed Kafka writes (transient ones are retried; see ioc_ingest_dropped_total for permanent ones)."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_ingest_dropped_total",
			Help: "MQTT messages acknowledged although Kafka refused for good both their records and their dead letter (logged with topic and device)."}, []string{"reason"}),
		unackedAge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_ingest_oldest_unacked_seconds",
			Help: "Age of the oldest MQTT message ingest holds unacknowledged (waiting for Kafka); above ingest.max_unacked_age intake is stalled and /readyz answers 503."}),
	}
	capacity := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_ingest_queue_capacity",
		Help: "Bound of the ingest queue (ingest.queue_size)."})
	capacity.Set(float64(queueSize))
	stallBound := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_ingest_max_unacked_age_seconds",
		Help: "Bound on ioc_ingest_oldest_unacked_seconds above which intake counts as stalled (ingest.max_unacked_age)."})
	stallBound.Set(maxUnackedAge)
	if reg != nil {
		reg.MustRegister(m.received, m.readings, m.acked, m.deadLetters, m.queueDepth, m.connected, m.writeSeconds, m.writeErrors, m.dropped, m.unackedAge, capacity, stallBound)
	}
	return m
}
