package e2e

// Partner isolation through a real Mosquitto running the shipped
// deploy/mosquitto configuration (accounts made by the shipped
// make-passwords.sh, the shipped ACL used as it is, its TLS listener with a
// certificate made here), with a real ingest role behind it writing to this
// run's Kafka topics and ClickHouse. The shared broker on 1883 is never
// touched: this test starts its own on free ports and stops it.

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
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sonla-ioc/ioc/ingest"
	"github.com/sonla-ioc/ioc/internal/procout"
)

// broker is a Mosquitto of this test.
type broker struct {
	plain, tls int    // listener ports (1883 and 8883 of the shipped file)
	secrets    string // passwd and <user>.password
	caPool     *x509.CertPool
	logFile    string
}

func (b *broker) password(t *testing.T, user string) string {
	t.Helper()
	p, err := os.ReadFile(filepath.Join(b.secrets, user+".password"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(p))
}

func (b *broker) log(t *testing.T) string {
	t.Helper()
	l, _ := os.ReadFile(b.logFile)
	return string(l)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startBroker runs mosquitto with deploy/mosquitto/mosquitto.conf, its
// paths and ports rewritten to this test's, plus debug logging (which
// records every publish the ACL refuses).
func startBroker(t *testing.T) *broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr != nil {
			t.Fatal("mosquitto not found: this test runs the shipped broker configuration (Debian: apt-get install mosquitto; make test installs it)")
		}
		bin = "/usr/sbin/mosquitto"
	}
	dir := t.TempDir()
	repo, _ := filepath.Abs("..")
	b := &broker{plain: freePort(t), tls: freePort(t), secrets: filepath.Join(dir, "secrets"), logFile: filepath.Join(dir, "mosquitto.log")}
	if out, err := exec.Command(filepath.Join(repo, "deploy/mosquitto/make-passwords.sh"), b.secrets).CombinedOutput(); err != nil {
		t.Fatalf("deploy/mosquitto/make-passwords.sh: %v\n%s", err, out)
	}
	tlsDir := filepath.Join(dir, "tls")
	b.caPool = makeCerts(t, tlsDir)
	src, err := os.ReadFile(filepath.Join(repo, "deploy/mosquitto/mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer(
		"/mosquitto/config/", filepath.Join(repo, "deploy/mosquitto")+"/",
		"/mosquitto/secrets/", b.secrets+"/",
		"/mosquitto/tls/", tlsDir+"/",
		"/mosquitto/data/", filepath.Join(dir, "data")+"/",
		"listener 1880 127.0.0.1", fmt.Sprintf("listener %d 127.0.0.1", freePort(t)),
		"listener 1883\n", fmt.Sprintf("listener %d 127.0.0.1\n", b.plain),
		"listener 8883\n", fmt.Sprintf("listener %d 127.0.0.1\n", b.tls),
		"log_dest stdout", "log_dest file "+b.logFile+"\nlog_type debug",
	).Replace(string(src))
	if os.Geteuid() == 0 {
		conf = "user root\n" + conf // mosquitto would switch to its own user, who cannot read the test's files
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confFile)
	var stderr procout.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the broker this test started, by its pid
		_ = cmd.Wait()
	})
	eventually(t, 15*time.Second, "the test broker listens", func() (bool, string) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.tls))
		if err == nil {
			c.Close()
		}
		return err == nil, stderr.String() + b.log(t)
	})
	return b
}

// makeCerts writes a CA and a server certificate for 127.0.0.1.
func makeCerts(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ioc e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for name, block := range map[string]*pem.Block{
		"server.crt": {Type: "CERTIFICATE", Bytes: der},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
		"ca.crt":     {Type: "CERTIFICATE", Bytes: caDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// connect opens a clean MQTT session under a client id of its own; err is
// the broker's answer.
func (b *broker) connect(t *testing.T, url, user, password string) (mqtt.Client, error) {
	t.Helper()
	return b.connectAs(t, url, fmt.Sprintf("e2e-%s-%s-%d", user, pipe.run, time.Now().UnixNano()), user, password, true)
}

// runIngest runs an ingest role with cfg on the test's Kafka until stop,
// which waits for it to end.
func runIngest(t *testing.T, cfg ingest.Config) (in *ingest.Service, stop func()) {
	t.Helper()
	in, err := ingest.New(cfg, pipe.kafka, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = in.Run(ctx) }()
	return in, func() { cancel(); wg.Wait() }
}

func pub(t *testing.T, c mqtt.Client, topic, body string) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, body); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publishing to %s: %v", topic, tok.Error())
	}
}

