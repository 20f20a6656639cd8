package stream

// setLag keeps ioc_stream_consumer_lag (all topics) and
// ioc_stream_consumer_lag_records{topic} up to date: the brokers' view of
// the group (kafkaconn.WatchGroupLag), not the reader's.
func (s *Service) setLag(lag map[string]int64) {
	var total int64
	for name, n := range lag {
		total += n
		s.m.topicLag.WithLabelValues(name).Set(float64(n))
	}
	s.m.lag.Set(float64(total))
}
