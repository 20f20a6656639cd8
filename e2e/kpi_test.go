package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/dashboard"
	"github.com/sonla-ioc/ioc/ingest/adminhttp"
	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
	"github.com/sonla-ioc/ioc/simulate"
	"github.com/sonla-ioc/ioc/stream/feeds"
	"github.com/sonla-ioc/ioc/stream/kpi"
)

// feedsEnv is the administrative-feeds part of the pipeline under test:
// the HTTP endpoint of ingest, the feed consumer and KPI engine of stream.
type feedsEnv struct {
	httpURL string
	token   string // may post every kind
	limited string // may post documents only
	svc     *feeds.Service
	http    *adminhttp.Service
}

// kpiSettle is how long the feeds must be quiet for the tiles to count as
// shown (feeds.kpi.settle; 10 s by default).
const kpiSettle = 10 * time.Second

// startFeeds builds the feed roles (started with the others by start).
func (e *env) startFeeds(log *slog.Logger, reg prometheus.Registerer) (*feeds.Service, *adminhttp.Service, error) {
	e.feeds.token = "e2e-token-" + e.run + "-0123456789abcdef"
	e.feeds.limited = "e2e-docs-" + e.run + "-0123456789abcdef"
	fe, err := feeds.New(feeds.Config{GroupID: "e2e-feeds-" + e.run, MaxAge: 100 * time.Millisecond,
		KPI: kpi.Config{Settle: kpiSettle, Interval: 5 * time.Second}}, e.kafka, e.ch, log, reg)
	if err != nil {
		return nil, nil, err
	}
	ah, err := adminhttp.New(adminhttp.Config{Listen: "127.0.0.1:0", MaxBodyBytes: 1 << 20,
		Tokens: "e2e-all " + e.feeds.token + "; e2e-eoffice " + e.feeds.limited + " document"}, e.kafka, log, reg)
	if err != nil {
		return nil, nil, err
	}
	e.feeds.svc, e.feeds.http = fe, ah
	return fe, ah, nil
}

