package export

import (
	"bytes"
	"encoding/csv"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/sonla-ioc/ioc/internal/audit"
)

type sink struct{ got []audit.Event }

func (s *sink) Record(e audit.Event) { s.got = append(s.got, e) }

// Both formats carry the same cells: strings with diacritics, numbers,
// empty pointers, booleans, times; the export is audited with its row
// count and filters.
func TestServeCSVAndXLSX(t *testing.T) {
	v := 95.80448065173115
	at := time.Date(2021, 6, 30, 17, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	for _, f := range []string{"csv", "xlsx"} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/api/export/x?format="+f+"&state=open", nil)
		s := &sink{}
		Serve(rec, r, Request{Table: "alerts", Sheet: "alerts", Header: []string{"name", "value", "none", "n", "ok", "at"},
			Actor: "lan", Role: "leadership", Audit: s, Log: slog.Default()}, func(w *Writer) error {
			for i := range 1200 {
				if err := w.Row("UBND phường Chiềng An", &v, (*float64)(nil), i, i%2 == 0, at); err != nil {
					return err
				}
			}
			return nil
		})
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", f, rec.Code, rec.Body)
		}
		var rows [][]string
		if f == "csv" {
			var err error
			rows, err = csv.NewReader(bytes.NewReader(bytes.TrimPrefix(rec.Body.Bytes(), []byte("\ufeff")))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
		} else {
			x, err := excelize.OpenReader(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			rows, err = x.GetRows("alerts", excelize.Options{RawCellValue: true})
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(rows) != 1201 {
			t.Fatalf("%s: %d rows, want 1201", f, len(rows))
		}
		// Excel keeps 15 significant digits.
		want := "UBND phường Chiềng An|95.80448065173115||1199|0"
		if f == "xlsx" {
			want = "UBND phường Chiềng An|95.8044806517311||1199|0"
		}
		if got := strings.Join(rows[1200][:5], "|"); got != want {
			t.Errorf("%s: last row %q, want %q", f, got, want)
		}
		if len(s.got) != 1 || s.got[0].Action != "export" || s.got[0].Outcome != audit.OK ||
			!strings.Contains(s.got[0].Detail, "rows=1200") || !strings.Contains(s.got[0].Detail, "state=open") {
			t.Errorf("%s: audit %+v", f, s.got)
		}
		if cd := rec.Header().Get("Content-Disposition"); !strings.Contains(cd, "alerts-") || !strings.HasSuffix(cd, "."+f) {
			t.Errorf("%s: Content-Disposition %q", f, cd)
		}
	}
}

func TestServeRefuses(t *testing.T) {
	for _, c := range []struct {
		url, actor string
		code       int
	}{
		{"/x?format=pdf", "lan", 400},
		{"/x", "", 401},
	} {
		rec := httptest.NewRecorder()
		Serve(rec, httptest.NewRequest(http.MethodGet, c.url, nil), Request{Table: "t", Actor: c.actor}, func(*Writer) error { return nil })
		if rec.Code != c.code {
			t.Errorf("%s as %q: %d, want %d", c.url, c.actor, rec.Code, c.code)
		}
	}
}
