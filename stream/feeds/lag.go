package feeds

// setLag keeps ioc_feeds_consumer_lag{topic} up to date: the brokers'
// view of the group (kafkaconn.WatchGroupLag), not the reader's.
func (s *Service) setLag(lag map[string]int64) {
	for name, n := range lag {
		s.m.lag.WithLabelValues(name).Set(float64(n))
	}
}