// dropFeedTopics deletes the administrative and tile topics of the run.
func quietLog() *slog.Logger {
	if os.Getenv("IOC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// ---- the H1-2021 scenario ----------------------------------------------------

// want is a tile's expected figures: its value rounded to 0.1, numerator
// and denominator (nil: not checked / null).
type want struct {
	value float64
	num   float64
	den   *float64
}

func f(v float64) *float64 { return &v }

// reportFigures are the figures of the city's report (seed digest), with the
// numerators and denominators the scenario produces.
func reportFigures(sc *simulate.Scenario) map[string]want {
	fg := sc.Figures
	return map[string]want{
		"reform_plan.done":        {51.4, 36, f(70)},
		"reform_plan.in_progress": {34, 34, f(70)},
		"reform_plan.overdue":     {0, 0, f(70)},
		"dossiers.on_time":        {100, float64(fg.DossiersOnTime), f(float64(fg.DossiersResolved))},
		"dossiers.settled": {math.Round(float64(fg.DossiersSettled)/float64(fg.DossiersSettledDen)*1000) / 10,
			float64(fg.DossiersSettled), f(float64(fg.DossiersSettledDen))},
		"dossiers.late":        {0, 0, nil},
		"dossiers.near_due":    {float64(fg.DossiersNearDue), float64(fg.DossiersNearDue), f(float64(fg.DossiersOpen))},
		"procedures.published": {186, 186, nil},
		"one_stop.excellent":   {100, 13, f(13)},
		"documents.signed":     {95.8, 4704, f(4910)},
		"signing.departments":  {100, 11, f(11)},
		"signing.communes":     {100, 12, f(12)},
		"budget.vs_province":   {88.5, 194_700_000_000, f(220_000_000_000)},
		"budget.vs_council":    {55.0, 194_700_000_000, f(354_000_000_000)},
		"budget.yoy":           {56.3, 194_700_000_000, f(124_600_000_000)},
		"portal.yoy":           {43.0, float64(fg.PortalTraffic), f(float64(fg.PortalTrafficPrevYear))},
	}
}

// check compares tiles with the expected figures.
func check(tiles []event.Tile, exp map[string]want, asOf time.Time) []string {
	var bad []string
	seen := map[string]bool{}
	for _, t := range tiles {
		if d, _ := kpi.DefOf(t.ID); d.External {
			continue // the service index: stream/svcindex and stream/kpi test it
		}
		w, ok := exp[t.ID]
		if !ok {
			bad = append(bad, "unexpected tile "+t.ID)
			continue
		}
		seen[t.ID] = true
		switch {
		case t.AsOfMs != asOf.UnixMilli():
			bad = append(bad, fmt.Sprintf("%s as of %s, want %s", t.ID, t.AsOf, asOf.Format(time.RFC3339)))
		case t.Value == nil || math.Round(*t.Value*10)/10 != w.value:
			bad = append(bad, fmt.Sprintf("%s = %v, want %.1f", t.ID, fmtp(t.Value), w.value))
		case t.Numerator != w.num:
			bad = append(bad, fmt.Sprintf("%s numerator %v, want %v", t.ID, t.Numerator, w.num))
		case w.den != nil && (t.Denominator == nil || *t.Denominator != *w.den):
			bad = append(bad, fmt.Sprintf("%s denominator %v, want %v", t.ID, fmtp(t.Denominator), *w.den))
		}
	}
	for id := range exp {
		if !seen[id] {
			bad = append(bad, "missing tile "+id)
		}
	}
	slices.Sort(bad)
	return bad
}

func fmtp(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// A leadership account signs in once; its session cookie opens the KPI
// tiles (kpi.view) at /api/kpis and on the websocket's kpi channel.
var (
	leaderOnce   sync.Once
	leaderCookie string
	leaderErr    error
)

// dashHeader is how the tests reach the KPI tiles: the session of a
// leadership account, signed in through the login form.
func dashHeader(t *testing.T) http.Header {
	t.Helper()
	leaderOnce.Do(func() { leaderCookie, leaderErr = signIn(pipe.wallURL) })
	if leaderErr != nil {
		t.Fatalf("signing in a leadership account: %v", leaderErr)
	}
	return http.Header{"Cookie": {leaderCookie}}
}

func signIn(base string) (string, error) {
	ctx := context.Background()
	role, pw, name := auth.RoleLeadership, "Lanh-dao-thanh-pho-Son-La-2021", "e2e-leader"
	if _, err := pipe.dash.Auth().SaveUser(ctx, auth.UserChange{Username: name, Role: &role, Password: &pw},
		auth.Principal{Name: "e2e"}, ""); err != nil {
		return "", fmt.Errorf("creating the account: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/login")
	if err != nil {
		return "", err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("no csrf field on the login page")
	}
	form := url.Values{"username": {name}, "password": {pw}, "csrf": {string(m[1])}, "next": {"/kpi/"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	cookie := ""
	for _, c := range resp.Cookies() {
		if c.Name == "ioc_session" && c.Value != "" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		return "", fmt.Errorf("login answered %s without a session cookie", resp.Status)
	}
	// The dashboard learns of new accounts on its next refresh.
	if testpoll.Poll(60*time.Second, 200*time.Millisecond, func() bool {
		_, err = tryKPIs(base, http.Header{"Cookie": {cookie}})
		return err == nil
	}) {
		return cookie, nil
	}
	return "", err
}

// tryKPIs gets /api/kpis.
func tryKPIs(base string, h http.Header) (dashboard.KPIResponse, error) {
	var r dashboard.KPIResponse
	req, _ := http.NewRequest(http.MethodGet, base+"/api/kpis", nil)
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return r, fmt.Errorf("GET /api/kpis: %s: %s", resp.Status, b)
	}
	err = json.NewDecoder(resp.Body).Decode(&r)
	return r, err
}

func getKPIs(t *testing.T, base string) dashboard.KPIResponse {
	t.Helper()
	r, err := tryKPIs(base, dashHeader(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func tileByID(tiles []event.Tile, id string) *event.Tile {
	for i := range tiles {
		if tiles[i].ID == id {
			return &tiles[i]
		}
	}
	return nil
}

// dialKPIs opens the kpi channel as the KPI page does.
func dialKPIs(t *testing.T) *socket {
	t.Helper()
	k := dialSocket(t, "?channels=kpi", dashHeader(t), "kpi")
	k.waitSnapshot(t, "kpi")
	return k
}

// tileArrived returns when a tile first arrived on the kpi channel
// satisfying cond after since.
func (s *socket) tileArrived(id string, since time.Time, cond func(event.Tile) bool) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.sets {
		if a.ch != "kpi" || a.key != id || a.at.Before(since) {
			continue
		}
		var tl event.Tile
		if event.UnmarshalTile(a.value, &tl) == nil && cond(tl) {
			return a.at, true
		}
	}
	return time.Time{}, false
}

// sqlTile runs the documented SQL of a tile (stream/kpi/sql/<query>.sql,
// quoted in docs/kpis.md) and returns its row at as_of.
func sqlTile(t *testing.T, id string, asOf time.Time) (num float64, den, value *float64) {
	t.Helper()
	query := ""
	for _, d := range kpi.Defs {
		if d.ID == id {
			query = d.Query
		}
	}
	q, err := pipe.feeds.svc.Engine().Render(query+".sql", kpi.NewParams(pipe.ch.Database, asOf))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pipe.conn.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v\n%s", id, err, q)
	}
	defer rows.Close()
	for rows.Next() {
		var tile string
		var point int64
		var target *float64
		if err := rows.Scan(&tile, &point, &num, &den, &value, &target); err != nil {
			t.Fatal(err)
		}
		if tile == id && point == asOf.UnixMilli() {
			return num, den, value
		}
	}
	return 0, nil, nil
}

// The H1-2021 scenario, published as raw events in shuffled order, makes
// the tiles show the report's figures at /api/kpis, and the documented SQL
// and the analyst rollups say the same. A replay with every event twice
// changes nothing; a late event restates the closed months it belongs to
// on the websocket; a restarted engine and dashboard agree.
func TestKPIScenarioH12021(t *testing.T) {
	sc := simulate.H12021()
	exp := reportFigures(sc)
	ctx := context.Background()
	eng := pipe.feeds.svc.Engine()

	t.Run("published shuffled, the tiles show the report's figures", func(t *testing.T) {
		if err := simulate.RunScenario(ctx, simulate.ScenarioOptions{Name: "h1-2021", Shuffle: true, Seed: 7}, pipe.kafka, quietLog()); err != nil {
			t.Fatal(err)
		}
		eventually(t, 120*time.Second, "tiles at /api/kpis show the report's figures", func() (bool, string) {
			bad := check(getKPIs(t, pipe.wallURL).Tiles, exp, sc.AsOf)
			return len(bad) == 0, strings.Join(bad, "; ")
		})
		tiles := getKPIs(t, pipe.wallURL).Tiles
		for _, tl := range tiles {
			if tl.Restated != nil {
				t.Errorf("%s is flagged restated after the initial load: %+v", tl.ID, tl.Restated)
			}
			if tl.Period.From != "2021-01-01" || tl.Period.To != "2021-06-30" || len(tl.Series) != 6 {
				t.Errorf("%s: period %+v with %d points, want 2021-01-01..2021-06-30 and 6 points", tl.ID, tl.Period, len(tl.Series))
			}
		}
		fields := tileByID(tiles, "procedures.published").Breakdown
		if len(fields) != 7 {
			t.Errorf("procedures in %d fields, want 7: %+v", len(fields), fields)
		}
		for _, p := range fields {
			if n := sc.Figures.ProceduresByField[p.Key]; float64(n) != p.Value {
				t.Errorf("procedures in %s: %v, want %d", p.Key, p.Value, n)
			}
		}
	})

	t.Run("the documented SQL gives the same figures", func(t *testing.T) {
		for _, tl := range getKPIs(t, pipe.wallURL).Tiles {
			if d, _ := kpi.DefOf(tl.ID); d.External {
				continue // the service index tiles: stream/svcindex, tested there
			}
			num, den, value := sqlTile(t, tl.ID, sc.AsOf)
			if num != tl.Numerator || fmtp(den) != fmtp(tl.Denominator) || fmtp(value) != fmtp(tl.Value) {
				t.Errorf("%s: SQL gives %v/%s = %s, /api/kpis %v/%s = %s", tl.ID, num, fmtp(den), fmtp(value),
					tl.Numerator, fmtp(tl.Denominator), fmtp(tl.Value))
			}
		}
		// The analysts' views and rollups, queried the plain way.
		for _, c := range []struct {
			q    string
			want uint64
		}{
			{"SELECT countIf(state = 'done') FROM {db}.tasks WHERE plan = '32/QĐ-UBND' AND plan_year = 2021", 36},
			{"SELECT countIf(state = 'in_progress') FROM {db}.tasks WHERE plan_year = 2021", 34},
			{"SELECT uniqExact(main_task) FROM {db}.tasks WHERE plan_year = 2021", 7},
			{"SELECT sum(done) FROM {db}.kpi_tasks_monthly WHERE plan_year = 2021", 36},
			{"SELECT count() FROM {db}.procedures WHERE status = 'published'", 186},
			{"SELECT uniqExact(field) FROM {db}.procedures WHERE status = 'published'", 7},
			{"SELECT toUInt64(sum(published)) FROM {db}.kpi_procedures_by_field", 186},
			{"SELECT countIf(signed = 1) FROM {db}.documents WHERE unit = 'ubnd-tp' AND issued_at >= toDateTime('2021-01-01 00:00:00', 'Asia/Ho_Chi_Minh')", 4704},
			{"SELECT toUInt64(sum(issued)) FROM {db}.kpi_documents_monthly WHERE unit = 'ubnd-tp' AND month >= toDate('2021-01-01')", 4910},
			{"SELECT toUInt64(sum(signed)) FROM {db}.kpi_documents_daily WHERE unit = 'ubnd-tp' AND day >= toDate('2021-01-01')", 4704},
			{"SELECT toUInt64(sum(resolved_on_time)) FROM {db}.kpi_dossiers_monthly WHERE month >= toDate('2021-01-01')", uint64(sc.Figures.DossiersOnTime)},
			{"SELECT toUInt64(sum(resolved_late)) FROM {db}.kpi_dossiers_daily", 0},
			{"SELECT toUInt64(sum(received)) FROM {db}.kpi_dossiers_daily WHERE day >= toDate('2021-01-01')", uint64(sc.Figures.DossiersReceived)},
			{"SELECT uniqExact(field) FROM {db}.kpi_dossiers_monthly", 7},
			{"SELECT uniqExact(unit) FROM {db}.kpi_dossiers_monthly", 13},
			{"SELECT countIf(resolved_ms > due_ms) FROM {db}.dossiers", 0},
			{"SELECT count() FROM {db}.dossiers WHERE settled_ms = 0", uint64(sc.Figures.DossiersOpen)},
			{"SELECT toUInt64(sum(revenue_vnd)) FROM {db}.kpi_budget_monthly WHERE month >= toDate('2021-01-01')", 194_700_000_000},
			{"SELECT toUInt64(sum(visits + interactions)) FROM {db}.kpi_portal_monthly WHERE month >= toDate('2021-01-01')", uint64(sc.Figures.PortalTraffic)},
			{"SELECT countIf(rating = 'excellent') FROM {db}.shop_ratings WHERE period = '2021-H1'", 13},
			{"SELECT countIf(kind IN ('ward', 'commune') AND digital_signature = 1 AND status = 'active') FROM {db}.org_units", 12},
			{"SELECT countIf(kind = 'department' AND status = 'active') FROM {db}.org_units", 11},
		} {
			if got := count(t, c.q); got != c.want {
				t.Errorf("%s = %d, want %d", c.q, got, c.want)
			}
		}
	})

	t.Run("as of 25 June: 36 done, 34 in progress, none overdue", func(t *testing.T) {
		tiles, err := eng.Compute(ctx, pipe.conn, time.Date(2021, 6, 25, 23, 59, 59, 0, event.Location))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, tl := range tiles {
			got[tl.ID] = tl.Numerator
		}
		if got["reform_plan.done"] != 36 || got["reform_plan.in_progress"] != 34 || got["reform_plan.overdue"] != 0 {
			t.Errorf("as of 2021-06-25: done %v, in progress %v, overdue %v; want 36, 34, 0",
				got["reform_plan.done"], got["reform_plan.in_progress"], got["reform_plan.overdue"])
		}
	})

	t.Run("a replay of every event, in order, changes nothing", func(t *testing.T) {
		before := getKPIs(t, pipe.wallURL).Tiles
		events := count(t, "SELECT count() FROM {db}.dossier_events")
		if err := simulate.RunScenario(ctx, simulate.ScenarioOptions{Name: "h1-2021"}, pipe.kafka, quietLog()); err != nil {
			t.Fatal(err)
		}
		// The feed consumer commits offsets only after ClickHouse has the
		// rows: no lag means every replayed event was written (as a
		// duplicate row, which merges collapse in time).
		eventually(t, 90*time.Second, "the replay is in ClickHouse (feed consumer lag 0)", func() (bool, string) {
			lag := feedsLag(t, "e2e-feeds-"+pipe.run)
			return lag == 0, fmt.Sprintf("lag %d", lag)
		})
		inserted := time.Now()
		eventually(t, 30*time.Second, "the engine computes over the replay", func() (bool, string) {
			return eng.LastComputed().After(inserted), eng.LastComputed().String()
		})
		after := getKPIs(t, pipe.wallURL).Tiles
		if bad := check(after, exp, sc.AsOf); len(bad) > 0 {
			t.Errorf("after the replay: %s", strings.Join(bad, "; "))
		}
		for i := range after {
			if after[i].ComputedMs != before[i].ComputedMs || after[i].Restated != nil {
				t.Errorf("%s was republished or restated by a replay (computed %d → %d, restated %+v)", after[i].ID,
					before[i].ComputedMs, after[i].ComputedMs, after[i].Restated)
			}
		}
		if n := count(t, "SELECT count() FROM {db}.dossier_events"); n != events {
			t.Errorf("the dossier_events view shows %d events after the replay, want %d", n, events)
		}
	})

	t.Run("a restarted engine and dashboard show the same tiles", func(t *testing.T) {
		want := getKPIs(t, pipe.wallURL).Tiles
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		reg := prometheus.NewRegistry()
		// A new engine (its own consumer group: it reads every topic from
		// the start again, a full replay) and a new dashboard.
		fe, err := feeds.New(feeds.Config{GroupID: "e2e-feeds-restart-" + pipe.run, KPI: kpi.Config{Settle: kpiSettle}},
			pipe.kafka, pipe.ch, quietLog(), reg)
		if err != nil {
			t.Fatal(err)
		}
		da, err := dashboard.New(dashboard.Config{Listen: "127.0.0.1:0", FlushInterval: 50 * time.Millisecond,
			Auth: auth.Config{SessionKeyFile: pipe.keyFile}}, pipe.kafka, pipe.ch, quietLog(), reg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 2)
		go func() { done <- fe.Run(rctx) }()
		go func() { done <- da.Run(rctx) }()
		eventually(t, 60*time.Second, "the new engine consumed the feeds again and computed", func() (bool, string) {
			return fe.Ready() && !fe.Engine().LastComputed().Before(time.Now().Add(-time.Minute)) && da.Addr() != nil, "not yet"
		})
		eventually(t, 60*time.Second, "the new dashboard has the tiles", func() (bool, string) {
			r, err := tryKPIs("http://"+da.Addr().String(), dashHeader(t))
			if err != nil {
				return false, err.Error()
			}
			bad := check(r.Tiles, exp, sc.AsOf)
			return len(bad) == 0 && len(r.Tiles) == len(want), strings.Join(bad, "; ")
		})
		for _, tl := range fe.Engine().Published() {
			if tl.Restated != nil {
				t.Errorf("%s restated after a restart: %+v", tl.ID, tl.Restated)
			}
		}
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("stopping: %v", err)
			}
		}
	})

	t.Run("a late event restates the closed months", func(t *testing.T) {
		ws := dialKPIs(t)
		// A wall's kiosk may see the wall, not the KPI tiles.
		// It asks for them anyway, and is refused.
		kiosk := dialSocket(t, "", http.Header{"Authorization": {"Bearer " + pipe.kiosk}}, "kpi")
		// The feeds have been quiet for longer than feeds.kpi.settle: the
		// tiles count as shown, and a change of a closed month restates them.
		// Quiet time passing is the subject here, not a synchronisation.
		time.Sleep(kpiSettle + 500*time.Millisecond)
		before := tileByID(getKPIs(t, pipe.wallURL).Tiles, "dossiers.on_time")
		// A dossier received on 15 March, due on the 17th, resolved on the
		// 19th: late. The one-stop-shop software was down and sends it now.
		body := strings.Join([]string{
			`{"dossier_id":"000.00.26.H50-210315-late1","procedure_code":"1.001022.000.00.00.H50","unit":"ubnd-tp","channel":"in_person","state":"received","at":"2021-03-15T09:00:00+07:00","received_at":"2021-03-15T09:00:00+07:00","due_at":"2021-03-17T17:00:00+07:00"}`,
			`{"dossier_id":"000.00.26.H50-210315-late1","procedure_code":"1.001022.000.00.00.H50","unit":"ubnd-tp","channel":"in_person","state":"resolved","at":"2021-03-19T10:00:00+07:00","received_at":"2021-03-15T09:00:00+07:00","due_at":"2021-03-17T17:00:00+07:00"}`,
		}, "\n")
		start := time.Now()
		code, resp := postEvents(t, "dossier", pipe.feeds.token, "application/x-ndjson", []byte(body))
		if code != http.StatusAccepted || resp.Accepted != 2 {
			t.Fatalf("POST: %d %+v", code, resp)
		}
		var seen time.Time
		eventually(t, 10*time.Second, "the websocket shows the late dossier", func() (bool, string) {
			var ok bool
			seen, ok = ws.tileArrived("dossiers.late", start, func(tl event.Tile) bool { return tl.Numerator == 1 })
			return ok, "no frame yet"
		})
		// Reported, not asserted: no test asserts on wall-clock speed.
		t.Logf("event posted → tile on the websocket: %s", seen.Sub(start).Round(time.Millisecond))
		if _, ok := kiosk.tileArrived("dossiers.late", time.Time{}, func(event.Tile) bool { return true }); ok {
			t.Errorf("a kiosk socket (wall only) received KPI tiles")
		}
		if codes := kiosk.errorCodes(); !slices.Contains(codes, "forbidden") {
			t.Errorf("a kiosk subscribing to the kpi channel: errors %v, want forbidden", codes)
		}
		tiles := getKPIs(t, pipe.wallURL).Tiles
		onTime := tileByID(tiles, "dossiers.on_time")
		resolved := float64(sc.Figures.DossiersResolved)
		if onTime.Numerator != resolved || *onTime.Denominator != resolved+1 {
			t.Errorf("dossiers.on_time %v/%v, want %v/%v", onTime.Numerator, fmtp(onTime.Denominator), resolved, resolved+1)
		}
		r := onTime.Restated
		if r == nil || !slices.Equal(r.Months, []string{"2021-03", "2021-04", "2021-05"}) || fmtp(r.PreviousValue) != fmtp(before.Value) ||
			r.AtMs < start.UnixMilli() {
			t.Errorf("dossiers.on_time restatement = %+v, want months 2021-03..05, previous value %s", r, fmtp(before.Value))
		}
		if late := tileByID(tiles, "dossiers.late"); late.Restated == nil || late.AsOfMs != sc.AsOf.UnixMilli() {
			t.Errorf("dossiers.late: restated %+v, as of %s (the late event must not move as_of)", late.Restated, late.AsOf)
		}
		for _, id := range []string{"documents.signed", "reform_plan.done", "budget.yoy"} {
			if tl := tileByID(tiles, id); tl.Restated != nil {
				t.Errorf("%s restated by a dossier event: %+v", id, tl.Restated)
			}
		}
		// The documented SQL agrees with the restated tiles.
		for _, id := range []string{"dossiers.on_time", "dossiers.late", "dossiers.settled"} {
			tl := tileByID(tiles, id)
			num, den, value := sqlTile(t, id, sc.AsOf)
			if num != tl.Numerator || fmtp(den) != fmtp(tl.Denominator) || fmtp(value) != fmtp(tl.Value) {
				t.Errorf("%s: SQL %v/%s, tile %v/%s", id, num, fmtp(den), tl.Numerator, fmtp(tl.Denominator))
			}
		}
		if n := count(t, "SELECT toUInt64(sum(resolved_late)) FROM {db}.kpi_dossiers_daily WHERE day = toDate('2021-03-19') AND unit = 'ubnd-tp'"); n != 1 {
			t.Errorf("kpi_dossiers_daily: %d late on 2021-03-19, want 1", n)
		}
	})
}

// feedsLag is how many records of the administrative topics a consumer
// group has not committed yet.
func feedsLag(t *testing.T, group string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(pipe.kafka.Brokers...), Timeout: 10 * time.Second}
	parts := map[string][]int{}
	ends := map[string][]kafka.OffsetRequest{}
	for _, tp := range event.AdminTopics() {
		ids, err := pipe.kafka.PartitionIDs(ctx, tp)
		if err != nil {
			t.Fatal(err)
		}
		full := pipe.kafka.Topic(tp)
		parts[full] = ids
		for _, id := range ids {
			ends[full] = append(ends[full], kafka.LastOffsetOf(id))
		}
	}
	last, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: ends})
	if err != nil {
		t.Fatal(err)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]int64{}
	for topic, ps := range committed.Topics {
		for _, p := range ps {
			done[fmt.Sprint(topic, p.Partition)] = max(p.CommittedOffset, 0)
		}
	}
	var lag int64
	for topic, ps := range last.Topics {
		for _, p := range ps {
			lag += p.LastOffset - done[fmt.Sprint(topic, p.Partition)]
		}
	}
	return lag
}

// postEvents posts a body to the ingest endpoint.
func postEvents(t *testing.T, kind, token, contentType string, body []byte) (int, adminhttp.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, pipe.feeds.httpURL+"/v1/events/"+kind, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", kind, err)
	}
	defer resp.Body.Close()
	var r adminhttp.Response
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r
}

