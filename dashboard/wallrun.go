package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/internal/backoff"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/registry"
	"github.com/sonla-ioc/ioc/internal/sqltmpl"
)

//go:embed sql/*.sql
var wallSQL embed.FS

// wallQuery renders one of sql/*.sql: {{.DB}} is the database, {{raw
// "t"}} a table; vars hold the other values the file names.
func (s *Service) wallQuery(name string, vars map[string]any) (string, error) {
	set, err := sqltmpl.Parse(wallSQL, &s.ch, nil, "sql/"+name)
	if err != nil {
		return "", err
	}
	data := map[string]any{"DB": s.ch.Database}
	for k, v := range vars {
		data[k] = v
	}
	return set.Render(name, data)
}

// chPool is the dashboard's ClickHouse connection for the wall: opened
// on first use, reopened after a failure.
type chPool struct {
	mu   sync.Mutex
	conn driver.Conn
}

func (s *Service) chConn(ctx context.Context) (driver.Conn, error) {
	s.chp.mu.Lock()
	defer s.chp.mu.Unlock()
	if s.chp.conn != nil {
		return s.chp.conn, nil
	}
	conn, err := s.ch.Open(ctx)
	if err != nil {
		return nil, err
	}
	s.chp.conn = conn
	return conn, nil
}

func (s *Service) chFailed(conn driver.Conn) {
	s.chp.mu.Lock()
	defer s.chp.mu.Unlock()
	if s.chp.conn == conn && conn != nil {
		conn.Close()
		s.chp.conn = nil
	}
}

