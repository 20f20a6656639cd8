package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/sonla-ioc/ioc/ingest"
	"github.com/sonla-ioc/ioc/ingest/payload"
	"github.com/sonla-ioc/ioc/internal/event"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
	"github.com/sonla-ioc/ioc/internal/mqttconn"
	"github.com/sonla-ioc/ioc/internal/testpoll"
)

// HopResult is one hop measured alone, with the same readings the
// pipeline carries.
type HopResult struct {
	Hop string `json:"hop"`
	// MaxRate is readings/s when the hop is saturated (closed loop: as
	// much as it takes, with a bounded number in flight).
	MaxRate  float64     `json:"max_per_s"`
	Readings int64       `json:"readings"`
	Seconds  float64     `json:"seconds"`
	Usage    WindowUsage `json:"usage"`
	CPUus    float64     `json:"cpu_us_per_reading"`
	// Latency under open-loop load at LatencyRate readings/s.
	LatencyRate float64 `json:"latency_rate_per_s"`
	Latency     Summary `json:"latency"`
	Method      string  `json:"method"`
	Error       string  `json:"error,omitempty"`
}

func (h *HopResult) fail(format string, args ...any) {
	h.Error = fmt.Sprintf(format, args...)
	if len(h.Error) > 300 {
		h.Error = h.Error[:300] + "…"
	}
}

func (h *HopResult) finish(procs ...string) {
	if h.Seconds > 0 {
		h.MaxRate = round1(float64(h.Readings) / h.Seconds)
	}
	var cpu float64
	for _, name := range procs {
		cpu += h.Usage.Procs[name].CPUSeconds
	}
	if h.Readings > 0 {
		h.CPUus = round2(cpu / float64(h.Readings) * 1e6)
	}
	h.Seconds = round2(h.Seconds)
}

