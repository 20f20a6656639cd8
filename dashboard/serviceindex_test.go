package dashboard

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/chtest"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/export"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/stream/feeds"
	"github.com/sonla-ioc/ioc/stream/schema"
	"github.com/sonla-ioc/ioc/stream/svcindex"
)

// The index scenario: October 2026 in a city of four units (the city, a
// department, a ward, a commune). The ward received four dossiers: three
// resolved on time, one late (idx-late-1), one of them not digitised
// (idx-paper-1); the department two, resolved on time and digitised; the
// commune one on time. Progress of the ward is 3 of 4 → 15 of 20 points.
const (
	idxPeriod = "2026-10"
	idxWard   = "phuong-chieng-le"
	idxDept   = "phong-tu-phap"
	idxLate   = "idx-late-1"
	idxPaper  = "idx-paper-1"
)

func idxAt(d, h int) string {
	return time.Date(2026, 10, d, h, 0, 0, 0, event.Location).Format(time.RFC3339)
}

// serviceIndexDB is a migrated scratch database holding the index
// scenario's events, written as the feeds consumer writes them.
func serviceIndexDB(t *testing.T) (chconn.Config, context.Context) {
	t.Helper()
	ch, conn := chtest.Migrated(t, "ioc_idxfront", schema.Migrate)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	bp := func(b bool) *bool { return &b }
	ip := func(i int) *int { return &i }
	unit := func(id, kind, name string) *event.Unit {
		return &event.Unit{UnitID: id, Name: name, UnitKind: kind, DigitalSignature: bp(true), OneStopShop: true, Status: "active",
			At: time.Date(2020, 1, 1, 8, 0, 0, 0, event.Location).Format(time.RFC3339)}
	}
	evs := []event.AdminEvent{
		unit("ubnd-tp", "city", "UBND thành phố Sơn La"), unit(idxDept, "department", "Phòng Tư pháp"),
		unit(idxWard, "ward", "UBND phường Chiềng Lề"), unit("xa-hua-la", "commune", "UBND xã Hua La"),
		&event.Procedure{Code: "1.000001.000.00.00.H50", Name: "Chứng thực bản sao", Field: event.ProcedureFields[0], Level: "commune",
			ProcessingDays: ip(3), Status: "published", At: idxAt(1, 8), DecisionAt: idxAt(1, 8), BasisInForceAt: idxAt(2, 8),
			PostedAt: idxAt(2, 9), PostedComplete: bp(true), FullOnline: bp(true), FeeBearing: bp(false)},
	}
	dossier := func(id, unit string, day int, late, digitised bool) {
		base := event.Dossier{DossierID: id, ProcedureCode: "1.000001.000.00.00.H50", Unit: unit, Channel: "online",
			ReceivedAt: idxAt(day, 8), DueAt: idxAt(day+3, 17)}
		rcv := base
		rcv.State, rcv.At = "received", idxAt(day, 8)
		rcv.FullOnline, rcv.SyncedNational, rcv.Inputs = bp(true), bp(true), ip(2)
		rcv.InputsDigitised = ip(2)
		if !digitised {
			rcv.InputsDigitised = ip(0)
		}
		res := base
		res.State, res.At, res.EResult, res.ApplicantRating = "resolved", idxAt(day+1, 10), bp(true), "satisfied"
		if late {
			res.At = idxAt(day+5, 10)
		}
		evs = append(evs, &rcv, &res)
	}
	dossier(idxLate, idxWard, 5, true, true)
	dossier(idxPaper, idxWard, 6, false, false)
	dossier("idx-ward-3", idxWard, 7, false, true)
	dossier("idx-ward-4", idxWard, 8, false, true)
	dossier("idx-dept-1", idxDept, 9, false, true)
	dossier("idx-dept-2", idxDept, 12, false, true)
	dossier("idx-commune-1", "xa-hua-la", 13, false, true)
	for _, ev := range evs {
		if err := event.PrepareAdmin(ev, time.Now().UnixMilli(), event.DefaultAdminLimits); err != nil {
			t.Fatalf("%T %+v: %v", ev, ev, err)
		}
	}
	if err := feeds.Insert(ctx, conn, &ch, evs...); err != nil {
		t.Fatal(err)
	}
	return ch, ctx
}

