// Package smtptest starts a real SMTP server for tests: Debian's
// python3-aiosmtpd (deploy/local/smtpd.py) with STARTTLS on a self-signed
// certificate made for the test and AUTH required, storing what it
// accepts in a Maildir the test reads.
package smtptest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/procout"
)

// Server is a running SMTP server.
type Server struct {
	Addr         string // 127.0.0.1:port
	CAFile       string // the server's certificate (PEM), to trust
	User         string
	PasswordFile string
	Maildir      string
}

// Python is the interpreter with Debian's python3-aiosmtpd.
const Python = "/usr/bin/python3"

// Start runs the server until the test ends. It fails the test when
// python3-aiosmtpd is missing (deploy/local/services.sh installs it).
func Start(t testing.TB) *Server {
	t.Helper()
	if err := exec.Command(Python, "-c", "import aiosmtpd").Run(); err != nil {
		t.Fatalf("python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd; deploy/local/services.sh up installs it): %v", err)
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "local", "smtpd.py")
	dir := t.TempDir()
	s := &Server{CAFile: filepath.Join(dir, "cert.pem"), User: "ioc-notify", PasswordFile: filepath.Join(dir, "password"),
		Maildir: filepath.Join(dir, "mail")}
	keyFile := filepath.Join(dir, "key.pem")
	if err := selfSigned(s.CAFile, keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.PasswordFile, []byte("mật-khẩu-smtp-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Python, script, "--cert", s.CAFile, "--key", keyFile, "--user", s.User,
		"--password-file", s.PasswordFile, "--maildir", s.Maildir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr procout.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", script, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "listening ") {
				line <- strings.TrimPrefix(l, "listening ")
			}
		}
		close(line)
	}()
	select {
	case addr, ok := <-line:
		if !ok {
			t.Fatalf("smtpd.py exited: %s", stderr.String())
		}
		s.Addr = addr
	case <-time.After(30 * time.Second):
		t.Fatalf("smtpd.py did not start within 30s: %s", stderr.String())
	}
	return s
}

// Messages are the messages the server stored, oldest first.
func (s *Server) Messages(t testing.TB) []*mail.Message {
	t.Helper()
	dir := filepath.Join(s.Maildir, "new")
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	type named struct {
		mod time.Time
		m   *mail.Message
	}
	var ms []named
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bufio.NewReader(f))
		if err != nil {
			f.Close()
			t.Fatalf("stored message %s: %v", e.Name(), err)
		}
		info, _ := e.Info()
		// The body is read now: the file closes below.
		body, _ := readAll(m)
		m.Body = strings.NewReader(body)
		f.Close()
		ms = append(ms, named{info.ModTime(), m})
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].mod.Before(ms[j].mod) })
	out := make([]*mail.Message, len(ms))
	for i := range ms {
		out[i] = ms[i].m
	}
	return out
}

func readAll(m *mail.Message) (string, error) {
	var b strings.Builder
	sc := bufio.NewScanner(m.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteString("\n")
	}
	return b.String(), sc.Err()
}

func selfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("writing the test key: %w", err)
	}
	return nil
}