// packTime reads the base time of a pack written by AppendPack, in µs.
func packTime(b []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`[{"bt":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(rest[:end]), 64)
	if err != nil {
		return 0, false
	}
	return int64(f*1e6 + 0.5), true
}

// BrokerHop measures Mosquitto alone: the same publishers as the pipeline
// run (paho, QoS 1, many connections) and one subscriber at QoS 1 set up
// like ingest's (paho, one connection, ordered handler), which only
// counts and times.
func BrokerHop(ctx context.Context, p *Params, run string, procs []Proc, latRate float64) HopResult {
	res := HopResult{Hop: "broker", LatencyRate: latRate,
		Method: "paho publishers (QoS 1) → Mosquitto → one paho subscriber (QoS 1), readings counted at the subscriber"}
	prefix := "bench/" + run + "/hop/"
	var received atomic.Int64
	var lastRecv atomic.Int64
	rec := atomic.Pointer[Recorder]{}
	rec.Store(NewRecorder(1 << 20))
	sub := mqtt.NewClient(mqttconn.Use(mqtt.NewClientOptions().AddBroker(p.MQTTURL).SetClientID("iocbench-"+run+"-sub").
		SetCleanSession(true).SetOrderMatters(true).SetConnectTimeout(15*time.Second), p.MQTTURL))
	if tok := sub.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		res.fail("subscriber connecting: %v", tok.Error())
		return res
	}
	defer sub.Disconnect(250)
	records := int64(p.Records)
	tok := sub.Subscribe(prefix+"#", 1, func(_ mqtt.Client, m mqtt.Message) {
		now := time.Now().UnixMicro()
		received.Add(records)
		lastRecv.Store(now)
		if t, ok := packTime(m.Payload()); ok {
			rec.Load().Add(now - t)
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		res.fail("subscribing: %v", tok.Error())
		return res
	}
	load, err := NewLoad(ctx, p.MQTTURL, "iocbench-"+run+"-hoppub", prefix, p.Connections, p.Records)
	if err != nil {
		res.fail("%v", err)
		return res
	}
	defer load.Close()

	meter := StartMeter(procs)
	start := time.Now()
	load.Run(ctx, Schedule{Rate: 0, Window: 100, Duration: p.HopWindow, Devices: p.Devices, MicroTime: true})
	load.WaitAcks(ctx, 30*time.Second)
	want := load.AckedReadings.Load()
	deadline := time.Now().Add(60 * time.Second)
	testpoll.Poll(time.Until(deadline), 20*time.Millisecond, func() bool { return received.Load() >= want })
	res.Usage = meter.Stop()
	res.Readings = received.Load()
	res.Seconds = float64(lastRecv.Load()-start.UnixMicro()) / 1e6
	res.finish("mosquitto", "iocbench")
	if res.Readings < want {
		res.fail("subscriber received %d of %d acknowledged readings", res.Readings, want)
	}

	if latRate > 0 {
		rec.Store(NewRecorder(1 << 20))
		before := received.Load()
		load.Run(ctx, Schedule{Rate: latRate, Duration: hopLatencyWindow(p), Devices: p.Devices, MicroTime: true})
		load.WaitAcks(ctx, 30*time.Second)
		want := before + load.AckedReadings.Load() - want
		testpoll.Poll(time.Until(deadline.Add(60*time.Second)), 20*time.Millisecond, func() bool { return received.Load() >= want })
		res.Latency = rec.Load().Summary()
	}
	return res
}

func hopLatencyWindow(p *Params) time.Duration { return min(p.LatencyWindow, 15*time.Second) }

// hopMessages turns packs into the Kafka records ingest produces, through
// ingest's own decoder.
func hopMessages(p *Params, n int, topic string) ([]kafka.Message, error) {
	dec := payload.Decoder{Limits: event.NoWindow}
	var out []kafka.Message
	var buf []byte
	now := time.Now()
	for i := 0; len(out) < n; i++ {
		dev := fmt.Sprintf("hk-%05d", i%p.Devices)
		buf = AppendPack(buf[:0], now.UnixMilli()*1000+int64(i)*1000, 3, p.Records, int64(i))
		rs, err := dec.Decode(nil, []string{"viettel", "vnpt"}[i%2], dev, buf, now)
		if err != nil {
			return nil, err
		}
		for j := range rs {
			v, err := event.MarshalReading(&rs[j])
			if err != nil {
				return nil, err
			}
			out = append(out, kafka.Message{Topic: topic, Key: []byte(dev), Value: v})
		}
	}
	return out, nil
}

// KafkaHop measures Kafka alone: ingest's own kafka-go writer
// (ingest.NewWriter: hash balancer, RequireAll, linger 2 ms) with 4
// concurrent writes of up to max_batch messages' records, and a
// consumer-group reader set up like stream's, which only counts, times and
// commits once a second.
func KafkaHop(ctx context.Context, p *Params, run string, procs []Proc, latRate float64) HopResult {
	res := HopResult{Hop: "kafka", LatencyRate: latRate,
		Method: "kafka-go Writer (RequireAll, 4 producers, ingest's batching) → Kafka → kafka-go group Reader (stream's settings)"}
	kc := kafkaconn.Config{Brokers: p.KafkaBrokers, TopicPrefix: "bench" + run + ".hop."}
	kc.Defaults()
	if err := kc.EnsureTopics(ctx, event.TopicReadings); err != nil {
		res.fail("%v", err)
		return res
	}
	defer func() { _, _ = kc.DeleteTopicsWithPrefix(context.WithoutCancel(ctx)) }()
	topic := kc.Topic(event.TopicReadings)
	pool, err := hopMessages(p, 20000, topic)
	if err != nil {
		res.fail("%v", err)
		return res
	}
	cctx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	var consumed, lastRecv atomic.Int64
	rec := atomic.Pointer[Recorder]{}
	rec.Store(NewRecorder(1 << 20))
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers: kc.Brokers, GroupID: "iocbench-" + run + "-hop", GroupTopics: []string{topic}, Dialer: kc.Dialer(),
		QueueCapacity: 1000, MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 200 * time.Millisecond, ReadBatchTimeout: 2 * time.Second,
		CommitInterval: 0, StartOffset: kafka.FirstOffset, HeartbeatInterval: 3 * time.Second, SessionTimeout: 30 * time.Second,
		JoinGroupBackoff: time.Second,
	})
	defer reader.Close()
	var cwg sync.WaitGroup
	cwg.Add(1)
	go func() {
		defer cwg.Done()
		lastCommit := time.Now()
		for {
			m, err := reader.FetchMessage(cctx)
			if err != nil {
				return
			}
			now := time.Now().UnixMicro()
			consumed.Add(1)
			lastRecv.Store(now)
			for _, h := range m.Headers {
				if h.Key == "pub_us" {
					if t, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
						rec.Load().Add(now - t)
					}
				}
			}
			if time.Since(lastCommit) > time.Second {
				_ = reader.CommitMessages(cctx, m)
				lastCommit = time.Now()
			}
		}
	}()
	var icfg ingest.Config
	icfg.Defaults()
	writer := ingest.NewWriter(icfg, kc)
	defer writer.Close()
	batch := icfg.MaxBatch * p.Records

	// Warm up: the group joins and the first records flow before timing.
	if err := writer.WriteMessages(ctx, pool[:100]...); err != nil {
		res.fail("producing: %v", err)
		return res
	}
	testpoll.Poll(60*time.Second, 20*time.Millisecond, func() bool { return consumed.Load() >= 100 })
	base := consumed.Load()

	meter := StartMeter(procs)
	start := time.Now()
	end := start.Add(p.HopWindow)
	var produced atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for w := 0; w < 4; w++ {
		g.Go(func() error {
			msgs := make([]kafka.Message, batch)
			for i := w * batch; time.Now().Before(end); i += 4 * batch {
				for j := range msgs {
					msgs[j] = pool[(i+j)%len(pool)]
				}
				if err := writer.WriteMessages(gctx, msgs...); err != nil {
					return err
				}
				produced.Add(int64(len(msgs)))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		res.fail("producing: %v", err)
	}
	want := base + produced.Load()
	testpoll.Poll(60*time.Second, 20*time.Millisecond, func() bool { return consumed.Load() >= want })
	res.Usage = meter.Stop()
	res.Readings = consumed.Load() - base
	res.Seconds = float64(lastRecv.Load()-start.UnixMicro()) / 1e6
	res.finish("kafka", "iocbench")
	if res.Readings < produced.Load() {
		res.fail("consumer received %d of %d produced records", res.Readings, produced.Load())
	}

	if latRate > 0 && res.Error == "" {
		rec.Store(NewRecorder(1 << 20))
		res.Latency, err = kafkaOpenLoop(ctx, writer, pool, latRate, hopLatencyWindow(p), &consumed, &rec)
		if err != nil {
			res.fail("%v", err)
		}
	}
	return res
}

// kafkaOpenLoop produces at a fixed rate the way ingest does: a scheduler
// queues records as they fall due, four producers each write whatever is
// queued, and the consumer times every record from its pub_us header.
func kafkaOpenLoop(ctx context.Context, w *kafka.Writer, pool []kafka.Message, rate float64, window time.Duration,
	consumed *atomic.Int64, rec *atomic.Pointer[Recorder]) (Summary, error) {
	queue := make(chan kafka.Message, 100000)
	before := consumed.Load()
	var produced atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for i := 0; i < 4; i++ {
		g.Go(func() error {
			var msgs []kafka.Message
			for m := range queue {
				msgs = append(msgs[:0], m)
			fill:
				for len(msgs) < 10000 {
					select {
					case m, ok := <-queue:
						if !ok {
							break fill
						}
						msgs = append(msgs, m)
					default:
						break fill
					}
				}
				if err := w.WriteMessages(gctx, msgs...); err != nil {
					return err
				}
				produced.Add(int64(len(msgs)))
			}
			return nil
		})
	}
	start := time.Now()
	var sent int64
	tick := time.NewTicker(time.Millisecond)
	for now := range tick.C {
		if now.Sub(start) >= window || ctx.Err() != nil {
			break
		}
		due := int64(now.Sub(start).Seconds() * rate)
		for ; sent < due; sent++ {
			m := pool[sent%int64(len(pool))]
			m.Headers = []kafka.Header{{Key: "pub_us", Value: strconv.AppendInt(nil, time.Now().UnixMicro(), 10)}}
			queue <- m
		}
	}
	tick.Stop()
	close(queue)
	if err := g.Wait(); err != nil {
		return Summary{}, fmt.Errorf("producing: %w", err)
	}
	testpoll.Poll(60*time.Second, 20*time.Millisecond, func() bool { return consumed.Load() >= before+produced.Load() })
	return rec.Load().Summary(), nil
}

// chColumns are the columns stream inserts, in its order.
const chColumns = "event_id, partner, device_id, metric, value_kind, value, value_string, value_bool, unit, " +
	"observed_at, observed_ms, received_at, received_ms, time_from_source, ward, registered, kafka_partition, kafka_offset"

// hopRowsTSV renders readings as the rows stream writes, tab-separated.
func hopRowsTSV(p *Params, n int) ([]byte, error) {
	dec := payload.Decoder{Limits: event.NoWindow}
	var out, buf []byte
	now := time.Now()
	rows := 0
	for i := 0; rows < n; i++ {
		dev := fmt.Sprintf("hc-%05d", i%p.Devices)
		buf = AppendPack(buf[:0], now.UnixMilli()*1000+int64(i)*1000, 3, p.Records, int64(i))
		rs, err := dec.Decode(nil, []string{"viettel", "vnpt"}[i%2], dev, buf, now)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out = appendTSVRow(out, &r, i%6, int64(rows))
			rows++
		}
	}
	return out, nil
}

func appendTSVRow(b []byte, r *event.Reading, partition int, offset int64) []byte {
	kinds := map[event.Kind]string{event.KindNumber: "number", event.KindString: "string", event.KindBool: "bool"}
	b01 := func(v bool) byte {
		if v {
			return '1'
		}
		return '0'
	}
	b = append(b, r.ID...)
	b = append(b, '\t')
	b = append(b, r.Partner...)
	b = append(b, '\t')
	b = append(b, r.DeviceID...)
	b = append(b, '\t')
	b = append(b, r.Metric...)
	b = append(b, '\t')
	b = append(b, kinds[r.Kind]...)
	b = append(b, '\t')
	b = strconv.AppendFloat(b, r.Value, 'g', -1, 64)
	b = append(b, '\t')
	b = append(b, r.String...) // the benchmark's readings have no tabs or newlines
	b = append(b, '\t', b01(r.Bool), '\t')
	b = append(b, r.Unit...)
	b = append(b, '\t')
	b = strconv.AppendInt(b, r.ObservedMs/1000, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, r.ObservedMs, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, r.ReceivedMs/1000, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, r.ReceivedMs, 10)
	b = append(b, '\t', b01(r.TimeFromSource), '\t')
	b = append(b, r.Ward...)
	b = append(b, '\t', b01(r.Registered), '\t')
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, offset, 10)
	return append(b, '\n')
}

// ClickHouseHop measures ClickHouse alone: clickhouse-client inserts the
// rows stream would write (same columns, same values) into a copy of the
// readings table, as one bulk insert; then, for latency, inserts of one
// second's worth of rows at latRate, timed from start to acknowledgement
// (clickhouse-client's own start-up included).
func ClickHouseHop(ctx context.Context, p *Params, db string, procs []Proc, latRate float64) HopResult {
	res := HopResult{Hop: "clickhouse", LatencyRate: latRate,
		Method: "clickhouse-client INSERT … FORMAT TabSeparated of the same rows into a copy of sensor_readings_raw"}
	host, port := "127.0.0.1", "9000"
	if h, pt, ok := strings.Cut(p.ClickHouseAddr[0], ":"); ok {
		host, port = h, pt
	}
	client := func(query string, stdin io.Reader) (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, "clickhouse-client", "--host", host, "--port", port, "--query", query)
		cmd.Stdin = stdin
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return cmd, fmt.Errorf("clickhouse-client %q: %w: %s", query, err, strings.TrimSpace(stderr.String()))
		}
		return cmd, nil
	}
	table := db + ".hop_readings"
	if _, err := client(fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s AS %s.sensor_readings_raw", table, db), nil); err != nil {
		res.fail("%v", err)
		return res
	}
	chunkRows := min(p.HopRows, 100000)
	chunk, err := hopRowsTSV(p, chunkRows)
	if err != nil {
		res.fail("%v", err)
		return res
	}
	// The rows come from memory through a pipe: the client parses, the
	// server stores; the benchmark only copies bytes.
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<20)
		for sent := 0; sent < p.HopRows; sent += chunkRows {
			if _, err := w.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(w.Flush())
	}()
	meter := StartMeter(procs)
	start := time.Now()
	cmd, err := client(fmt.Sprintf("INSERT INTO %s (%s) FORMAT TabSeparated", table, chColumns), pr)
	res.Seconds = time.Since(start).Seconds()
	res.Usage = meter.Stop()
	if err != nil {
		res.fail("%v", err)
		return res
	}
	res.Readings = int64((p.HopRows + chunkRows - 1) / chunkRows * chunkRows)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		res.Usage.Procs["clickhouse-client"] = Usage{CPUSeconds: round2(cpu), PeakRSSMB: round1(float64(ru.Maxrss) / 1024), PeakExact: true}
	}
	res.finish("clickhouse", "clickhouse-client")

	if latRate > 0 {
		n := int(latRate)
		rows, err := hopRowsTSV(p, n)
		if err != nil {
			res.fail("%v", err)
			return res
		}
		rec := NewRecorder(64)
		for i := 0; i < 5 && ctx.Err() == nil; i++ {
			t := time.Now()
			if _, err := client(fmt.Sprintf("INSERT INTO %s (%s) FORMAT TabSeparated", table, chColumns), bytes.NewReader(rows)); err != nil {
				res.fail("%v", err)
				break
			}
			rec.Add(time.Since(t).Microseconds())
			time.Sleep(time.Second - min(time.Second, time.Since(t))) // the pace: one insert a second, as stream does
		}
		res.Latency = rec.Summary()
	}
	if _, err := client("DROP TABLE IF EXISTS "+table, nil); err != nil && !errors.Is(err, context.Canceled) {
		res.fail("%v", err)
	}
	return res
}
