package adminhttp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSSettingsValidate(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := selfSigned(t, dir, "a")
	for _, c := range []struct {
		cert, key, want string
	}{
		{cert, key, ""},
		{cert, "", "set both"},
		{"", key, "set both"},
		{cert, filepath.Join(dir, "missing.key"), "tls_key_file"},
		{key, cert, "tls_cert_file"},
	} {
		cfg := Config{Listen: "127.0.0.1:0", Tokens: "igate " + tokA, TLSCertFile: c.cert, TLSKeyFile: c.key}
		cfg.Defaults()
		err := cfg.Validate()
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("cert %q key %q: %v, want %q", c.cert, c.key, err, c.want)
		}
	}
}

// The endpoint serves HTTPS with the configured certificate (a real
// client that trusts it posts an event, which Kafka acknowledges); a
// plain-HTTP client and one that does not trust the certificate get no
// answer from the handler; a renewed certificate is served without a
// restart; and every phase of a request has a deadline.
func TestServesTLS(t *testing.T) {
	brokers := os.Getenv("IOC_KAFKA_BROKERS")
	if brokers == "" {
		t.Skip("IOC_KAFKA_BROKERS is not set: this test needs the local Kafka (eval \"$(deploy/local/services.sh env)\")")
	}
	kc := kafkaconn.Config{Brokers: strings.Split(brokers, ","), Partitions: 1, TopicPrefix: fmt.Sprintf("httptls%d.", time.Now().UnixNano()%1e10)}
	kc.Defaults()
	t.Cleanup(func() {
		_, _ = kc.DeleteTopicsWithPrefix(context.Background())
	})
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir, "ingest")
	s, err := New(Config{Listen: "127.0.0.1:0", Tokens: "igate " + tokA, TLSCertFile: certFile, TLSKeyFile: keyFile}, kc,
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testpoll.Eventually(t, 60*time.Second, "endpoint listening", func() (bool, string) { return s.Ready(), "" })
	addr := s.Addr().String()

	post := func(c *http.Client, scheme string) (int, string, error) {
		body := `[{"day":"2021-06-29","visits":2710,"interactions":205}]`
		req, _ := http.NewRequest("POST", scheme+"://"+addr+"/v1/events/portal", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokA)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	trusting := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	if code, body, err := post(trusting, "https"); err != nil || code != http.StatusAccepted {
		t.Fatalf("HTTPS post: %d %s %v, want 202", code, body, err)
	}
	if code, body, err := post(&http.Client{Timeout: 10 * time.Second}, "http"); err == nil && code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS endpoint: %d %s", code, body)
	}
	if _, _, err := post(&http.Client{Timeout: 10 * time.Second}, "https"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client that does not trust the certificate: %v, want a certificate error", err)
	}
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{MaxVersion: tls.VersionTLS11, RootCAs: pool}}}
	if _, _, err := post(old, "https"); err == nil {
		t.Error("TLS 1.1 accepted")
	}
	// Renewal: a new pair in the same files is served on the next handshake.
	_, _, pool2 := selfSigned(t, dir, "ingest")
	later := time.Now().Add(time.Minute) // a distinct modification time even on coarse file systems
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	renewed := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool2, MinVersion: tls.VersionTLS12}}}
	if code, body, err := post(renewed, "https"); err != nil || code != http.StatusAccepted {
		t.Errorf("after renewal: %d %s %v, want 202", code, body, err)
	}
	srv := s.server()
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 || srv.WriteTimeout <= 0 || srv.TLSConfig.MinVersion < tls.VersionTLS12 {
		t.Errorf("server deadlines: header %s read %s idle %s write %s", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout, srv.WriteTimeout)
	}
}