// seedWall fills the wall model from ClickHouse before the live readings
// are followed: registry, statuses, alerts and the trend minutes of the
// window (with the newest observation counted per series, so that
// readings replayed from Kafka are not counted twice). Each part is
// optional: the wall works without ClickHouse, with less history.
func (s *Service) seedWall(ctx context.Context) {
	conn, err := s.chConn(ctx)
	if err != nil {
		s.log.Warn("wall model starts without history: clickhouse unreachable", "err", err)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cutoff := time.Now().Add(-2 * time.Second).UnixMilli()
	window := int(s.cfg.Wall.TrendWindow.Seconds()) + 120
	n := 0
	for _, ser := range trendSeriesList {
		err := s.query(sctx, conn, "trend.sql", map[string]any{"Metrics": ser.Metrics, "WindowS": window,
			"CutoffMs": cutoff}, func(r driver.Rows) error {
			var minute, cnt uint64
			var sum, mx float64
			if err := r.Scan(&minute, &sum, &mx, &cnt); err != nil {
				return err
			}
			s.wall.seedTrend(ser.ID, int64(minute), sum, mx, int64(cnt))
			n++
			return nil
		})
		if err != nil {
			s.log.Warn("seeding the wall's trends", "series", ser.ID, "err", err)
		}
	}
	var metrics []string
	for _, ser := range trendSeriesList {
		metrics = append(metrics, ser.Metrics...)
	}
	_ = s.query(sctx, conn, "trend_newest.sql", map[string]any{"Metrics": metrics, "WindowS": window,
		"CutoffMs": cutoff}, func(r driver.Rows) error {
		var p, d, m string
		var ms int64
		if err := r.Scan(&p, &d, &m, &ms); err != nil {
			return err
		}
		s.wall.seedLastObs(p, d, m, ms)
		return nil
	})
	statuses := 0
	if err := s.query(sctx, conn, "status.sql", nil, func(r driver.Rows) error {
		var st event.DeviceStatus
		if err := r.Scan(&st.Kind, &st.Partner, &st.DeviceID, &st.Status, &st.Cause, &st.AtMs, &st.LastSeenMs); err != nil {
			return err
		}
		s.wall.status(&st)
		statuses++
		return nil
	}); err != nil {
		s.log.Warn("seeding device status", "err", err)
	}
	alerts := 0
	keep := time.Now().Add(-s.cfg.Wall.ResolvedKeep).UnixMilli()
	aq, err := s.ch.AlertsQuery(chconn.AlertQuery{WindowS: 30 * 86400, KeepMs: keep, Limit: s.cfg.Wall.MaxAlerts})
	if err == nil {
		err = s.scan(sctx, conn, aq, func(r driver.Rows) error {
			ev, err := chconn.ScanAlert(r)
			if err != nil {
				return err
			}
			s.wall.alert(&ev)
			alerts++
			return nil
		})
	}
	if err != nil {
		s.log.Warn("seeding alerts", "err", err)
	}
	s.log.Info("wall model seeded from clickhouse", "trend_minutes", n, "statuses", statuses, "alerts", alerts)
}

// query renders sql/name with vars (wallQuery), runs it with the bound
// arguments and calls row for each row.
func (s *Service) query(ctx context.Context, conn driver.Conn, name string, vars map[string]any, row func(driver.Rows) error, args ...any) error {
	q, err := s.wallQuery(name, vars)
	if err != nil {
		return err
	}
	return s.scan(ctx, conn, q, row, args...)
}

// queryRow renders sql/name and scans its one row into dest.
func (s *Service) queryRow(ctx context.Context, conn driver.Conn, name string, dest ...any) error {
	q, err := s.wallQuery(name, nil)
	if err != nil {
		return err
	}
	return conn.QueryRow(ctx, q).Scan(dest...)
}

// scan runs q with its bound arguments and calls row for each row.
func (s *Service) scan(ctx context.Context, conn driver.Conn, q string, row func(driver.Rows) error, args ...any) error {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// runWall runs the wall model: it follows the monitor's status and alert
// topics and the dead letters, sends the channels' deltas every flush
// interval, and checks the pipeline's health.
func (s *Service) runWall(ctx context.Context) error {
	defer s.v2.closeAll("server shutting down")
	if err := backoff.Retry(ctx, s.log, "creating the wall's kafka topics", func() error {
		return s.kafka.EnsureTopics(ctx, event.TopicDeviceStatus, event.TopicAlerts, event.TopicAlertCommands, event.TopicDeadLetter)
	}); err != nil {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return s.kafka.Tail(gctx, s.log, event.TopicDeviceStatus, 2000, nil, func(m kafka.Message) {
			var st event.DeviceStatus
			if json.Unmarshal(m.Value, &st) == nil && st.ID != "" {
				s.wall.status(&st)
			}
		})
	})
	g.Go(func() error {
		return s.kafka.Tail(gctx, s.log, event.TopicAlerts, 2000, nil, func(m kafka.Message) {
			var ev event.AlertEvent
			if json.Unmarshal(m.Value, &ev) == nil && ev.AlertID != "" {
				s.wall.alert(&ev)
			}
		})
	})
	g.Go(func() error {
		return s.kafka.Tail(gctx, s.log, event.TopicDeadLetter, 0, nil, func(m kafka.Message) {
			var d event.DeadLetter
			if event.UnmarshalDeadLetter(m.Value, &d) == nil {
				s.wall.deadLetter(&d)
			}
		})
	})
	g.Go(func() error {
		flush := time.NewTicker(s.cfg.FlushInterval)
		defer flush.Stop()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-flush.C:
				s.wall.flush()
			case <-tick.C:
				s.wall.tick()
			}
		}
	})
	g.Go(func() error { s.checkHealth(gctx); return nil })
	g.Go(func() error { return s.followRegistry(gctx) })
	return g.Wait()
}