func TestPartnerIsolationThroughMosquitto(t *testing.T) {
	b := startBroker(t)
	plainURL := fmt.Sprintf("tcp://127.0.0.1:%d", b.plain)
	tlsURL := fmt.Sprintf("ssl://127.0.0.1:%d", b.tls)

	// The ingest role behind this broker, under its own account.
	in, stop := runIngest(t, ingest.Config{
		MQTT: ingest.MQTTConfig{URL: plainURL, ClientID: "e2e-acl-ingest-" + pipe.run, Username: "ioc-ingest",
			Password: b.password(t, "ioc-ingest")},
		RegistryFile: "../deploy/devices.csv",
	})
	t.Cleanup(stop)
	eventually(t, 30*time.Second, "ingest connected to the test broker", func() (bool, string) { return in.Ready(), "" })

	// No account, or a wrong password: no connection at all.
	if _, err := b.connect(t, plainURL, "", ""); err == nil || !strings.Contains(strings.ToLower(err.Error()), "not authorized") {
		t.Errorf("anonymous connection: %v, want not authorized", err)
	}
	if _, err := b.connect(t, plainURL, "vnpt", "not-the-password"); err == nil || !strings.Contains(strings.ToLower(err.Error()), "not authorized") {
		t.Errorf("wrong password: %v, want not authorized", err)
	}
	if !strings.Contains(b.log(t), "not authorised") {
		t.Error("the broker's log does not record the refused sign-ins")
	}

	vnpt, err := b.connect(t, tlsURL, "vnpt", b.password(t, "vnpt"))
	if err != nil {
		t.Fatalf("vnpt over TLS: %v", err)
	}
	ingestAsPublisher, err := b.connect(t, plainURL, "ioc-ingest", b.password(t, "ioc-ingest"))
	if err != nil {
		t.Fatalf("ioc-ingest: %v", err)
	}
	metric := "acl_" + pipe.run
	// 1. vnpt publishing under viettel's topic: the ACL drops it at the broker.
	foreign := "sensors/viettel/aq-acl-" + pipe.run
	pub(t, vnpt, foreign, fmt.Sprintf(`[{"n":%q,"v":1}]`, metric))
	// 2. The intake account may read, never publish.
	pub(t, ingestAsPublisher, "sensors/vnpt/aq-acl-ingest-"+pipe.run, fmt.Sprintf(`[{"n":%q,"v":2}]`, metric))
	// 3. vnpt under its own topic but as viettel's registered device: ingest refuses it.
	spoofed := "sensors/vnpt/aq-chieng-le"
	pub(t, vnpt, spoofed, fmt.Sprintf(`[{"n":%q,"v":3}]`, metric))
	// 4. What is allowed: vnpt as itself, and viettel as its own device, over TLS.
	pub(t, vnpt, "sensors/vnpt/aq-acl-own-"+pipe.run, fmt.Sprintf(`[{"n":%q,"v":4}]`, metric))
	viettel, err := b.connect(t, tlsURL, "viettel", b.password(t, "viettel"))
	if err != nil {
		t.Fatalf("viettel over TLS: %v", err)
	}
	pub(t, viettel, "sensors/viettel/aq-chieng-le", fmt.Sprintf(`[{"n":%q,"v":5}]`, metric))

	eventually(t, 30*time.Second, "the allowed readings are stored", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE metric = ? AND value IN (4, 5)", metric)
		return n == 2, fmt.Sprintf("%d rows", n)
	})
	eventually(t, 30*time.Second, "the spoofed device is dead-lettered as partner_mismatch", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.dead_letters WHERE reason = 'partner_mismatch' AND source_topic = ? AND position(raw, ?) > 0", spoofed, metric)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	// The allowed readings came after the refused ones on the same
	// connections, so by now the refused ones would have arrived too.
	if n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE metric = ? AND value IN (1, 2, 3)", metric); n != 0 {
		t.Errorf("%d refused readings were stored", n)
	}
	if n := count(t, "SELECT count() FROM {db}.dead_letters WHERE position(raw, ?) > 0 AND source_topic != ?", metric, spoofed); n != 0 {
		t.Errorf("%d refused messages reached ingest at all", n)
	}
	if n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE metric = ? AND value = 5 AND registered = 1 AND ward = 'Phường Chiềng Lề'", metric); n != 1 {
		t.Errorf("viettel's own device: %d registered rows, want 1", n)
	}
	log := b.log(t)
	for _, topic := range []string{foreign, "sensors/vnpt/aq-acl-ingest-" + pipe.run} {
		if !strings.Contains(log, "Denied PUBLISH") || !strings.Contains(log, "'"+topic+"'") {
			t.Errorf("the broker's log does not record the refused publish to %s", topic)
		}
	}
}

