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
		sw := NewStatusWriter(w)
		next.ServeHTTP(sw, r)
		outcome, reason := "", ""
		switch sw.Status {
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

// StatusWriter records the status an http.Handler answered with (200 if
// it wrote a body without a header), for the audit log.
type StatusWriter struct {
	http.ResponseWriter
	Status int
	wrote  bool
}

// NewStatusWriter wraps w; Status starts at 200.
func NewStatusWriter(w http.ResponseWriter) *StatusWriter {
	return &StatusWriter{ResponseWriter: w, Status: http.StatusOK}
}

func (s *StatusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.Status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
