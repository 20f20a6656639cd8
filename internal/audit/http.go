package audit

import (
	"net"
	"net/http"
	"strings"
)

// Refusals wraps an HTTP endpoint that authenticates its callers itself
// (the ingest role's endpoint for administrative systems, with a bearer
// token per system): every answer 401 or 403 is recorded as denied, 429 as
// limited, with the method, path, address and user agent. Accepted
// requests are not recorded (the endpoint's own metrics count them).
func Refusals(sink Sink, service string, next http.Handler) http.Handler {
	if sink == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		outcome, reason := "", ""
		switch sw.status {
		case http.StatusUnauthorized:
			outcome, reason = Denied, "no_token"
			if r.Header.Get("Authorization") != "" {
				outcome, reason = Denied, "bad_token"
			}
		case http.StatusForbidden:
			outcome, reason = Denied, "not_allowed"
		case http.StatusTooManyRequests:
			outcome, reason = Limited, "too_many_requests"
		default:
			return
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		sink.Record(Event{Actor: "anonymous", Role: "system", Action: "system.post", Target: r.Method + " " + r.URL.Path,
			Outcome: outcome, Reason: reason, Remote: host, UserAgent: r.UserAgent(), Service: service,
			Detail: strings.TrimSpace(sw.Header().Get("WWW-Authenticate"))})
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
