// Package registry loads the declared device registry (deploy/devices.csv):
// which devices exist, which partner runs them, where they stand and how
// often they report.
package registry

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Device is one declared device.
type Device struct {
	ID       string
	Partner  string
	Type     string // air_quality, water_level, rainfall, traffic, streetlight
	Ward     string // Vietnamese name of the ward or commune
	Name     string
	Lat, Lon float64
	Interval time.Duration // expected reporting interval
	// Alarms are the device's own alarm levels per rule, Maintenance its
	// maintenance windows, Version the time of its newest change (unix
	// ms; 0 for a device only the CSV file declares). Set by records of
	// the live registry (record.go).
	Alarms      []Alarm
	Maintenance []Window
	Version     int64
}

// Registry is an immutable set of devices, safe for concurrent reads.
type Registry struct {
	byID  map[string]*Device
	order []*Device
}

var header = []string{"device_id", "partner", "type", "ward", "name", "lat", "lon", "interval_s"}

// Load reads a registry file. An empty path gives an empty registry.
func Load(path string) (*Registry, error) {
	if path == "" {
		return &Registry{byID: map[string]*Device{}}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening device registry: %w", err)
	}
	defer f.Close()
	r, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("device registry %s: %w", path, err)
	}
	return r, nil
}

// Parse reads registry CSV with the header of deploy/devices.csv.
func Parse(in io.Reader) (*Registry, error) {
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = len(header)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	if strings.Join(head, ",") != strings.Join(header, ",") {
		return nil, fmt.Errorf("header is %q, want %q", strings.Join(head, ","), strings.Join(header, ","))
	}
	reg := &Registry{byID: map[string]*Device{}}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		d := &Device{ID: rec[0], Partner: rec[1], Type: rec[2], Ward: rec[3], Name: rec[4]}
		if d.ID == "" || d.Partner == "" {
			return nil, fmt.Errorf("line %d: device_id and partner are required", line)
		}
		if _, dup := reg.byID[d.ID]; dup {
			return nil, fmt.Errorf("line %d: device %s is declared twice", line, d.ID)
		}
		if d.Lat, err = strconv.ParseFloat(rec[5], 64); err != nil {
			return nil, fmt.Errorf("line %d: lat: %w", line, err)
		}
		if d.Lon, err = strconv.ParseFloat(rec[6], 64); err != nil {
			return nil, fmt.Errorf("line %d: lon: %w", line, err)
		}
		secs, err := strconv.Atoi(rec[7])
		if err != nil || secs <= 0 {
			return nil, fmt.Errorf("line %d: interval_s %q must be a positive number of seconds", line, rec[7])
		}
		d.Interval = time.Duration(secs) * time.Second
		reg.byID[d.ID] = d
		reg.order = append(reg.order, d)
	}
	return reg, nil
}

// Lookup returns the declared device, or nil.
func (r *Registry) Lookup(id string) *Device { return r.byID[id] }

// Devices lists devices in file order.
func (r *Registry) Devices() []*Device { return r.order }

// Len is the number of declared devices.
func (r *Registry) Len() int { return len(r.order) }
