package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/notify"
)

// `make run` (ioc run -simulate) plays the H1-2021 scenario unless told
// not to, and knows the wall's registry from the ingest's file.
func TestRunSimulateDefaults(t *testing.T) {
	clearEnv(t)
	cfg, err := loadConfig("../../deploy/ioc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"": "h1-2021", "off": "", "none": "", "h1-2021": "h1-2021"} {
		if got := runScenarioName(flag, cfg); got != want {
			t.Errorf("-scenario %q: plays %q, want %q", flag, got, want)
		}
	}
	if cfg.Dashboard.Wall.RegistryFile != cfg.Ingest.RegistryFile || cfg.Ingest.RegistryFile == "" {
		t.Errorf("dashboard.wall.registry_file %q, want ingest's %q", cfg.Dashboard.Wall.RegistryFile, cfg.Ingest.RegistryFile)
	}
	off := false
	cfg.Feeds.Enabled = &off
	if got := runScenarioName("", cfg); got != "" {
		t.Errorf("feeds disabled: plays %q, want nothing", got)
	}
	cfg.Simulate.Backfill = defaultRunBackfill
	if err := checkBackfill(cfg); err != nil {
		t.Errorf("the default backfill: %v", err)
	}
	cfg.Simulate.Backfill = cfg.Ingest.MaxPast
	if err := checkBackfill(cfg); err == nil || !strings.Contains(err.Error(), "ingest.max_past") {
		t.Errorf("a backfill of ingest.max_past: %v, want a refusal naming ingest.max_past", err)
	}
	cfg.Simulate.Backfill = time.Hour
	if err := checkBackfill(cfg); err != nil {
		t.Error(err)
	}
}

// `make run` starts the notifier with the shipped configuration, and it
// sends nothing: its example channel is disabled (and its secret file
// absent, which a disabled channel does not need).
func TestRunStartsTheNotifierSendingNothing(t *testing.T) {
	clearEnv(t)
	cfg, err := loadConfig("../../deploy/ioc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Notify.On() || len(cfg.Notify.Channels) == 0 {
		t.Fatalf("notify in deploy/ioc.yaml: on %v, %d channels", cfg.Notify.On(), len(cfg.Notify.Channels))
	}
	nt, err := notify.New(cfg.Notify, cfg.Kafka, cfg.ClickHouse, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch := nt.Channels(); len(ch) != 0 {
		t.Errorf("make run would send to %v", ch)
	}
}
