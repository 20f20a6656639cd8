package report

import (
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

func TestParsePeriod(t *testing.T) {
	for _, c := range []struct {
		in, from, end, vi, en string
	}{
		{"2021-H1", "2021-01-01", "2021-06-30T23:59:59.999", "6 tháng đầu năm 2021", "first half of 2021"},
		{"2021-H2", "2021-07-01", "2021-12-31T23:59:59.999", "6 tháng cuối năm 2021", "second half of 2021"},
		{"2021-Q2", "2021-04-01", "2021-06-30T23:59:59.999", "quý II năm 2021", "Q2 2021"},
		{"2021-06", "2021-06-01", "2021-06-30T23:59:59.999", "tháng 06 năm 2021", "June 2021"},
		{"2024-02", "2024-02-01", "2024-02-29T23:59:59.999", "tháng 02 năm 2024", "February 2024"},
		{"2021", "2021-01-01", "2021-12-31T23:59:59.999", "năm 2021", "year 2021"},
	} {
		p, err := ParsePeriod(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if got := p.From.Format(time.DateOnly); got != c.from {
			t.Errorf("%s from %s, want %s", c.in, got, c.from)
		}
		if got := p.End.Format("2006-01-02T15:04:05.000"); got != c.end || p.End.Location() != event.Location {
			t.Errorf("%s end %s, want %s city time", c.in, got, c.end)
		}
		if p.Title("vi") != c.vi || p.Title("en") != c.en {
			t.Errorf("%s titles %q, %q", c.in, p.Title("vi"), p.Title("en"))
		}
	}
	for _, bad := range []string{"", "2021-13", "2021-Q5", "2021-H3", "21-06", "2021-6", "1999", "2021-06-01"} {
		if _, err := ParsePeriod(bad); err == nil || !strings.Contains(err.Error(), "period") {
			t.Errorf("%q: err %v, want a period error", bad, err)
		}
	}
}

func TestDue(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, event.Location)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		now   string
		delay time.Duration
		want  string
	}{
		{"2021-07-02 08:00", 24 * time.Hour, "2021-06 2021-Q2 2021-H1 2020"},
		// A day's delay: on 1 July at 08:00 June is not due yet.
		{"2021-07-01 08:00", 24 * time.Hour, "2021-05 2021-Q1 2020-H2 2020"},
		{"2021-01-05 00:00", 0, "2020-12 2020-Q4 2020-H2 2020"},
		{"2021-04-01 00:00", 0, "2021-03 2021-Q1 2020-H2 2020"},
		{"2021-12-31 23:59", 0, "2021-11 2021-Q3 2021-H1 2020"},
	} {
		got := strings.Join(Due(at(c.now), c.delay, true, true, true, true), " ")
		if got != c.want {
			t.Errorf("due at %s (delay %s): %s, want %s", c.now, c.delay, got, c.want)
		}
	}
	if got := Due(at("2021-07-02 08:00"), 0, false, true, false, false); len(got) != 1 || got[0] != "2021-Q2" {
		t.Errorf("quarterly only: %v", got)
	}
}

func TestNumberFormat(t *testing.T) {
	for _, c := range []struct {
		v      float64
		digits int
		lang   string
		want   string
	}{
		{194_700_000_000, 0, "vi", "194.700.000.000"},
		{194_700_000_000, 0, "en", "194,700,000,000"},
		{95.80448, 1, "vi", "95,8"},
		{-3.26, 1, "en", "−3.3"},
		{-0.01, 1, "en", "0.0"},
		{425021, 0, "vi", "425.021"},
	} {
		if got := num(c.v, c.digits, c.lang); got != c.want {
			t.Errorf("num(%v, %d, %s) = %q, want %q", c.v, c.digits, c.lang, got, c.want)
		}
	}
}
