package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestPprofOnlyWhenAskedFor(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int
	}{{"", http.StatusNotFound}, {"1", http.StatusOK}} {
		t.Setenv("IOC_PPROF", tc.env)
		rec := httptest.NewRecorder()
		opsHandler(prometheus.NewRegistry(), nil).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/", nil))
		if rec.Code != tc.want {
			t.Errorf("IOC_PPROF=%q: /debug/pprof/ answered %d, want %d", tc.env, rec.Code, tc.want)
		}
	}
}
