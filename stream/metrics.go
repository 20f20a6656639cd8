package stream

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	rows          *prometheus.CounterVec
	consumed      *prometheus.CounterVec
	duplicates    prometheus.Counter
	alreadyStored prometheus.Counter
	unsettled     prometheus.Counter
	lookupSeconds prometheus.Histogram
	invalid       *prometheus.CounterVec
	insertSeconds prometheus.Histogram
	insertErrors  prometheus.Counter
	commitErrors  prometheus.Counter
	batchRows     prometheus.Histogram
	lag           prometheus.Gauge
	topicLag      *prometheus.GaugeVec
	lagErrors     prometheus.Counter
	clickhouseUp  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_stream_rows_written_total",
			Help: "Rows ClickHouse acknowledged, by table."}, []string{"table"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_stream_records_consumed_total",
			Help: "Kafka records fetched into a batch, by kind (readings, dead_letters, status, alerts)."}, []string{"kind"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_stream_duplicate_readings_total",
			Help: "Readings whose event id was already in the same batch (redeliveries, replays, repeated publishes); stored once in the view."}, nil).WithLabelValues(),
		alreadyStored: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_stream_readings_already_stored_total",
			Help: "Readings whose key was already stored (redelivered, re-sent after a crash, replayed): left out of the insert, shown once."}),
		unsettled: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_stream_unsettled_batches_total",
			Help: "Batches of readings written unsettled (for 5 minutes after a start or a rebalance, and every retry): the analyst view's watermark was lowered before them, and the view groups them until `ioc dedup` merges them."}),
		lookupSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_stream_key_lookup_seconds",
			Help: "Time a settled stream takes to look a batch's readings up in ClickHouse before inserting them (the stored ones are left out).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_stream_invalid_records_total",
			Help: "Kafka records that failed validation in stream and became dead letters, by reason."}, []string{"reason"}),
		insertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_stream_insert_seconds",
			Help: "Time for ClickHouse to acknowledge a batch.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		insertErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_stream_insert_errors_total",
			Help: "Failed ClickHouse inserts (retried; offsets not committed)."}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_stream_commit_errors_total",
			Help: "Failed Kafka offset commits (the batch is replayed and deduplicated)."}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_stream_batch_rows",
			Help: "Rows per ClickHouse insert.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_stream_consumer_lag",
			Help: "Records of the stream group's topics not committed yet (end offsets minus the group's commits, from the brokers every 5 s; grows while consumption is paused)."}),
		topicLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ioc_stream_consumer_lag_records",
			Help: "ioc_stream_consumer_lag by topic (the topic name without kafka.topic_prefix)."}, []string{"topic"}),
		lagErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_stream_consumer_lag_errors_total",
			Help: "Failed consumer-lag measurements (the lag gauges keep their last values)."}),
		clickhouseUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_stream_clickhouse_up",
			Help: "1 when the last insert succeeded."}),
	}
	if reg != nil {
		reg.MustRegister(m.rows, m.consumed, m.duplicates, m.alreadyStored, m.unsettled, m.lookupSeconds, m.invalid, m.insertSeconds, m.insertErrors, m.commitErrors, m.batchRows, m.lag, m.topicLag, m.lagErrors, m.clickhouseUp)
	}
	return m
}
