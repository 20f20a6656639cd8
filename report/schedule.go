package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/stream/kpi"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// ScheduleConfig is the section reports: the reports made by themselves
// once a period has closed, written into Dir. Sending them is a
// notifier's job (Notifier): the scheduler hands each new set of files to
// the notifiers it was given, once.
type ScheduleConfig struct {
	// Dir receives the files (bao-cao-kpi-2021-06-vi.pdf, …); empty turns
	// scheduled reports off.
	Dir string `yaml:"dir"`
	// Which periods: monthly (2021-06), quarterly (2021-Q2), half_yearly
	// (2021-H1), yearly (2021).
	Monthly    bool `yaml:"monthly"`
	Quarterly  bool `yaml:"quarterly"`
	HalfYearly bool `yaml:"half_yearly"`
	Yearly     bool `yaml:"yearly"`
	// Langs and Formats of each report (default vi, en and pdf, xlsx).
	Langs   []string `yaml:"langs"`
	Formats []string `yaml:"formats"`
	// Delay after a period's end before its report is made, so that the
	// systems' late events are in (default 24h).
	Delay time.Duration `yaml:"delay"`
	// CheckEvery is how often the scheduler looks for a closed period
	// (default 10m).
	CheckEvery time.Duration `yaml:"check_every"`
	// Channels are the notify.channels that receive each new report:
	// e-mail with the files attached, webhook with signed download links
	// (docs/notifications.md). A name not in notify.channels is an error.
	Channels []string `yaml:"channels"`
}

// Defaults fills unset fields.
func (c *ScheduleConfig) Defaults() {
	if len(c.Langs) == 0 {
		c.Langs = []string{"vi", "en"}
	}
	if len(c.Formats) == 0 {
		c.Formats = []string{PDF, XLSX}
	}
	if c.Delay == 0 {
		c.Delay = 24 * time.Hour
	}
	if c.CheckEvery == 0 {
		c.CheckEvery = 10 * time.Minute
	}
}

// Validate reports settings that cannot work.
func (c *ScheduleConfig) Validate() error {
	for _, l := range c.Langs {
		if err := CheckOptions(l, PDF); err != nil {
			return fmt.Errorf("reports.langs: %w", err)
		}
	}
	for _, f := range c.Formats {
		if err := CheckOptions("vi", f); err != nil {
			return fmt.Errorf("reports.formats: %w", err)
		}
	}
	switch {
	case c.Delay < 0:
		return fmt.Errorf("reports.delay: %s must not be negative", c.Delay)
	case c.CheckEvery < time.Second:
		return fmt.Errorf("reports.check_every: %s is below 1s", c.CheckEvery)
	case c.Dir == "" && len(c.Channels) > 0:
		return errors.New("reports.channels is set but reports.dir is not: set dir to turn scheduled reports on")
	case c.Dir != "" && !(c.Monthly || c.Quarterly || c.HalfYearly || c.Yearly):
		return errors.New("reports.dir is set but no period is: set monthly, quarterly, half_yearly or yearly to true")
	}
	return nil
}

// Ready is a set of report files the scheduler has just written.
type Ready struct {
	Period  string    // 2021-06, 2021-Q2, …
	Written time.Time // when the files were written
	Files   []string  // absolute paths, one per language and format
}

// Notifier is what a notification channel (webhook, e-mail) implements to
// send the scheduled reports: ReportReady is called once per period when
// its files are written; an error is logged and the call is made again at
// the next check (the files stay in Dir either way).
type Notifier interface {
	ReportReady(ctx context.Context, r Ready) error
}

// Scheduler writes the reports of closed periods.
type Scheduler struct {
	cfg       ScheduleConfig
	ch        chconn.Config
	kafka     kafkaconn.Config
	log       *slog.Logger
	notifiers []Notifier
	ready     atomic.Bool
	// Now is the clock (a test sets it).
	Now func() time.Time
}

// NewScheduler prepares a scheduler; Run runs it.
func NewScheduler(cfg ScheduleConfig, ch chconn.Config, kc kafkaconn.Config, log *slog.Logger, notifiers ...Notifier) (*Scheduler, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("reports.dir: %w", err)
	}
	return &Scheduler{cfg: cfg, ch: ch, kafka: kc, log: log.With("component", "reports"), notifiers: notifiers, Now: time.Now}, nil
}

// Ready reports whether the scheduler runs.
func (s *Scheduler) Ready() bool { return s.ready.Load() }

