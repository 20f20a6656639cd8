package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
)

// session is what the signed session cookie carries. It holds no secret:
// it is signed (HMAC-SHA-256), not encrypted.
type session struct {
	User  string `json:"u"`
	Role  Role   `json:"r"`
	Kind  string `json:"k"` // "local" or "oidc"
	Epoch uint32 `json:"e"`
	SID   string `json:"sid"`
	IAt   int64  `json:"iat"`  // unix seconds
	Exp   int64  `json:"exp"`  // absolute end
	Seen  int64  `json:"seen"` // last use, for the idle timeout
}

var b64 = base64.RawURLEncoding

// signer signs and checks session cookies and CSRF tokens.
type signer struct{ key []byte }

func (s signer) mac(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

func (s signer) seal(v session) string {
	body, _ := json.Marshal(v)
	return "v1." + b64.EncodeToString(body) + "." + b64.EncodeToString(s.mac("session", body))
}

var errBadToken = errors.New("malformed or forged session cookie")

func (s signer) open(tok string) (session, error) {
	var v session
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != "v1" || len(tok) > 2048 {
		return v, errBadToken
	}
	body, err1 := b64.DecodeString(parts[1])
	sig, err2 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || !hmac.Equal(sig, s.mac("session", body)) {
		return v, errBadToken
	}
	if err := json.Unmarshal(body, &v); err != nil || v.User == "" || v.SID == "" {
		return v, errBadToken
	}
	return v, nil
}

// csrf is the anti-CSRF token of a session: derived from the session id, so
// it needs no storage, and unknown to another site (it is read from
// /api/me, which a foreign page cannot read).
func (s signer) csrf(sid string) string {
	return b64.EncodeToString(s.mac("csrf", []byte(sid)))
}

func (s signer) checkCSRF(sid, got string) bool {
	want := s.csrf(sid)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return b64.EncodeToString(b)
}

// Kiosk tokens look like ik_<id>.<secret>: the id finds the record, the
// secret proves possession. 24 random bytes of secret: a hash of it (no
// salt, no stretching) is enough, since it cannot be guessed.
const kioskPrefix = "ik_"

func newKioskToken() (id, token, secretHash string) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	id = hex.EncodeToString(b)
	secret := randomID(24)
	return id, kioskPrefix + id + "." + secret, hashSecret(secret)
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// parseKioskToken splits a kiosk token; ok is false if it is not one.
func parseKioskToken(tok string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(tok, kioskPrefix)
	if !found || len(tok) > 256 {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, ".")
	return id, secret, ok && id != "" && secret != ""
}

func secretMatches(secret, hash string) bool {
	got := hashSecret(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}

func hmacEqual(a, b []byte) bool { return hmac.Equal(a, b) }
