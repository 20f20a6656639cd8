package svcindex

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// MonthPeriod is the calendar month of t (city time).
func MonthPeriod(year int, month time.Month) Period {
	s := time.Date(year, month, 1, 0, 0, 0, 0, event.Location)
	return Period{Kind: Month, Key: s.Format("2006-01"), Start: s, End: s.AddDate(0, 1, 0)}
}

// QuarterPeriod is quarter q (1..4) of a year.
func QuarterPeriod(year, q int) Period {
	s := time.Date(year, time.Month(3*(q-1)+1), 1, 0, 0, 0, 0, event.Location)
	return Period{Kind: Quarter, Key: fmt.Sprintf("%d-Q%d", year, q), Start: s, End: s.AddDate(0, 3, 0)}
}

// YTDPeriod runs from 1 January to the end of month.
func YTDPeriod(year int, month time.Month) Period {
	return Period{Kind: YTD, Key: fmt.Sprintf("%d-YTD-%02d", year, int(month)),
		Start: time.Date(year, 1, 1, 0, 0, 0, 0, event.Location),
		End:   time.Date(year, month+1, 1, 0, 0, 0, 0, event.Location)}
}

var (
	monthKeyRE   = regexp.MustCompile(`^(\d{4})-(\d{2})$`)
	quarterKeyRE = regexp.MustCompile(`^(\d{4})-Q([1-4])$`)
	ytdKeyRE     = regexp.MustCompile(`^(\d{4})-YTD-(\d{2})$`)
)

// ParsePeriod reads a period key: "2026-11", "2026-Q4" or "2026-YTD-11".
func ParsePeriod(key string) (Period, error) {
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if m := monthKeyRE.FindStringSubmatch(key); m != nil && atoi(m[2]) >= 1 && atoi(m[2]) <= 12 {
		return MonthPeriod(atoi(m[1]), time.Month(atoi(m[2]))), nil
	}
	if m := quarterKeyRE.FindStringSubmatch(key); m != nil {
		return QuarterPeriod(atoi(m[1]), atoi(m[2])), nil
	}
	if m := ytdKeyRE.FindStringSubmatch(key); m != nil && atoi(m[2]) >= 1 && atoi(m[2]) <= 12 {
		return YTDPeriod(atoi(m[1]), time.Month(atoi(m[2]))), nil
	}
	return Period{}, fmt.Errorf("period %q is not YYYY-MM, YYYY-Qn or YYYY-YTD-MM", key)
}

// PeriodOf is the period of a kind that contains t.
func PeriodOf(kind PeriodKind, t time.Time) Period {
	t = t.In(event.Location)
	switch kind {
	case Quarter:
		return QuarterPeriod(t.Year(), (int(t.Month())-1)/3+1)
	case YTD:
		return YTDPeriod(t.Year(), t.Month())
	}
	return MonthPeriod(t.Year(), t.Month())
}