// Run checks for closed periods at start and every CheckEvery.
func (s *Scheduler) Run(ctx context.Context) error {
	s.ready.Store(true)
	defer s.ready.Store(false)
	tick := time.NewTicker(s.cfg.CheckEvery)
	defer tick.Stop()
	for {
		if _, err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled reports; trying again at the next check", "err", err, "next_in", s.cfg.CheckEvery)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Due lists the periods whose report is due at now: for each kind
// enabled, the latest period that ended at least delay ago.
func Due(now time.Time, delay time.Duration, monthly, quarterly, halfYearly, yearly bool) []string {
	ref := now.Add(-delay).In(event.Location)
	y, m := ref.Year(), int(ref.Month())
	// The last closed month: the one before ref's month.
	lm, ly := m-1, y
	if lm == 0 {
		lm, ly = 12, y-1
	}
	var out []string
	if monthly {
		out = append(out, fmt.Sprintf("%d-%02d", ly, lm))
	}
	if quarterly {
		q, qy := (m-1)/3, y // quarters fully before ref's quarter
		if q == 0 {
			q, qy = 4, y-1
		}
		out = append(out, fmt.Sprintf("%d-Q%d", qy, q))
	}
	if halfYearly {
		if m > 6 {
			out = append(out, strconv.Itoa(y)+"-H1")
		} else {
			out = append(out, strconv.Itoa(y-1)+"-H2")
		}
	}
	if yearly {
		out = append(out, strconv.Itoa(y-1))
	}
	return out
}

// RunOnce writes the reports due now that are not in Dir yet and tells the
// notifiers; it returns the periods written.
func (s *Scheduler) RunOnce(ctx context.Context) ([]string, error) {
	due := Due(s.Now(), s.cfg.Delay, s.cfg.Monthly, s.cfg.Quarterly, s.cfg.HalfYearly, s.cfg.Yearly)
	var todo []string
	for _, p := range due {
		if !s.written(p) || !s.notified(p) {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	conn, err := s.ch.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	eng, err := kpi.NewEngine(kpi.Config{}, s.kafka, s.ch, s.log, nil)
	if err != nil {
		return nil, err
	}
	idx, err := svcindex.New(svcindex.Config{}, s.ch, conn) // the service index section (QĐ 766)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, key := range todo {
		p, _ := ParsePeriod(key)
		files := s.files(key)
		if !s.written(key) {
			rep, err := Build(ctx, Source{Engine: eng, Conn: conn, Index: idx}, p, s.Now())
			if errors.Is(err, ErrNoData) {
				s.log.Info("no report: no events up to the period", "period", key)
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.write(rep, files); err != nil {
				errs = append(errs, err)
				continue
			}
			s.log.Info("scheduled report written", "period", key, "as_of", rep.AsOf.Format(time.RFC3339), "files", len(files))
			done = append(done, key)
		}
		if err := s.notify(ctx, key, files); err != nil {
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}

func (s *Scheduler) files(period string) []string {
	var out []string
	for _, l := range s.cfg.Langs {
		for _, f := range s.cfg.Formats {
			out = append(out, filepath.Join(s.cfg.Dir, (&Report{PeriodKey: period}).FileName(l, f)))
		}
	}
	return out
}

func (s *Scheduler) written(period string) bool {
	return !slices.ContainsFunc(s.files(period), func(f string) bool { _, err := os.Stat(f); return err != nil })
}

func (s *Scheduler) marker(period string) string {
	return filepath.Join(s.cfg.Dir, ".notified-"+period)
}

func (s *Scheduler) notified(period string) bool {
	if len(s.notifiers) == 0 {
		return true
	}
	_, err := os.Stat(s.marker(period))
	return err == nil
}

// write writes every file of a report, each through a temporary file
// renamed into place, so that a reader never sees half a file.
func (s *Scheduler) write(rep *Report, files []string) error {
	i := 0
	for _, l := range s.cfg.Langs {
		for _, f := range s.cfg.Formats {
			name := files[i]
			i++
			tmp, err := os.CreateTemp(s.cfg.Dir, ".tmp-*")
			if err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
			err = rep.Write(tmp, l, f)
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp.Name(), name)
			}
			if err != nil {
				_ = os.Remove(tmp.Name())
				return fmt.Errorf("writing %s: %w", name, err)
			}
		}
	}
	return nil
}

func (s *Scheduler) notify(ctx context.Context, period string, files []string) error {
	if s.notified(period) {
		return nil
	}
	var written time.Time
	if st, err := os.Stat(files[0]); err == nil {
		written = st.ModTime()
	}
	for _, n := range s.notifiers {
		if err := n.ReportReady(ctx, Ready{Period: period, Written: written, Files: files}); err != nil {
			return fmt.Errorf("notifying the report of %s: %w", period, err)
		}
	}
	return os.WriteFile(s.marker(period), []byte(time.Now().Format(time.RFC3339)+"\n"), 0o640)
}
