package monitor

import (
	"math"

	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/vnaqi"
)

const hourMs = 3600_000

// hourBin is the running mean of one pollutant over one clock hour.
type hourBin struct {
	hour int64 // hour number since the epoch
	sum  float64
	n    int
}

// station keeps the hourly means of one air-quality station for the last
// 12 hours, the input of the hourly VN_AQI.
type station struct {
	partner, device, ward string
	registered            bool
	bins                  map[vnaqi.Pollutant]*[vnaqi.NowcastHours]hourBin
	newest                map[vnaqi.Pollutant]int64 // observation time of the newest reading counted
	latestHour            int64
	published             int64 // observation time of the last published value
	result                vnaqi.Result
}

// AQI computes the hourly VN_AQI (NowCast for PM) of every station from its
// pollutant readings and publishes it as a derived reading at most once per
// `every` of data time, and whenever its category changes.
type AQI struct {
	every    int64
	max      int
	stations map[string]*station
}

// NewAQI prepares the computation.
func NewAQI(cfg StatusConfig) *AQI {
	return &AQI{every: cfg.AQIEvery.Milliseconds(), max: cfg.MaxStations, stations: map[string]*station{}}
}

func (a *AQI) station(partner, device string) *station {
	s := a.stations[device]
	if s == nil {
		if len(a.stations) >= a.max {
			return nil
		}
		s = &station{partner: partner, device: device, bins: map[vnaqi.Pollutant]*[vnaqi.NowcastHours]hourBin{}, newest: map[vnaqi.Pollutant]int64{}}
		a.stations[device] = s
	}
	return s
}

// Seed adds an hourly aggregate read from ClickHouse (sum and count of a
// pollutant over the hour starting at hourStartMs) and the observation time
// of the newest reading it holds, so that replayed readings are not counted
// twice.
func (a *AQI) Seed(partner, device, metric, unit string, hourStartMs int64, sum float64, n int, newestMs int64) {
	p, f, ok := vnaqi.PollutantOf(metric, unit)
	if !ok || n <= 0 {
		return
	}
	s := a.station(partner, device)
	if s == nil {
		return
	}
	h := floorDiv(hourStartMs, hourMs)
	b := s.bin(p, h)
	b.sum += sum * f
	b.n += n
	s.newest[p] = max(s.newest[p], newestMs)
	s.latestHour = max(s.latestHour, h)
}

func (s *station) bin(p vnaqi.Pollutant, h int64) *hourBin {
	ring := s.bins[p]
	if ring == nil {
		ring = &[vnaqi.NowcastHours]hourBin{}
		s.bins[p] = ring
	}
	b := &ring[int(((h%vnaqi.NowcastHours)+vnaqi.NowcastHours)%vnaqi.NowcastHours)]
	if b.hour != h {
		*b = hourBin{hour: h}
	}
	return b
}

// hourly is the input of vnaqi.Hourly at hour h: per pollutant the means
// of h, h−1, … h−11, NaN where an hour has no data.
func (s *station) hourly(h int64) map[vnaqi.Pollutant][]float64 {
	out := map[vnaqi.Pollutant][]float64{}
	for p, ring := range s.bins {
		series := make([]float64, vnaqi.NowcastHours)
		any := false
		for i := range series {
			hh := h - int64(i)
			b := ring[int(((hh%vnaqi.NowcastHours)+vnaqi.NowcastHours)%vnaqi.NowcastHours)]
			if b.hour == hh && b.n > 0 {
				series[i] = b.sum / float64(b.n)
				any = true
			} else {
				series[i] = math.NaN()
			}
		}
		if any {
			out[p] = series
		}
	}
	return out
}

// Observe takes a reading; when it is a pollutant of a station and a new
// value is due, it returns the derived vn_aqi reading to publish.
func (a *AQI) Observe(r *event.Reading) (event.Reading, bool) {
	if r.Kind != event.KindNumber || r.Derived {
		return event.Reading{}, false
	}
	p, f, ok := vnaqi.PollutantOf(r.Metric, r.Unit)
	if !ok {
		return event.Reading{}, false
	}
	s := a.station(r.Partner, r.DeviceID)
	if s == nil || r.ObservedMs <= s.newest[p] {
		return event.Reading{}, false // replayed or out of order: counted already, or too late to count
	}
	s.newest[p] = r.ObservedMs
	s.ward, s.registered, s.partner = r.Ward, r.Registered, r.Partner
	h := floorDiv(r.ObservedMs, hourMs)
	if h < s.latestHour-int64(vnaqi.NowcastHours)+1 {
		return event.Reading{}, false
	}
	b := s.bin(p, h)
	b.sum += r.Value * f
	b.n++
	s.latestHour = max(s.latestHour, h)
	res := vnaqi.Hourly(s.hourly(s.latestHour))
	if !res.OK {
		return event.Reading{}, false
	}
	changed := res.Category() != s.result.Category() || !s.result.OK
	s.result = res
	if !changed && r.ObservedMs-s.published < a.every {
		return event.Reading{}, false
	}
	s.published = r.ObservedMs
	d := event.Reading{
		Partner: s.partner, DeviceID: s.device, Metric: event.MetricVNAQI, Kind: event.KindNumber,
		Value: float64(res.AQI), Unit: "VN_AQI", String: string(res.Dominant),
		ObservedMs: r.ObservedMs, ReceivedMs: r.ReceivedMs, TimeFromSource: true,
		Ward: s.ward, Registered: s.registered, Derived: true,
	}
	d.ID = event.ReadingID(d.Partner, d.DeviceID, d.Metric, d.ObservedMs)
	return d, true
}

// Current is the last computed index of a station.
func (a *AQI) Current(device string) (vnaqi.Result, bool) {
	s := a.stations[device]
	if s == nil || !s.result.OK {
		return vnaqi.Result{}, false
	}
	return s.result, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
