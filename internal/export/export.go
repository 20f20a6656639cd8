// Package export writes tables as CSV or XLSX, streamed: every table the
// dashboard shows (alerts, dead letters, devices, audit log, readings of a
// device, KPI breakdowns) is exported through Serve, which checks that the
// request has a principal, streams the rows to the response as they come
// (CSV flushed every FlushRows rows; XLSX through excelize's StreamWriter,
// which keeps at most a chunk of rows in memory and spills the rest to a
// temporary file), and records the export in the audit log (action
// "export", target the table, detail the format, filters and row count).
//
// Who may export which table is the access policy's (internal/auth/policy.go):
// a route under /api/export/… needs the permission of the table it shows.
package export

import (
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/sonla-ioc/ioc/internal/audit"
)

// Format of an export.
type Format string

const (
	CSV  Format = "csv"
	XLSX Format = "xlsx"
)

// FlushRows is how many CSV rows are written between two flushes to the
// client.
const FlushRows = 500

// ParseFormat reads a format name; empty means CSV.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "csv":
		return CSV, nil
	case "xlsx":
		return XLSX, nil
	}
	return "", fmt.Errorf("format %q: want csv or xlsx", s)
}

// ContentType is the MIME type of a format.
func (f Format) ContentType() string {
	if f == XLSX {
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
}

// Writer writes the rows of one table.
type Writer struct {
	format Format
	out    io.Writer
	csv    *csv.Writer
	flush  func()
	file   *excelize.File
	sw     *excelize.StreamWriter
	rows   int // data rows written
	line   int // sheet lines written, the header included
	cells  []string
}

// NewWriter starts a table on out with a header row. sheet names the
// XLSX worksheet (at most 31 characters).
func NewWriter(out io.Writer, f Format, sheet string, header []string) (*Writer, error) {
	w := &Writer{format: f, out: out}
	switch f {
	case CSV:
		// A byte-order mark, so that spreadsheet programs read UTF-8
		// (Vietnamese names) as such.
		if _, err := io.WriteString(out, "\ufeff"); err != nil {
			return nil, err
		}
		w.csv = csv.NewWriter(out)
		if fl, ok := out.(http.Flusher); ok {
			w.flush = fl.Flush
		}
	case XLSX:
		w.file = excelize.NewFile()
		if sheet == "" {
			sheet = "Sheet1"
		}
		if len([]rune(sheet)) > 31 {
			sheet = string([]rune(sheet)[:31])
		}
		if err := w.file.SetSheetName("Sheet1", sheet); err != nil {
			return nil, fmt.Errorf("naming the worksheet: %w", err)
		}
		sw, err := w.file.NewStreamWriter(sheet)
		if err != nil {
			return nil, fmt.Errorf("starting the worksheet: %w", err)
		}
		w.sw = sw
	default:
		return nil, fmt.Errorf("format %q: want csv or xlsx", f)
	}
	if err := w.write(toAny(header)); err != nil {
		return nil, err
	}
	w.rows = 0
	return w, nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Row writes one row. Cells may be strings, numbers, times, nil or
// pointers to numbers (nil: an empty cell).
func (w *Writer) Row(cells ...any) error { return w.write(cells) }

func (w *Writer) write(cells []any) error {
	for i, c := range cells {
		switch v := c.(type) {
		case *float64:
			if v == nil {
				cells[i] = nil
			} else {
				cells[i] = *v
			}
		case time.Time:
			if v.IsZero() {
				cells[i] = nil
			} else if w.format == CSV {
				cells[i] = v.Format(time.RFC3339)
			} else {
				// Excel has no zones: the city's wall-clock time.
				cells[i] = v.Format("2006-01-02 15:04:05")
			}
		}
	}
	w.rows++
	w.line++
	if w.format == XLSX {
		cell, err := excelize.CoordinatesToCellName(1, w.line)
		if err != nil {
			return err
		}
		if err := w.sw.SetRow(cell, cells); err != nil {
			return fmt.Errorf("writing row %d: %w", w.rows, err)
		}
		return nil
	}
	w.cells = w.cells[:0]
	for _, c := range cells {
		w.cells = append(w.cells, cellText(c))
	}
	if err := w.csv.Write(w.cells); err != nil {
		return fmt.Errorf("writing row %d: %w", w.rows, err)
	}
	if w.rows%FlushRows == 0 {
		w.csv.Flush()
		if err := w.csv.Error(); err != nil {
			return fmt.Errorf("writing row %d: %w", w.rows, err)
		}
		if w.flush != nil {
			w.flush()
		}
	}
	return nil
}

func cellText(c any) string {
	switch v := c.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case bool:
		if v {
			return "1"
		}
		return "0"
	}
	return fmt.Sprint(c)
}

// Rows is how many rows were written (the header aside).
func (w *Writer) Rows() int { return w.rows }

// Close ends the table: the rest of the CSV, or the XLSX file.
func (w *Writer) Close() error {
	if w.format == CSV {
		w.csv.Flush()
		return w.csv.Error()
	}
	defer w.file.Close()
	if err := w.sw.Flush(); err != nil {
		return fmt.Errorf("ending the worksheet: %w", err)
	}
	if _, err := w.file.WriteTo(w.out); err != nil {
		return fmt.Errorf("writing the workbook: %w", err)
	}
	return nil
}

// Request is an export asked over HTTP.
type Request struct {
	// Table names what is exported, for the audit log and the file name
	// ("alerts", "audit_log", "kpi.dossiers.on_time.unit").
	Table  string
	Sheet  string
	Header []string
	// Actor and Role are who asks (from the access policy's principal);
	// an empty actor is refused.
	Actor, Role string
	Remote      string
	Audit       audit.Sink
	Service     string
	Log         *slog.Logger
}

// Serve answers an export: format from ?format= (csv, default, or xlsx),
// the header, then the rows fill writes, streamed; the export is audited
// with the filters (the query string) and the row count. An error before
// the first row is answered as JSON; after, the transfer is cut (a client
// sees an incomplete file, never a silently short one that looks whole:
// XLSX is written at the end, and a CSV cut short lacks its last line).
func Serve(w http.ResponseWriter, r *http.Request, req Request, fill func(*Writer) error) {
	f, err := ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		jsonError(w, http.StatusBadRequest, "bad_format", err.Error())
		return
	}
	if req.Actor == "" {
		jsonError(w, http.StatusUnauthorized, "not_signed_in", "an export needs a signed-in user")
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(req.Table) + "-" + time.Now().Format("20060102-150405") + "." + string(f)
	w.Header().Set("Content-Type", f.ContentType())
	w.Header().Set("Content-Disposition", "attachment; filename=\""+name+"\"; filename*=UTF-8''"+url.PathEscape(name))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	start := time.Now()
	ew, err := NewWriter(w, f, req.Sheet, req.Header)
	if err == nil {
		err = fill(ew)
		if cerr := ew.Close(); err == nil {
			err = cerr
		}
	}
	outcome, reason, rows := audit.OK, "", 0
	if ew != nil {
		rows = ew.Rows()
	}
	if err != nil {
		outcome, reason = audit.Failed, truncate(err.Error(), 300)
	}
	if req.Audit != nil {
		filters := r.URL.Query()
		filters.Del("format")
		req.Audit.Record(audit.Event{Actor: req.Actor, Role: req.Role, Action: "export", Target: req.Table, Outcome: outcome,
			Reason: reason, Remote: req.Remote, UserAgent: r.UserAgent(), Service: req.Service,
			Detail: fmt.Sprintf("format=%s rows=%d took=%s filters=%s", f, rows, time.Since(start).Round(time.Millisecond), filters.Encode())})
	}
	if err != nil && req.Log != nil {
		req.Log.Warn("export failed", "table", req.Table, "format", f, "rows", rows, "err", err)
	}
	if err != nil {
		// Headers are gone: cut the connection so the client sees a
		// broken transfer rather than a short file.
		panic(http.ErrAbortHandler)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "{\"error\":%q,\"message\":%q}\n", code, msg)
}
