package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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

// The ops endpoint cuts a client that sends its request too slowly and a
// kept-alive connection left idle (ops.read_timeout, ops.idle_timeout).
func TestOpsServerTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := opsServer(OpsConfig{ReadTimeout: time.Second, IdleTimeout: time.Second}, "", opsHandler(prometheus.NewRegistry(), nil))
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	closed := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second)) // far beyond the 1 s timeouts
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
	for name, req := range map[string]string{
		"a request body that never ends":                     "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx",
		"a kept-alive connection left idle after its answer": "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"a request header that never ends":                   "GET /metrics HTTP/1.1\r\nHost: x\r\n",
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, req)
		if !closed(c) {
			t.Errorf("%s: the connection is still open", name)
		}
		c.Close()
	}
	c := &OpsConfig{}
	c.Defaults()
	if c.ReadTimeout != 10*time.Second || c.IdleTimeout != 2*time.Minute || c.Validate() != nil {
		t.Errorf("ops defaults: %+v", c)
	}
}
