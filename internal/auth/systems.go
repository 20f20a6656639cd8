package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/sonla-ioc/ioc/internal/audit"
)

// SystemTokens authenticates the city's administrative systems that post
// events over HTTP (the ingest role's admin-event endpoint): one bearer
// token per system. The file lists "system-name sha256-hex-of-token" per
// line ('#' comments); the tokens themselves are handed to each system and
// never stored here. `ioc system-token NAME` makes a token and its line.
type SystemTokens struct {
	hashes map[string][]byte // system → sha256(token)
	audit  audit.Sink
}

// LoadSystemTokens reads a token file.
func LoadSystemTokens(path string, sink audit.Sink) (*SystemTokens, error) {
	st := &SystemTokens{hashes: map[string][]byte{}, audit: sink}
	if path == "" {
		return st, nil // nobody can post
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the system token file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		h, err := hex.DecodeString(fieldAt(fields, 1))
		if len(fields) != 2 || err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("system token file %s line %d: want \"system-name sha256-hex\"", path, n)
		}
		st.hashes[fields[0]] = h
	}
	return st, sc.Err()
}

func fieldAt(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// NewSystemToken returns a fresh token for a system and the line of the
// token file that accepts it.
func NewSystemToken(system string) (token, line string) {
	token = "ist_" + randomID(32)
	h := sha256.Sum256([]byte(token))
	return token, system + " " + hex.EncodeToString(h[:])
}

// Identify returns the system whose token the request carries.
func (s *SystemTokens) Identify(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 8 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[7:])))
	found := ""
	for name, want := range s.hashes { // every entry, in constant time each
		if subtle.ConstantTimeCompare(sum[:], want) == 1 {
			found = name
		}
	}
	return found, found != ""
}

// Require wraps an admin-system endpoint: a request without a valid token
// is refused with 401 and audited; an accepted one carries the system as
// its principal (FromContext), so the handler can check what the system
// may post. Security headers and a body limit of maxBody are applied too.
func (s *SystemTokens) Require(maxBody int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		w.Header().Set("Cache-Control", "no-store")
		if r.ContentLength > maxBody {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		system, ok := s.Identify(r)
		if !ok {
			reason := "no_token"
			if r.Header.Get("Authorization") != "" {
				reason = "bad_token"
			}
			if s.audit != nil {
				s.audit.Record(audit.Event{Actor: "anonymous", Role: string(RoleSystem), Action: "system.post", Target: r.Method + " " + r.URL.Path,
					Outcome: audit.Denied, Reason: reason, Remote: remoteHost(r), UserAgent: r.UserAgent(), Service: "ingest"})
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="ioc"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized", "reason": reason})
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), Principal{Kind: "system", Name: "system:" + system, Role: RoleSystem})))
	})
}

func remoteHost(r *http.Request) string {
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i > 0 {
		return strings.Trim(r.RemoteAddr[:i], "[]")
	}
	return r.RemoteAddr
}
