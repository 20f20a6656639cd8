package dashboard

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonla-ioc/ioc/internal/auth"
	"github.com/sonla-ioc/ioc/internal/chconn"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// A dashboard with a registry file knows the registry before it serves
// anything: on a first start, stream has not yet loaded it into
// ClickHouse, and the wall used to list every registered device that
// reported as unregistered until it read the registry again a minute later.
func TestWallKnowsTheRegistryBeforeServing(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", Auth: auth.Config{Store: "memory", DevOpen: true},
		Wall: WallConfig{RegistryFile: filepath.Join("..", "deploy", "devices.csv")}},
		kafkaconn.Config{}, chconn.Config{Addr: []string{"127.0.0.1:1"}}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Registry string `json:"registry"`
		Loading  bool   `json:"registry_loading"`
		Devices  int    `json:"devices"`
	}
	raw, _ := s.wall.wall.get("meta")
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Devices != 65 || meta.Loading || meta.Registry == "" {
		t.Fatalf("meta before serving: %+v, want the 65 devices of deploy/devices.csv", meta)
	}
	now := time.Now().UnixMilli()
	s.wall.reading(&event.Reading{Partner: "viettel", DeviceID: "water-namla-1", Metric: "level", Kind: event.KindNumber, Value: 1.2,
		ObservedMs: now, ReceivedMs: now, Registered: true})
	s.wall.flush()
	if _, ok := s.wall.wall.get("u/water-namla-1"); ok {
		t.Error("a registered device is listed as unregistered")
	}
	if _, ok := s.wall.wall.get("d/water-namla-1"); !ok {
		t.Error("the registered device's reading is not on the wall")
	}
}

// Without any registry the wall says so (meta.registry_loading) instead of
// calling every device unregistered.
func TestWallSaysWhenTheRegistryIsLoading(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0", Auth: auth.Config{Store: "memory", DevOpen: true}},
		kafkaconn.Config{}, chconn.Config{Addr: []string{"127.0.0.1:1"}}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	raw, _ := s.wall.wall.get("meta")
	_ = json.Unmarshal(raw, &meta)
	if meta["registry_loading"] != true {
		t.Errorf("meta without a registry: %v, want registry_loading true", meta)
	}
}

// The partner cards count online devices as the map does: a device that
// reported within three intervals is online even before the monitor's
// first status (the cards said 0/35 while the map showed 62 normal).
func TestPartnerCardsCountAsTheMap(t *testing.T) {
	s, _ := v2Server(t, WallConfig{})
	now := time.Now()
	read := func(dev string, at time.Time) {
		s.wall.reading(&event.Reading{Partner: "viettel", DeviceID: dev, Metric: "level", Kind: event.KindNumber, Value: 1,
			ObservedMs: at.UnixMilli(), ReceivedMs: at.UnixMilli(), Registered: true})
	}
	read("aq-1", now)                         // no monitor status yet: the map shows it normal
	read("water-1", now.Add(-10*time.Minute)) // older than 3 × 60 s: the map shows it stale
	s.wall.tick()
	f := s.wall.feeds["viettel"]
	if f.Online != 1 || f.Stale != 1 || f.Total != 2 {
		t.Errorf("viettel card: online %d, stale %d of %d; the map shows 1 normal, 1 stale of 2", f.Online, f.Stale, f.Total)
	}
	s.wall.status(&event.DeviceStatus{Kind: event.SubjectDevice, DeviceID: "aq-1", Partner: "viettel", Status: event.StatusOffline, AtMs: now.UnixMilli()})
	s.wall.tick()
	if f.Online != 0 || f.Offline != 1 {
		t.Errorf("after the monitor says offline: online %d, offline %d", f.Online, f.Offline)
	}
}
