// Package simulate publishes realistic sensor readings over MQTT for a fleet
// of devices spread over Son La City's 12 wards and communes, the way the
// partners' IoT platforms (Viettel, VNPT) would: SenML JSON at QoS 1 on
// sensors/{partner}/{device_id}.
package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/registry"
)

// Config says how big and how fast the simulated fleet is.
type Config struct {
	MQTTURL string `yaml:"mqtt_url"`
	// Devices is the fleet size: the registry's devices first, then
	// generated ones (which are unregistered) up to this count. 0 means
	// exactly the registry.
	Devices int `yaml:"devices"`
	// Interval is how often each device reports.
	Interval time.Duration `yaml:"interval"`
	// Connections is the number of MQTT connections the fleet shares.
	Connections int `yaml:"connections"`
	// BadRate is the share of messages sent malformed (to show the
	// dead-letter path); 0 sends none.
	BadRate      float64 `yaml:"bad_rate"`
	RegistryFile string  `yaml:"registry_file"`
	Seed         uint64  `yaml:"seed"`
	// Backfill, when positive, first publishes the last Backfill of
	// readings (one per device and BackfillStep, 2 min by default, with their own past
	// observation times, oldest first) so that a fresh wall has its hourly
	// VN_AQI and its trends at once. It must stay within ingest.max_past.
	Backfill     time.Duration `yaml:"backfill"`
	BackfillStep time.Duration `yaml:"backfill_step"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.MQTTURL == "" {
		c.MQTTURL = "tcp://127.0.0.1:1883"
	}
	if c.Interval == 0 {
		c.Interval = 5 * time.Second
	}
	if c.Connections == 0 {
		c.Connections = 2
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.BackfillStep == 0 {
		c.BackfillStep = 2 * time.Minute
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Devices < 0:
		return fmt.Errorf("simulate.devices: %d must not be negative", c.Devices)
	case c.Interval < time.Millisecond:
		return fmt.Errorf("simulate.interval: %s is too short", c.Interval)
	case c.Connections < 1 || c.Connections > 10000:
		return fmt.Errorf("simulate.connections: %d is outside 1..10000", c.Connections)
	case c.BadRate < 0 || c.BadRate > 1:
		return fmt.Errorf("simulate.bad_rate: %v is outside 0..1", c.BadRate)
	case c.Backfill < 0 || c.Backfill > 48*time.Hour:
		return fmt.Errorf("simulate.backfill: %s is outside 0..48h", c.Backfill)
	case c.BackfillStep < time.Second:
		return fmt.Errorf("simulate.backfill_step: %s is shorter than 1s", c.BackfillStep)
	case c.Backfill > 0 && c.Backfill/c.BackfillStep > 10000:
		return fmt.Errorf("simulate.backfill: %s in steps of %s is more than 10000 readings per device (make backfill_step longer)", c.Backfill, c.BackfillStep)
	}
	return nil
}

var wards = []string{
	"chieng-le", "to-hieu", "quyet-thang", "quyet-tam", "chieng-sinh", "chieng-an",
	"chieng-coi", "chieng-co", "chieng-den", "chieng-ngan", "chieng-xom", "hua-la",
}

var types = []string{"air_quality", "rainfall", "traffic", "streetlight", "water_level"}

// device is one simulated device with its own state.
type device struct {
	id, partner, kind string
	phase             float64
	level             float64 // slow random walk shared by its metrics
}

// Fleet builds the simulated devices.
func Fleet(cfg Config, reg *registry.Registry) []*device {
	rng := rand.New(rand.NewPCG(cfg.Seed, 7))
	var out []*device
	for _, d := range reg.Devices() {
		if cfg.Devices > 0 && len(out) >= cfg.Devices {
			break
		}
		out = append(out, &device{id: d.ID, partner: d.Partner, kind: d.Type, phase: rng.Float64() * 2 * math.Pi, level: rng.Float64()})
	}
	for i := len(out); i < cfg.Devices; i++ {
		kind := types[i%len(types)]
		partner := []string{"viettel", "vnpt"}[i%2]
		id := fmt.Sprintf("sim-%s-%s-%05d", strings.SplitN(kind, "_", 2)[0], wards[i%len(wards)], i)
		out = append(out, &device{id: id, partner: partner, kind: kind, phase: rng.Float64() * 2 * math.Pi, level: rng.Float64()})
	}
	return out
}

// Run publishes until ctx is cancelled. Sends follow a fixed schedule
// (open loop): each device reports once per interval, spread evenly.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log = log.With("component", "simulate")
	reg, err := registry.Load(cfg.RegistryFile)
	if err != nil {
		return err
	}
	fleet := Fleet(cfg, reg)
	if len(fleet) == 0 {
		return errors.New("simulate: no devices (set simulate.devices or a registry file)")
	}
	clients := make([]mqtt.Client, cfg.Connections)
	for i := range clients {
		o := mqtt.NewClientOptions().AddBroker(cfg.MQTTURL).SetClientID(fmt.Sprintf("ioc-sim-%d-%d", time.Now().UnixNano()%1e6, i)).
			SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
			SetMaxReconnectInterval(5 * time.Second).SetKeepAlive(30 * time.Second)
		c := mqtt.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			return fmt.Errorf("simulator connecting to %s: %v (is the broker running?)", cfg.MQTTURL, tok.Error())
		}
		clients[i] = c
		defer c.Disconnect(250)
	}
	log.Info("simulator publishing", "backfill", cfg.Backfill, "mqtt", cfg.MQTTURL, "devices", len(fleet), "interval", cfg.Interval,
		"rate_per_s", float64(len(fleet))/cfg.Interval.Seconds())
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(time.Now().UnixNano())))
	step := cfg.Interval / time.Duration(len(fleet))
	if step <= 0 {
		step = time.Nanosecond
	}
	next := time.Now()
	var sent, failed int
	var wg sync.WaitGroup
	tokens := make(chan mqtt.Token, 4096)
	wg.Add(1)
	go func() { // collect acknowledgements without blocking the schedule
		defer wg.Done()
		for tok := range tokens {
			tok.Wait()
			if tok.Error() != nil {
				failed++
			}
		}
	}()
	defer func() {
		close(tokens)
		wg.Wait()
		log.Info("simulator stopped", "sent", sent, "failed", failed)
	}()
	if cfg.Backfill > 0 {
		n, err := backfill(ctx, cfg, fleet, clients, rng, time.Now(), tokens)
		sent += n
		if err != nil || ctx.Err() != nil {
			return err
		}
		log.Info("simulator backfilled past readings", "hours", cfg.Backfill.Hours(), "step", cfg.BackfillStep, "messages", n)
		next = time.Now()
	}
	for i := 0; ; i = (i + 1) % len(fleet) {
		next = next.Add(step)
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(d):
			}
		} else if ctx.Err() != nil {
			return nil
		}
		dev := fleet[i]
		now := time.Now()
		var body []byte
		if cfg.BadRate > 0 && rng.Float64() < cfg.BadRate {
			body = badPayload(rng)
		} else {
			body = dev.payload(now, rng)
		}
		topic := event.SensorTopic(dev.partner, dev.id)
		select {
		case tokens <- clients[i%len(clients)].Publish(topic, 1, false, body):
			sent++
		case <-ctx.Done():
			return nil
		}
	}
}

// backfill publishes, oldest first, one reading per device and step from
// now−Backfill up to now, each with its own observation time (SenML bt): a
// fresh pipeline then holds the hours that hourly indices and the wall's
// trends need. Each device's readings are in time order, as a real
// platform catching up would send them.
//
// The steps are paced (backfillRate messages a second): sent in one burst,
// a device's readings an hour apart in data time would be milliseconds apart
// on the wire, and ingest's parallel producers could deliver a batch of
// later ones first; stream's monitor then skips the earlier ones as out of
// order (an hour without VN_AQI on the wall).
func backfill(ctx context.Context, cfg Config, fleet []*device, clients []mqtt.Client, rng *rand.Rand, now time.Time, tokens chan<- mqtt.Token) (int, error) {
	sent := 0
	start := now.Add(-cfg.Backfill).Truncate(cfg.BackfillStep)
	pace := time.Duration(len(fleet)) * time.Second / backfillRate
	next := time.Now()
	for t := start; t.Before(now); t = t.Add(cfg.BackfillStep) {
		next = next.Add(pace)
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return sent, nil
			}
		}
		for i, dev := range fleet {
			// Spread the devices over the step's first minute at most: every
			// device counts in the same minute of the wall's trends, whose
			// averages then compare like with like from one point to the next.
			at := t.Add(time.Duration(i) * min(cfg.BackfillStep, time.Minute) / time.Duration(len(fleet)))
			if !at.Before(now) {
				continue
			}
			topic := event.SensorTopic(dev.partner, dev.id)
			select {
			case tokens <- clients[i%len(clients)].Publish(topic, 1, false, dev.payload(at, rng)):
				sent++
			case <-ctx.Done():
				return sent, nil
			}
		}
	}
	return sent, nil
}

// backfillRate is how many backfill messages a second the simulator sends
// (8 hours of the 65 registered devices in steps of 2 min: about 6 s).
const backfillRate = 2500

type rec struct {
	BaseName string   `json:"bn,omitempty"`
	BaseTime float64  `json:"bt,omitempty"`
	Name     string   `json:"n,omitempty"`
	Unit     string   `json:"u,omitempty"`
	Value    *float64 `json:"v,omitempty"`
	String   string   `json:"vs,omitempty"`
	Bool     *bool    `json:"vb,omitempty"`
}

func num(v float64) *float64 { v = math.Round(v*10) / 10; return &v }

// payload is a SenML pack for the device's type, with a diurnal pattern.
func (d *device) payload(now time.Time, rng *rand.Rand) []byte {
	d.level = math.Max(0, math.Min(1, d.level+rng.NormFloat64()*0.03))
	hour := float64(now.In(hcm).Hour()) + float64(now.Minute())/60
	day := math.Sin((hour-6)/24*2*math.Pi + d.phase*0.1) // peaks mid-afternoon
	rush := math.Exp(-math.Pow(hour-7.5, 2)/2) + math.Exp(-math.Pow(hour-17.5, 2)/2)
	base := rec{BaseTime: float64(now.UnixMilli()) / 1000}
	var recs []rec
	switch d.kind {
	case "air_quality":
		pm25 := 18 + 40*d.level + 15*rush + rng.NormFloat64()*2
		recs = []rec{
			{Name: "pm25", Unit: "ug/m3", Value: num(math.Max(1, pm25))},
			{Name: "pm10", Unit: "ug/m3", Value: num(math.Max(2, pm25*1.6+rng.NormFloat64()*3))},
			{Name: "co", Unit: "ug/m3", Value: num(math.Max(100, 1800+2500*d.level+800*rush))},
			{Name: "no2", Unit: "ug/m3", Value: num(math.Max(1, 20+45*d.level+25*rush))},
			{Name: "temperature", Unit: "Cel", Value: num(21 + 6*day + rng.NormFloat64()*0.3)},
			{Name: "humidity", Unit: "%RH", Value: num(math.Min(100, 75-15*day+rng.NormFloat64()))},
		}
	case "water_level":
		level := 0.6 + 2.4*d.level
		status := "Bình thường"
		switch {
		case level >= 2.5:
			status = "Báo động 3"
		case level >= 2.0:
			status = "Báo động 2"
		case level >= 1.5:
			status = "Báo động 1"
		}
		recs = []rec{{Name: "level", Unit: "m", Value: num(level)}, {Name: "status", String: status}}
	case "rainfall":
		rain := math.Max(0, 30*math.Pow(d.level, 3)+rng.NormFloat64()*0.5)
		recs = []rec{{Name: "rain", Unit: "mm/h", Value: num(rain)}}
	case "traffic":
		vehicles := math.Max(0, 10+120*rush+20*d.level+rng.NormFloat64()*5)
		recs = []rec{{Name: "vehicles", Unit: "1/min", Value: num(math.Round(vehicles))},
			{Name: "speed", Unit: "km/h", Value: num(math.Max(5, 45-25*rush+rng.NormFloat64()*2))}}
	case "streetlight":
		on := hour < 6 || hour >= 18
		fault := rng.Float64() < 0.002
		power := 0.0
		if on && !fault {
			power = 150 + rng.NormFloat64()*5
		}
		recs = []rec{{Name: "on", Bool: &on}, {Name: "fault", Bool: &fault}, {Name: "power", Unit: "W", Value: num(power)}}
	}
	recs[0].BaseTime = base.BaseTime
	b, _ := json.Marshal(recs)
	return b
}

var hcm = func() *time.Location {
	l, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		return time.FixedZone("ICT", 7*3600)
	}
	return l
}()

// badPayload is one of the malformed inputs a real fleet produces.
func badPayload(rng *rand.Rand) []byte {
	bad := [][]byte{
		[]byte(`{"pm25": 42.5`),
		[]byte(`[{"n":"pm25","u":"ug/m3"}]`),
		[]byte(`[{"n":"pm25","v":NaN}]`),
		{0xff, 0xfe, '[', ']'},
		[]byte(`[{"n":"pm25","v":1,"t":99999999999}]`),
	}
	return bad[rng.IntN(len(bad))]
}