// The HTTP endpoint authenticates each system, answers after Kafka has the
// events, stores valid ones and dead-letters the rest with reasons; records
// produced straight to Kafka are checked again by stream.
func TestAdminEventsHTTPEndpoint(t *testing.T) {
	doc := func(id string, signed bool) string {
		return fmt.Sprintf(`{"document_id":%q,"unit":"phuong-to-hieu","number":"12/UBND","doc_type":"công văn","issued_at":"2019-05-06T10:00:00+07:00","signed":%v}`, id, signed)
	}
	run := pipe.run

	t.Run("authentication and authorisation", func(t *testing.T) {
		body := []byte("[" + doc("auth-"+run, true) + "]")
		for _, c := range []struct {
			kind, token string
			want        int
		}{
			{"document", "", http.StatusUnauthorized},
			{"document", "not-a-token-of-any-system-at-all", http.StatusUnauthorized},
			{"nonsense", pipe.feeds.token, http.StatusNotFound},
			{"dossier", pipe.feeds.limited, http.StatusForbidden},
			{"document", pipe.feeds.limited, http.StatusAccepted},
		} {
			if code, resp := postEvents(t, c.kind, c.token, "application/json", body); code != c.want {
				t.Errorf("POST %s with token %q: %d %+v, want %d", c.kind, c.token, code, resp, c.want)
			}
		}
		eventually(t, 20*time.Second, "the accepted document in ClickHouse, with the system's name", func() (bool, string) {
			n := count(t, "SELECT count() FROM {db}.documents WHERE document_id = ? AND source = 'e2e-eoffice' AND unit = 'phuong-to-hieu'", "auth-"+run)
			return n == 1, fmt.Sprintf("%d rows", n)
		})
	})

	t.Run("valid events stored, invalid ones dead-lettered with reasons", func(t *testing.T) {
		lines := []string{
			doc("ok-"+run, false),
			`{"document_id":"nosig-` + run + `","unit":"ubnd-tp","issued_at":"2019-05-06T10:00:00+07:00"}`,
			`{"document_id":"future-` + run + `","unit":"ubnd-tp","issued_at":"2099-01-01T00:00:00+07:00","signed":true}`,
			`{"document_id":"bad json ` + run,
			doc("ok-"+run, false), // a duplicate in the same request: one row
		}
		code, resp := postEvents(t, "document", pipe.feeds.token, "application/x-ndjson", []byte(strings.Join(lines, "\n")))
		if code != http.StatusUnprocessableEntity || resp.Accepted != 2 || resp.Rejected != 3 {
			t.Fatalf("POST: %d %+v, want 422 with 2 accepted and 3 rejected", code, resp)
		}
		reasons := map[int]event.Reason{}
		for _, p := range resp.Errors {
			reasons[p.Index] = p.Reason
		}
		if reasons[1] != event.ReasonMissingField || reasons[2] != event.ReasonBadTime || reasons[3] != event.ReasonNotJSON {
			t.Errorf("reasons %v, want 1 missing_field, 2 bad_time, 3 not_json", reasons)
		}
		if resp.IDs[0] != resp.IDs[1] {
			t.Errorf("the same event twice got ids %s and %s", resp.IDs[0], resp.IDs[1])
		}
		eventually(t, 60*time.Second, "dead letters with reasons and raw bytes", func() (bool, string) {
			n := count(t, "SELECT count() FROM {db}.dead_letters WHERE source = 'http' AND source_topic LIKE ? AND reason IN ('missing_field', 'bad_time', 'not_json') AND position(raw, ?) > 0",
				"POST /v1/events/document system=e2e-all #%", run)
			return n == 3, fmt.Sprintf("%d dead letters", n)
		})
		eventually(t, 20*time.Second, "the valid document stored once", func() (bool, string) {
			n := count(t, "SELECT count() FROM {db}.documents WHERE document_id = ?", "ok-"+run)
			return n == 1, fmt.Sprintf("%d rows", n)
		})
	})

	t.Run("personal data, oversize and malformed bodies", func(t *testing.T) {
		cccd := `{"dossier_id":"034095001234","procedure_code":"1.001022.000.00.00.H50","unit":"ubnd-tp","channel":"online","state":"received","at":"2019-03-15T09:00:00+07:00","received_at":"2019-03-15T09:00:00+07:00","due_at":"2019-03-17T17:00:00+07:00"}`
		code, resp := postEvents(t, "dossier", pipe.feeds.token, "application/json", []byte("["+cccd+"]"))
		if code != http.StatusUnprocessableEntity || len(resp.Errors) != 1 || resp.Errors[0].Reason != event.ReasonPersonalData {
			t.Errorf("a dossier id that is a citizen ID number: %d %+v, want 422 personal_data", code, resp)
		}
		big := bytes.Repeat([]byte(" "), 2<<20)
		if code, _ := postEvents(t, "document", pipe.feeds.token, "application/json", append([]byte("["+doc("big-"+run, true)), big...)); code != http.StatusRequestEntityTooLarge {
			t.Errorf("a 2 MiB body: %d, want 413", code)
		}
		if code, resp := postEvents(t, "document", pipe.feeds.token, "application/json", []byte(`[{"document_id": "x"`+run)); code != http.StatusBadRequest {
			t.Errorf("a truncated JSON array: %d %+v, want 400", code, resp)
		}
		if code, _ := postEvents(t, "document", pipe.feeds.token, "text/csv", []byte("a,b")); code != http.StatusUnsupportedMediaType {
			t.Errorf("CSV: %d, want 415", code)
		}
		eventually(t, 60*time.Second, "the rejected requests are dead letters", func() (bool, string) {
			n := count(t, "SELECT uniqExact(reason) FROM {db}.dead_letters WHERE source = 'http' AND reason IN ('personal_data', 'oversize', 'not_json') AND received_ms > ?",
				time.Now().Add(-time.Minute).UnixMilli())
			return n == 3, fmt.Sprintf("%d reasons", n)
		})
		// The personal data itself never reaches the dead letters: the
		// field name and a hash of the value do.
		if n := count(t, "SELECT count() FROM {db}.dead_letters WHERE source = 'http' AND (position(raw, '034095001234') > 0 OR position(detail, '034095001234') > 0)"); n != 0 {
			t.Errorf("%d dead letters hold the citizen ID number", n)
		}
		if n := count(t, "SELECT count() FROM {db}.dead_letters WHERE source = 'http' AND reason = 'personal_data' AND position(raw, '\"dossier_id\":\"sha256:') > 0 AND received_ms > ?",
			time.Now().Add(-2*time.Minute).UnixMilli()); n != 1 {
			t.Errorf("%d personal_data dead letters keep the field name and the hash, want 1", n)
		}
	})

	t.Run("records produced straight to Kafka are validated by stream", func(t *testing.T) {
		w := pipe.kafka.NewWriter(kafkaconn.WriterOptions{Linger: time.Millisecond, MaxAttempts: 10})
		defer w.Close()
		topic := pipe.kafka.Topic(event.AdminTopic(event.KindDocument))
		good := doc("kafka-"+run, true)
		if err := w.WriteMessages(context.Background(),
			kafka.Message{Topic: topic, Key: []byte("x"), Value: []byte("not json " + run)},
			kafka.Message{Topic: topic, Key: []byte("y"), Value: []byte(`{"document_id":"enum-` + run + `","unit":"ubnd-tp","issued_at":"2019-05-06T10:00:00+07:00","signed":true,"id":"0000"}`)},
			kafka.Message{Topic: topic, Key: []byte("kafka-" + run), Value: []byte(good)},
		); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "kafka dead letters and the good record", func() (bool, string) {
			dl := count(t, "SELECT count() FROM {db}.dead_letters WHERE source = 'kafka' AND source_topic LIKE ? AND reason IN ('not_json', 'bad_event_id') AND position(raw, ?) > 0",
				topic+"/%", run)
			ok := count(t, "SELECT count() FROM {db}.documents WHERE document_id = ? AND event_id != ''", "kafka-"+run)
			return dl == 2 && ok == 1, fmt.Sprintf("%d dead letters, %d documents", dl, ok)
		})
	})
}