// serveDashboard runs the dashboard's routes over a ClickHouse database
// (no Kafka: the wall is not followed) on a loopback port, signed in as
// role through dev_open (role "" for a closed dashboard).
func serveDashboard(t *testing.T, ch chconn.Config, role string) (*Service, string) {
	t.Helper()
	a := auth.Config{Store: "memory"}
	if role != "" {
		a.DevOpen, a.DevOpenRole = true, role
	}
	s, err := New(Config{Listen: "127.0.0.1:0", FlushInterval: 50 * time.Millisecond, Auth: a},
		kafkaconn.Config{Brokers: []string{"127.0.0.1:1"}}, ch, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); s.v2.closeAll("test over") })
	return s, "http://" + ln.Addr().String()
}

func getJSON(t *testing.T, url string, code int, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, b, code)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, b)
		}
	}
}

func indicatorOf(s svcindex.Score, code string) (svcindex.Indicator, bool) {
	for _, g := range s.Groups {
		for _, in := range g.Indicators {
			if in.Code == code {
				return in, true
			}
		}
	}
	return svcindex.Indicator{}, false
}

// TestServiceIndexAPI reads the index of the scenario through the
// dashboard, computed by the real engine on the real ClickHouse: a unit's
// score with its indicators and the reasons to drill into, the ranking,
// the monthly trend, the costly dossiers, the CSV export and the report's
// index section; the KPI role's routes, closed to a visitor not signed in.
func TestServiceIndexAPI(t *testing.T) {
	ch, _ := serviceIndexDB(t)
	_, base := serveDashboard(t, ch, "leadership")
	api := base + "/api/kpis/service-index/"

	var ward ScoreResponse
	getJSON(t, api+"score?period="+idxPeriod+"&unit="+idxWard, 200, &ward)
	on, ok := indicatorOf(ward.Score, "progress.on_time")
	if ward.Unit.ID != idxWard || ward.Unit.Name != "UBND phường Chiềng Lề" || ward.Period.Key != idxPeriod || !ok ||
		on.Numerator != 3 || on.Denominator != 4 || !on.Applies || fmt.Sprintf("%.2f", on.Points) != "15.00" || on.Max != 20 {
		t.Errorf("the ward's progress: %+v (unit %+v, period %s)", on, ward.Unit, ward.Period.Key)
	}
	if ward.CostlyReasons["progress.on_time"] != "late" || ward.CostlyReasons["digitisation.digitised"] != "not_digitised" {
		t.Errorf("reasons to drill into: %v", ward.CostlyReasons)
	}
	if pub, ok := indicatorOf(ward.Score, "publicity.published_on_time"); !ok || pub.Applies || pub.Points != 0 {
		t.Errorf("a city-level indicator at a ward: %+v, want not applicable", pub)
	}
	if len(ward.Groups) != 6 || ward.AsOf.IsZero() || ward.Max >= 100 {
		t.Errorf("the ward's score: %d groups, as of %s, max %v (its city-level indicators left out)", len(ward.Groups), ward.AsOf, ward.Max)
	}
	var city ScoreResponse
	getJSON(t, api+"score?period="+idxPeriod, 200, &city)
	if cOn, _ := indicatorOf(city.Score, "progress.on_time"); city.Unit.Kind != "city" || cOn.Numerator != 6 || cOn.Denominator != 7 {
		t.Errorf("the city's progress: %+v of %+v", cOn, city.Unit)
	}

	var rk RankingResponse
	getJSON(t, api+"ranking?period="+idxPeriod, 200, &rk)
	var order []string
	for i, s := range rk.Units {
		order = append(order, s.Unit.ID)
		if s.Unit.Kind == "city" {
			t.Errorf("the city in the ranking of units: %+v", s.Unit)
		}
		if i > 0 && s.Percent > rk.Units[i-1].Percent {
			t.Errorf("ranking not by share: %s %.2f after %.2f", s.Unit.ID, s.Percent, rk.Units[i-1].Percent)
		}
		if s.Unit.ID == idxWard && fmt.Sprintf("%.4f", s.Total) != fmt.Sprintf("%.4f", ward.Total) {
			t.Errorf("the ward's total in the ranking %v, in its score %v", s.Total, ward.Total)
		}
	}
	if len(order) != 3 || rk.Period.Key != idxPeriod || order[len(order)-1] != idxWard {
		t.Errorf("ranking %v of %s: want the department, the commune, then the ward (a late dossier, an undigitised one)", order, rk.Period.Key)
	}

	var tr TrendResponse
	getJSON(t, api+"trend?unit=city&months=3&period=2026-Q4", 200, &tr)
	var keys []string
	for _, s := range tr.Months {
		keys = append(keys, s.Period.Key)
	}
	if strings.Join(keys, " ") != "2026-10 2026-11 2026-12" || tr.Months[0].Total != city.Total {
		t.Errorf("trend to the end of 2026-Q4: %v, first total %v (the city's October %v)", keys, tr.Months[0].Total, city.Total)
	}

	var co CostlyResponse
	getJSON(t, api+"costly?period="+idxPeriod+"&unit="+idxWard+"&reason=late", 200, &co)
	if len(co.Dossiers) != 1 || co.Dossiers[0].ID != idxLate || co.Dossiers[0].Reason != "late" || co.Truncated {
		t.Errorf("late dossiers of the ward: %+v", co)
	}
	getJSON(t, api+"costly?period="+idxPeriod+"&unit="+idxWard+"&reason=not_digitised", 200, &co)
	if len(co.Dossiers) != 1 || co.Dossiers[0].ID != idxPaper {
		t.Errorf("undigitised dossiers of the ward: %+v", co)
	}
	getJSON(t, api+"costly?period="+idxPeriod+"&unit="+idxDept+"&reason=late", 200, &co)
	if len(co.Dossiers) != 0 {
		t.Errorf("late dossiers of the department: %+v", co)
	}
	getJSON(t, api+"costly?period="+idxPeriod+"&reason=sloppy", 400, nil)
	var def ScoreResponse // no period and no index tile yet: the year to date, now
	getJSON(t, api+"score", 200, &def)
	if now := time.Now().In(event.Location); def.Period.Key != fmt.Sprintf("%d-YTD-%02d", now.Year(), int(now.Month())) {
		t.Errorf("default period %s", def.Period.Key)
	}
	getJSON(t, api+"score?period=2026-13", 400, nil)
	getJSON(t, api+"score?period="+idxPeriod+"&unit=nowhere", 404, nil)

	// The export: a row per unit, group and indicator.
	resp, err := http.Get(api + "export?period=" + idxPeriod + "&format=csv")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff")))).ReadAll()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %d %v %s", resp.StatusCode, err, body)
	}
	var found string
	for _, r := range rows[1:] {
		if r[2] == idxWard && r[6] == "progress.on_time" {
			found = strings.Join([]string{r[0], r[1], r[5], r[10], r[11], r[12], r[13], r[14]}, "|")
		}
	}
	if strings.Join(rows[0], ",") != strings.Join(export.IndexHeader, ",") || found != "2026-10|3|indicator|1|3|4|0.75|15" || len(rows) != 1+3*(1+6+len(svcindex.Indicators)) {
		t.Errorf("export: %d rows, the ward's progress %q, header %v", len(rows), found, rows[0])
	}

	// The report of the month has the index section.
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext missing: apt-get install poppler-utils")
	}
	for lang, want := range map[string][]string{
		"vi": {"IV. CHỈ SỐ PHỤC VỤ NGƯỜI DÂN, DOANH NGHIỆP", "Tổng điểm của thành phố", "UBND phường Chiềng Lề", "Phòng Tư pháp"},
		"en": {"IV. SERVICE INDEX FOR CITIZENS AND BUSINESSES", "The city's total", "UBND phường Chiềng Lề", "Units ranked"},
	} {
		resp, err := http.Get(base + "/api/kpis/report?period=" + idxPeriod + "&lang=" + lang + "&format=pdf")
		if err != nil {
			t.Fatal(err)
		}
		pdf, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("report %s: %d %s", lang, resp.StatusCode, pdf)
		}
		f := filepath.Join(t.TempDir(), "r.pdf")
		_ = os.WriteFile(f, pdf, 0o600)
		out, err := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", f, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !bytes.Contains(out, []byte(w)) {
				t.Errorf("%s report: no %q", lang, w)
			}
		}
	}

	// Closed to a visitor not signed in, like the KPI page.
	_, closed := serveDashboard(t, ch, "")
	for _, p := range []string{"/api/kpis/service-index/score", "/api/kpis/service-index/ranking?period=" + idxPeriod} {
		resp, err := http.Get(closed + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s not signed in: %d, want 401", p, resp.StatusCode)
		}
	}
}
