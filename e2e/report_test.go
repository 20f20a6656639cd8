package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/sonla-ioc/ioc/dashboard"
	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/report"
	"github.com/sonla-ioc/ioc/simulate"
	"github.com/sonla-ioc/ioc/stream/kpi"
)

type readyRecorder struct{ got []report.Ready }

func (r *readyRecorder) ReportReady(_ context.Context, rd report.Ready) error {
	r.got = append(r.got, rd)
	return nil
}

// signInAs creates an account of a role and signs it in through the login
// form; it returns the session cookie.
func signInAs(t *testing.T, role auth.Role, name string) http.Header {
	t.Helper()
	ctx := context.Background()
	pw := "Mat-khau-" + name + "-Son-La-2021"
	if _, err := pipe.dash.Auth().SaveUser(ctx, auth.UserChange{Username: name, Role: &role, Password: &pw},
		auth.Principal{Name: "e2e"}, ""); err != nil {
		t.Fatalf("creating the account %s: %v", name, err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var cookie string
	eventually(t, 60*time.Second, "signing in "+name, func() (bool, string) {
		resp, err := client.Get(pipe.wallURL + "/login")
		if err != nil {
			return false, err.Error()
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
		if m == nil {
			return false, "no csrf field"
		}
		form := url.Values{"username": {name}, "password": {pw}, "csrf": {string(m[1])}, "next": {"/kpi/"}}
		req, _ := http.NewRequest(http.MethodPost, pipe.wallURL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range resp.Cookies() {
			req.AddCookie(c)
		}
		resp, err = client.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "ioc_session" && c.Value != "" {
				cookie = c.Name + "=" + c.Value
			}
		}
		return cookie != "", "login answered " + resp.Status
	})
	return http.Header{"Cookie": {cookie}}
}

func get(t *testing.T, h http.Header, path string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, pipe.wallURL+path, nil)
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading: %v", path, err)
	}
	return resp.StatusCode, resp.Header, b
}

func getOK(t *testing.T, h http.Header, path string) ([]byte, http.Header) {
	t.Helper()
	code, hdr, b := get(t, h, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, truncateBody(b))
	}
	return b, hdr
}

func truncateBody(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func num(s string) *float64 {
	if s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil
	}
	return &v
}

// same15 compares a cell with a figure: exactly for CSV, to Excel's 15
// significant digits for XLSX.
func same15(format, cell string, v *float64) bool {
	c := num(cell)
	if c == nil || v == nil {
		return c == nil && v == nil
	}
	if format == "csv" {
		return *c == *v
	}
	return math.Abs(*c-*v) <= 1e-13*math.Max(1, math.Abs(*v))
}

