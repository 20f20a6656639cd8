package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/simulate"
	"github.com/sonla-ioc/ioc/stream/feeds"
	"github.com/sonla-ioc/ioc/stream/kpi"
	"github.com/sonla-ioc/ioc/stream/schema"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// The H1-2021 scenario's report, made from its events in a real
// ClickHouse by the KPI and index engines: section IV has the city's total
// as svcindex scores it, every unit of the scenario ranked, in Vietnamese
// and in English (pdftotext); the table's index rows carry the same total.
func TestReportIndexSectionOfH12021(t *testing.T) {
	ch, conn := chtest.Migrated(t, "ioc_report_idx", schema.Migrate)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sc := simulate.H12021()
	evs := make([]event.AdminEvent, 0, len(sc.Events))
	for _, e := range sc.Events {
		if err := event.PrepareAdmin(e.Event, e.SendAt.UnixMilli(), event.DefaultAdminLimits); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e.Event)
	}
	if err := feeds.Insert(ctx, conn, &ch, evs...); err != nil {
		t.Fatal(err)
	}
	eng, err := kpi.NewEngine(kpi.Config{}, kafkaconn.Config{Brokers: []string{"127.0.0.1:1"}}, ch, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := svcindex.New(svcindex.Config{}, ch, conn)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2021-H1")
	r, err := Build(ctx, Source{Engine: eng, Conn: conn, Index: idx}, p, sc.AsOf.Add(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	x := r.Index
	want, err := idx.Score(ctx, svcindex.YTDPeriod(2021, 6), "city")
	if err != nil {
		t.Fatal(err)
	}
	if x == nil || x.Period.Key != "2021-YTD-06" || x.City.Total != want.Total || len(x.Ranking) < 2 {
		t.Fatalf("index section %+v, want the city's 2021-YTD-06 total %v and the units", x, want.Total)
	}
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext missing: apt-get install poppler-utils (make test-tools)")
	}
	dir := os.Getenv("IOC_SCREENSHOT_DIR") // to look at the pages (pdftoppm)
	if dir == "" {
		dir = t.TempDir()
	}
	for _, lang := range []string{"vi", "en"} {
		var buf bytes.Buffer
		if err := r.Write(&buf, lang, PDF); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "report-h1-2021-index-"+lang+".pdf")
		if err := os.WriteFile(f, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", f, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.LastIndex(out, []byte("IV. "))
		if i < 0 {
			t.Fatalf("%s: no section IV in:\n%s", lang, out)
		}
		sec := string(out[i:])
		for _, w := range []string{tr(lang, "idx_heading"), tr(lang, "idx_total") + ": " + points(want.Total, lang) + " / " + points(want.Max, lang),
			IndexPeriodTitle(x.Period, lang), tr(lang, "idx_ranking")} {
			if !strings.Contains(sec, w) {
				t.Errorf("%s: no %q in section IV:\n%s", lang, w, sec)
			}
		}
		for n, u := range x.Ranking {
			name := strings.Join(strings.Fields(u.Unit.Name)[:min(3, len(strings.Fields(u.Unit.Name)))], " ") // a long name wraps
			if !strings.Contains(sec, name) || (u.Max > 0 && !strings.Contains(sec, points(u.Total, lang)+"/"+num(u.Max, 0, lang))) {
				t.Errorf("%s: unit %d %s (%s) missing from section IV", lang, n+1, u.Unit.Name, points(u.Total, lang))
			}
		}
	}
	var buf bytes.Buffer
	if err := r.Write(&buf, "en", CSV); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(buf.Bytes(), []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var totals []string
	for _, row := range rows {
		if row[0] == "service_index" && row[1] == "service_index.total" {
			totals = append(totals, row[3]+"="+row[5])
		}
	}
	if len(totals) != 1+len(x.Ranking) || totals[0] != x.City.Unit.ID+"="+strconv.FormatFloat(want.Total, 'f', -1, 64) {
		t.Errorf("the table's index totals %v, want the city's %v first and %d units", totals, want.Total, len(x.Ranking))
	}
}