// connectAs opens an MQTT session with a chosen client id (clean or
// persistent); err is the broker's answer.
func (b *broker) connectAs(t *testing.T, url, clientID, user, password string, clean bool) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).
		SetUsername(user).SetPassword(password).SetCleanSession(clean).SetConnectTimeout(10 * time.Second).
		SetTLSConfig(&tls.Config{RootCAs: b.caPool, MinVersion: tls.VersionTLS12}).SetAutoReconnect(false)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

// A partner who connects with the ingest role's client id can neither
// take over its session nor disconnect it: on the partner listener (8883)
// the broker names every session after its account
// (use_username_as_clientid), and the intake listener (1883) does not
// know partner accounts at all (passwd-intake). Ingest stays connected,
// subscribed, and keeps receiving what partners publish.
func TestPartnerCannotTakeIngestSession(t *testing.T) {
	b := startBroker(t)
	plainURL := fmt.Sprintf("tcp://127.0.0.1:%d", b.plain)
	tlsURL := fmt.Sprintf("ssl://127.0.0.1:%d", b.tls)
	ingestID := "ioc-ingest-" + pipe.run
	in, stop := runIngest(t, ingest.Config{
		MQTT: ingest.MQTTConfig{URL: plainURL, ClientID: ingestID, Username: "ioc-ingest",
			Password: b.password(t, "ioc-ingest")},
		RegistryFile: "../deploy/devices.csv",
	})
	t.Cleanup(stop)
	eventually(t, 30*time.Second, "ingest connected to the test broker", func() (bool, string) { return in.Ready(), "" })

	// On the intake listener, a partner account does not exist.
	for _, clean := range []bool{true, false} {
		if _, err := b.connectAs(t, plainURL, ingestID, "vnpt", b.password(t, "vnpt"), clean); err == nil ||
			!strings.Contains(strings.ToLower(err.Error()), "not authorized") {
			t.Errorf("vnpt as %s on the intake listener (clean %v): %v, want not authorized", ingestID, clean, err)
		}
	}
	// On the partner listener, the id it sends is replaced by its account.
	var thief mqtt.Client
	for _, clean := range []bool{false, true} {
		c, err := b.connectAs(t, tlsURL, ingestID, "vnpt", b.password(t, "vnpt"), clean)
		if err != nil {
			t.Fatalf("vnpt on the partner listener: %v", err)
		}
		thief = c
	}
	log := b.log(t)
	if strings.Contains(log, "Client "+ingestID+" already connected") || strings.Contains(log, "Client "+ingestID+" disconnected") {
		t.Errorf("a partner displaced ingest's session %s:\n%s", ingestID, log)
	}
	if !strings.Contains(log, "as vnpt (") {
		t.Errorf("the broker's log does not show the partner's session named after its account:\n%s", log)
	}
	if !in.Ready() {
		t.Error("ingest lost its connection")
	}
	// Ingest still holds its subscription: what the partner publishes is
	// stored.
	metric := "session_" + pipe.run
	pub(t, thief, "sensors/vnpt/aq-session-"+pipe.run, fmt.Sprintf(`[{"n":%q,"v":7}]`, metric))
	eventually(t, 30*time.Second, "the partner's reading reaches ClickHouse through ingest's session", func() (bool, string) {
		n := count(t, "SELECT count() FROM {db}.sensor_readings WHERE metric = ?", metric)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	if strings.Contains(b.log(t), "Client "+ingestID+" already connected") {
		t.Error("ingest's session was taken over")
	}
}