// reportRows reads a report's table (CSV or XLSX) into rows of strings.
func reportRows(t *testing.T, format string, b []byte) [][]string {
	t.Helper()
	if format == "csv" {
		rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
		if err != nil {
			t.Fatalf("reading the CSV: %v", err)
		}
		return rows
	}
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("opening the XLSX: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetList()[0], excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// The leadership's report of H1 2021, in each format and language, shows
// exactly the figures of the tiles at /api/kpis; the PDF's text has its
// Vietnamese diacritics; every drill-down adds up to its tile; the
// dossier lists are the tiles' dossiers; exports are refused to roles that
// may not see the table and audited for those that may.
func TestKPIReportH12021(t *testing.T) {
	ctx := context.Background()
	sc := simulate.H12021()
	// Published in order: a replay if another test published it already.
	if err := simulate.RunScenario(ctx, simulate.ScenarioOptions{Name: "h1-2021"}, pipe.kafka, quietLog()); err != nil {
		t.Fatal(err)
	}
	leader := signInAs(t, auth.RoleLeadership, "e2e-report-leader")
	// Every event in ClickHouse (the feed consumer commits after the
	// insert), then a computation that saw them all.
	eventually(t, 120*time.Second, "the scenario is in ClickHouse (feed consumer lag 0)", func() (bool, string) {
		lag := feedsLag(t, "e2e-feeds-"+pipe.run)
		return lag == 0, fmt.Sprintf("lag %d", lag)
	})
	inserted := time.Now()
	eng := pipe.feeds.svc.Engine()
	eventually(t, 60*time.Second, "the engine computes over them", func() (bool, string) {
		return eng.LastComputed().After(inserted), eng.LastComputed().String()
	})
	var tiles []event.Tile
	eventually(t, 120*time.Second, "the tiles are as of the scenario's end", func() (bool, string) {
		r, err := tryKPIs(pipe.wallURL, leader)
		if err != nil {
			return false, err.Error()
		}
		tiles = r.Tiles
		ok := len(tiles) == len(kpi.Defs)
		for _, tl := range tiles {
			ok = ok && tl.AsOfMs == sc.AsOf.UnixMilli()
		}
		return ok, fmt.Sprintf("%d tiles", len(tiles))
	})
	// The published tiles are the engine's computation over everything
	// in ClickHouse.
	eventually(t, 60*time.Second, "the tiles equal a fresh computation", func() (bool, string) {
		r, err := tryKPIs(pipe.wallURL, leader)
		if err != nil {
			return false, err.Error()
		}
		fresh, err := eng.Compute(ctx, pipe.conn, sc.AsOf)
		if err != nil {
			return false, err.Error()
		}
		for i, tl := range r.Tiles {
			if fmtp(tl.Value) != fmtp(fresh[i].Value) || tl.Numerator != fresh[i].Numerator {
				return false, tl.ID + " not yet"
			}
		}
		tiles = r.Tiles
		return true, ""
	})
	byID := map[string]event.Tile{}
	for _, tl := range tiles {
		byID[tl.ID] = tl
	}

	for _, format := range []string{"csv", "xlsx"} {
		t.Run("the "+format+" report has the tiles' figures", func(t *testing.T) {
			for _, lang := range []string{"vi", "en"} {
				b, hdr := getOK(t, leader, "/api/kpis/report?period=2021-H1&lang="+lang+"&format="+format)
				if cd := hdr.Get("Content-Disposition"); !strings.Contains(cd, "2021-H1-"+lang+"."+format) {
					t.Errorf("Content-Disposition %q", cd)
				}
				rows := reportRows(t, format, b)
				seen := map[string]bool{}
				months := map[string]int{}
				for _, r := range rows[1:] {
					if r[0] == "service_index" {
						continue // the index section (report/index.go): its units and indicators are not tiles
					}
					tl, ok := byID[r[1]]
					if !ok {
						t.Fatalf("row of an unknown tile: %v", r)
					}
					switch r[0] {
					case "tile":
						seen[tl.ID] = true
						if !same15(format, r[5], tl.Value) || !same15(format, r[6], &tl.Numerator) || !same15(format, r[7], tl.Denominator) ||
							!same15(format, r[8], tl.Target) {
							t.Errorf("%s %s: report %s %s/%s target %s; tile %s %v/%s target %s", format, tl.ID, r[5], r[6], r[7], r[8],
								fmtp(tl.Value), tl.Numerator, fmtp(tl.Denominator), fmtp(tl.Target))
						}
						// A restated tile's note travels with it (after the
						// late dossier of TestKPIScenarioH12021, when run).
						// (XLSX rows end at their last non-empty cell.)
						note := ""
						if len(r) > 11 {
							note = r[11]
						}
						if (tl.Restated != nil) != (note != "") {
							t.Errorf("%s %s: note %q, tile restated %+v", format, tl.ID, note, tl.Restated)
						}
						if r[10] != sc.AsOf.Format(time.RFC3339) {
							t.Errorf("%s %s: as of %s, want %s", format, tl.ID, r[10], sc.AsOf.Format(time.RFC3339))
						}
					case "month":
						p := tl.Series[months[tl.ID]]
						months[tl.ID]++
						if r[3] != p.At[:7] || !same15(format, r[5], p.Value) || !same15(format, r[6], &p.Numerator) {
							t.Errorf("%s %s month %s: %s %s, tile's point %s %s %v", format, tl.ID, r[3], r[5], r[6], p.At, fmtp(p.Value), p.Numerator)
						}
					}
				}
				for id := range byID {
					if !seen[id] {
						t.Errorf("%s %s: no row of tile %s", format, lang, id)
					}
					if months[id] != 6 {
						t.Errorf("%s %s: tile %s has %d months, want 6", format, lang, id, months[id])
					}
				}
				if lang == "vi" && !strings.Contains(strings.Join(rows[1], "|"), "Nhiệm vụ kế hoạch CCHC đã hoàn thành") {
					t.Errorf("%s vi: first row %v", format, rows[1])
				}
			}
		})
	}

	t.Run("the PDF in Vietnamese and English: A4, header, diacritics, figures", func(t *testing.T) {
		if _, err := exec.LookPath("pdftotext"); err != nil {
			t.Fatal("pdftotext is missing: apt-get install poppler-utils (deploy/local/services.sh deps installs it)")
		}
		dir := t.TempDir()
		for _, c := range []struct {
			lang string
			want []string
		}{
			{"vi", []string{"UBND THÀNH PHỐ SƠN LA", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
				"6 tháng đầu năm 2021", "Số liệu tính đến 30/06/2021 17:00", "Hồ sơ giải quyết đúng hạn", "UBND phường Chiềng An",
				"Tài nguyên – Môi trường", "51,4 %", "194,7 tỷ đồng / 220,0 tỷ đồng", "Theo đơn vị", "Theo lĩnh vực"}},
			{"en", []string{"SON LA CITY PEOPLE'S COMMITTEE", "first half of 2021", "Figures as of 30 June 2021 17:00",
				"Dossiers resolved on time", "UBND phường Chiềng An", "51.4 %", "194.7 bn VND / 220.0 bn VND", "By unit", "By field"}},
		} {
			b, hdr := getOK(t, leader, "/api/kpis/report?period=2021-H1&lang="+c.lang+"&format=pdf")
			if hdr.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(b, []byte("%PDF-")) {
				t.Fatalf("%s: %s, %q…", c.lang, hdr.Get("Content-Type"), b[:min(len(b), 8)])
			}
			file := filepath.Join(dir, c.lang+".pdf")
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", file, "-").Output()
			if err != nil {
				t.Fatalf("pdftotext: %v", err)
			}
			text := string(out)
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("%s PDF: no %q in its text", c.lang, w)
				}
			}
			// Every tile's figure as the PDF prints it.
			for _, tl := range tiles {
				if tl.Value == nil {
					continue
				}
				f := strconv.FormatFloat(*tl.Value, 'f', 1, 64)
				if c.lang == "vi" {
					f = strings.ReplaceAll(f, ".", ",")
				}
				if tl.Unit == "count" {
					f = strconv.FormatFloat(*tl.Value, 'f', 0, 64)
				}
				if !strings.Contains(text, f) {
					t.Errorf("%s PDF: tile %s's figure %s is not in the text", c.lang, tl.ID, f)
				}
			}
			info, err := exec.Command("pdfinfo", file).Output()
			if err == nil && !strings.Contains(string(info), "pts (A4)") {
				t.Errorf("%s PDF is not A4:\n%s", c.lang, info)
			}
			if os.Getenv("IOC_REPORT_KEEP") != "" {
				_ = os.WriteFile(filepath.Join(os.Getenv("IOC_REPORT_KEEP"), "kpi-report-"+c.lang+".pdf"), b, 0o644)
			}
		}
	})

	t.Run("every drill-down adds up to its tile", func(t *testing.T) {
		for _, tl := range tiles {
			for _, by := range kpi.Dimensions(tl.ID) {
				b, _ := getOK(t, leader, "/api/kpis/"+tl.ID+"/breakdown?by="+by)
				var resp dashboard.BreakdownResponse
				if err := json.Unmarshal(b, &resp); err != nil {
					t.Fatal(err)
				}
				if resp.AsOfMs != tl.AsOfMs || len(resp.Rows) == 0 {
					t.Errorf("%s by %s: as of %d with %d rows", tl.ID, by, resp.AsOfMs, len(resp.Rows))
					continue
				}
				if by == kpi.ByMonth {
					last := resp.Rows[len(resp.Rows)-1]
					if len(resp.Rows) != 6 || last.Numerator != tl.Numerator || fmtp(last.Value) != fmtp(tl.Value) {
						t.Errorf("%s by month: %d rows, last %v %s; tile %v %s", tl.ID, len(resp.Rows), last.Numerator, fmtp(last.Value),
							tl.Numerator, fmtp(tl.Value))
					}
					continue
				}
				var n, d float64
				for _, r := range resp.Rows {
					n += r.Numerator
					if r.Denominator != nil {
						d += *r.Denominator
					}
					if by == kpi.ByUnit && (r.Kind == "" || r.LabelVI == r.Key) {
						t.Errorf("%s by unit: %s has no name or kind in the registry: %+v", tl.ID, r.Key, r)
					}
				}
				if n != tl.Numerator || tl.Denominator != nil && d != *tl.Denominator {
					t.Errorf("%s by %s: rows add up to %v/%v, the tile is %v/%s", tl.ID, by, n, d, tl.Numerator, fmtp(tl.Denominator))
				}
			}
		}
		if code, _, _ := get(t, leader, "/api/kpis/budget.yoy/breakdown?by=unit"); code != http.StatusBadRequest {
			t.Errorf("budget.yoy by unit: %d, want 400", code)
		}
		// The wards of the dossier drill-down are the registry's wards and communes.
		b, _ := getOK(t, leader, "/api/kpis/dossiers.on_time/breakdown?by=unit")
		var resp dashboard.BreakdownResponse
		_ = json.Unmarshal(b, &resp)
		kinds := map[string]int{}
		for _, r := range resp.Rows {
			kinds[r.Kind]++
		}
		if kinds["city"] != 1 || kinds["ward"]+kinds["commune"] != 12 {
			t.Errorf("dossiers by unit: kinds %v, want 1 city and 12 wards and communes", kinds)
		}
	})

	t.Run("the late and near-due dossiers are the tiles'", func(t *testing.T) {
		for _, c := range []struct{ tile, state string }{{"dossiers.late", "late"}, {"dossiers.near_due", "near_due"}} {
			b, _ := getOK(t, leader, "/api/kpis/dossiers.on_time/dossiers?state="+c.state)
			var resp dashboard.DossiersResponse
			if err := json.Unmarshal(b, &resp); err != nil {
				t.Fatal(err)
			}
			tl := byID[c.tile]
			if float64(len(resp.Dossiers)) != tl.Numerator {
				t.Errorf("%s: %d dossiers listed, the tile counts %v", c.state, len(resp.Dossiers), tl.Numerator)
			}
			for _, d := range resp.Dossiers {
				if d.Unit == "" || d.UnitName == "" || d.DueMs == 0 {
					t.Errorf("%s dossier without unit or due time: %+v", c.state, d)
				}
				if c.state == "near_due" && (d.DueMs < tl.AsOfMs || d.DueMs >= tl.AsOfMs+kpi.NearDue.Milliseconds()) {
					t.Errorf("near-due dossier due at %d, as of %d", d.DueMs, tl.AsOfMs)
				}
			}
			// The export has the same dossiers, one row each.
			csvb, _ := getOK(t, leader, "/api/kpis/dossiers.on_time/dossiers?state="+c.state+"&format=csv")
			if rows := reportRows(t, "csv", csvb); len(rows)-1 != len(resp.Dossiers) {
				t.Errorf("%s export: %d rows, the list has %d", c.state, len(rows)-1, len(resp.Dossiers))
			}
		}
	})

	t.Run("scheduled reports: written once into the directory, handed to the notifiers", func(t *testing.T) {
		dir := t.TempDir()
		rec := &readyRecorder{}
		sch, err := report.NewScheduler(report.ScheduleConfig{Dir: dir, Monthly: true, Quarterly: true, HalfYearly: true,
			Formats: []string{"pdf", "csv"}}, pipe.ch, pipe.kafka, quietLog(), rec)
		if err != nil {
			t.Fatal(err)
		}
		sch.Now = func() time.Time { return time.Date(2021, 7, 2, 8, 0, 0, 0, event.Location) }
		done, err := sch.RunOnce(ctx)
		if err != nil || strings.Join(done, " ") != "2021-06 2021-Q2 2021-H1" {
			t.Fatalf("first run: wrote %v, %v", done, err)
		}
		for _, name := range []string{"bao-cao-kpi-2021-H1-vi.pdf", "kpi-report-2021-Q2-en.csv", "bao-cao-kpi-2021-06-vi.csv"} {
			if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() < 1000 {
				t.Errorf("%s: %v", name, err)
			}
		}
		// The H1 CSV has the tiles' figures (as the report served above).
		b, err := os.ReadFile(filepath.Join(dir, "bao-cao-kpi-2021-H1-vi.csv"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reportRows(t, "csv", b)[1:] {
			if tl := byID[r[1]]; r[0] == "tile" && !same15("csv", r[6], &tl.Numerator) {
				t.Errorf("scheduled H1 report: %s numerator %s, tile %v", tl.ID, r[6], tl.Numerator)
			}
		}
		if len(rec.got) != 3 || rec.got[2].Period != "2021-H1" || len(rec.got[2].Files) != 4 {
			t.Errorf("notifiers told %+v", rec.got)
		}
		// Again: nothing new is written, nobody is told twice.
		if done, err := sch.RunOnce(ctx); err != nil || len(done) != 0 || len(rec.got) != 3 {
			t.Errorf("second run wrote %v (%v); notifiers told %d times", done, err, len(rec.got))
		}
	})

	t.Run("exports: the role is checked and every export audited", func(t *testing.T) {
		admin := signInAs(t, auth.RoleAdmin, "e2e-report-admin")
		kiosk := http.Header{"Authorization": {"Bearer " + pipe.kiosk}}
		for _, c := range []struct {
			who  string
			h    http.Header
			path string
			code int
		}{
			{"leadership", leader, "/api/export/alerts?format=csv&state=open", 200},
			{"leadership", leader, "/api/export/alerts?format=xlsx", 200},
			{"leadership", leader, "/api/export/devices?format=xlsx", 200},
			{"leadership", leader, "/api/export/readings?device=aq-chieng-le-01&format=csv", 200},
			{"leadership", leader, "/api/export/dead-letters?format=csv", 403},
			{"leadership", leader, "/api/admin/audit/export?format=csv", 403},
			{"leadership", leader, "/api/kpis/dossiers.on_time/breakdown?by=unit&format=xlsx", 200},
			{"leadership", leader, "/api/export/alerts?format=pdf", 400},
			{"kiosk", kiosk, "/api/export/devices?format=csv", 403},
			{"kiosk", kiosk, "/api/kpis/report?period=2021-H1&format=pdf", 403},
			{"admin", admin, "/api/export/dead-letters?format=xlsx", 200},
			{"admin", admin, "/api/admin/audit/export?format=csv&action=export", 200},
		} {
			code, hdr, b := get(t, c.h, c.path)
			if code != c.code {
				t.Errorf("%s GET %s: %d, want %d: %s", c.who, c.path, code, c.code, truncateBody(b))
				continue
			}
			if code != 200 {
				continue
			}
			if strings.Contains(c.path, "format=xlsx") {
				f, err := excelize.OpenReader(bytes.NewReader(b))
				if err != nil {
					t.Errorf("%s: not an XLSX file: %v", c.path, err)
				} else {
					f.Close()
				}
			} else if !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || len(reportRows(t, "csv", b)) < 1 {
				t.Errorf("%s: %s with %d bytes", c.path, hdr.Get("Content-Type"), len(b))
			}
		}
		eventually(t, 30*time.Second, "the exports are in the audit log", func() (bool, string) {
			evs, err := audit.NewReader(pipe.ch).Query(ctx, pipe.conn, audit.Filter{Action: "export", Since: time.Now().Add(-time.Hour)})
			if err != nil {
				return false, err.Error()
			}
			got := map[string]string{}
			for _, e := range evs {
				got[e.Actor+" "+e.Target] = e.Outcome
			}
			want := map[string]string{
				"e2e-report-leader kpi.report.2021-H1":        audit.OK,
				"e2e-report-leader alerts":                    audit.OK,
				"e2e-report-leader kpi.dossiers.on_time.unit": audit.OK,
				"e2e-report-leader dead_letters":              audit.Denied,
				"e2e-report-admin dead_letters":               audit.OK,
				"e2e-report-leader kpi.dossiers.late":         audit.OK,
				"e2e-report-leader readings.aq-chieng-le-01":  audit.OK,
				"e2e-report-admin audit_log":                  audit.OK,
			}
			var missing []string
			for k, v := range want {
				if got[k] != v {
					missing = append(missing, fmt.Sprintf("%s=%q (want %s)", k, got[k], v))
				}
			}
			return len(missing) == 0, strings.Join(missing, "; ")
		})
	})
}
