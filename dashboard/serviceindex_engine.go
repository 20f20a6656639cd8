package dashboard

import "github.com/sonla-ioc/ioc/stream/svcindex"

// newIndexEngine makes the service index engine of the dashboard's
// ClickHouse (stream/svcindex).
func newIndexEngine(s *Service) (svcindex.Source, error) {
	_ = s
	return nil, errNoIndexEngine
}