// checkHealth measures what the wall's pipeline indicator shows, every 10
// s: ClickHouse reachable (and its round trip), how fresh the stored data
// is, and the stream group's consumer lag, from the brokers (so it is
// known when the dashboard runs as its own process).
func (s *Service) checkHealth(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	names := event.StoredTopics()
	topics := make([]string, len(names))
	for i, n := range names {
		topics[i] = s.kafka.Topic(n)
	}
	client, release := s.kafka.NewTopicsClient(5*time.Second, topics...)
	defer release()
	for i := 0; ; i++ {
		s.healthOnce(ctx, client)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) healthOnce(ctx context.Context, client *kafka.Client) {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	up, stored := false, int64(0)
	if conn, err := s.chConn(hctx); err == nil {
		if err := conn.Ping(hctx); err == nil {
			up = true
			var ms int64
			if s.queryRow(hctx, conn, "freshness.sql", &ms) == nil {
				stored = ms
			}
		} else {
			s.chFailed(conn)
		}
	}
	rtt := time.Since(start).Milliseconds()
	lag := -1.0 // unknown
	if n, err := s.streamLag(hctx, client); err == nil {
		lag = float64(n)
	} else if ctx.Err() == nil {
		s.log.Debug("measuring the stream's consumer lag", "group", s.cfg.StreamGroup, "err", err)
	}
	s.wall.setPipeline(func(p *pipelineLive) {
		p.CHUp, p.CHMs, p.StreamLag, p.CheckedMs = up, rtt, lag, time.Now().UnixMilli()
		if stored > 0 {
			p.StoredMs = stored
		}
	})
}

// kafkaWriter is the dashboard's producer (alert commands), made on first
// use.
func (s *Service) kafkaWriter() *kafka.Writer {
	s.writerOnce.Do(func() {
		s.writer = s.kafka.NewWriter(kafkaconn.WriterOptions{Linger: time.Millisecond})
		// Alert commands (wallapi.go) and device records (registry.Editor).
		s.kafka.LimitMetadata(s.writer, event.TopicAlertCommands, registry.TopicDevices)
	})
	return s.writer
}

// wallParts are the Service's parts for the wall model and protocol v2.
type wallParts struct {
	wall       *wallState
	v2         *v2hub
	chp        chPool
	writerOnce sync.Once
	writer     *kafka.Writer
	// regFile is the registry file's devices (nil without a file),
	// devices the admin page's view of the live registry.
	regFile *registry.Registry
	devices *deviceBook
	regf    *registry.Follower
}

// initWall prepares the wall model and protocol v2 (called by New).
func (s *Service) initWall(reg prometheus.Registerer) {
	s.cfg.Wall.writeTimeout = s.cfg.WriteTimeout
	s.v2 = newV2Hub(s.cfg.Wall, s.cfg.Auth.WSMaxMessageBytes, reg)
	s.wall = newWallState(s.cfg.Wall, s.v2, s.cfg.MaxKeys)
	// The registry file first, before anything is served: a registered
	// device is never shown as unregistered while stream is still loading
	// the registry into ClickHouse (seedWall then takes ClickHouse's).
	if f := s.cfg.Wall.RegistryFile; f != "" {
		if reg, err := registry.Load(f); err != nil {
			s.log.Warn("reading the device registry file; the wall waits for the registry topic", "file", f, "err", err)
		} else {
			s.regFile = reg
			s.wall.setRegistry(reg.Devices(), "file:"+f)
		}
	}
	s.devices = newDeviceBook(s.regFile)
	s.regf = s.newRegistryFollower(reg)
}

// streamLag is the records of the stream group's topics not committed yet,
// from the brokers (kafkaconn.GroupLag).
func (s *Service) streamLag(ctx context.Context, client *kafka.Client) (int64, error) {
	names := event.StoredTopics()
	topics := make([]string, len(names))
	for i, n := range names {
		topics[i] = s.kafka.Topic(n)
	}
	lag, err := kafkaconn.GroupLag(ctx, client, s.cfg.StreamGroup, topics)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, n := range lag {
		total += n
	}
	return total, nil
}

// followRegistry keeps the wall's registry live: the registry topic over
// the file's devices (registry.Follower), so a device added, edited or
// retired from /admin or `ioc device` shows within about a second.
func (s *Service) followRegistry(ctx context.Context) error {
	return s.regf.Run(ctx)
}

func (s *Service) newRegistryFollower(reg prometheus.Registerer) *registry.Follower {
	n := 0
	return &registry.Follower{Kafka: s.kafka, Log: s.log, Base: s.regFile, Role: "dashboard", Reg: reg,
		Set: func(r *registry.Registry) {
			n++
			s.wall.setRegistry(r.Devices(), "live:"+strconv.Itoa(n))
		},
		Record: s.devices.record}
}
