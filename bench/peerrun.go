package bench

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// peerParams are the run's parameters at the comparison's load shape.
func peerParams(p *Params) *Params {
	q := *p
	q.Connections, q.Records = p.PeerConnections, PeerRecords
	return &q
}

// SearchSingle searches the pipeline's maximum at one reading per message
// over PeerConnections, on its own publishers, into the run's table (the
// rows already there are the base of the count). It verifies its windows
// and returns the readings lost.
func SearchSingle(ctx context.Context, p *Params, run string, pipe *Pipeline, conn driver.Conn, procs []Proc,
	lagBound float64, log *slog.Logger) (side PeerSide, lost int64) {
	q := peerParams(p)
	side.Load = LoadAvg()
	ch := &CHWatch{Conn: conn, DB: pipe.CH.Database}
	base, _, err := ch.Rows(ctx)
	if err != nil {
		side.Error = fmt.Sprintf("counting the rows before the search: %v", err)
		return side, 0
	}
	ch.Base = base
	load, err := NewLoad(ctx, q.MQTTURL, "iocbench-"+run+"-pub1", pipe.MountPoint, q.Connections, q.Records)
	if err != nil {
		side.Error = err.Error()
		return side, 0
	}
	defer load.Close()
	r := &Runner{P: q, Pipe: pipe, Load: load, CH: ch, Procs: procs, Log: log.With("shape", "single"), LagBound: lagBound}
	return search(ctx, r, side)
}

// SearchPeer starts Benthos on the run's peer topics and database, searches
// its maximum at the same shape, verifies, stops it and (unless p.Keep)
// drops what it created. cfg is filled with what ran.
func SearchPeer(ctx context.Context, p *Params, run, dir string, services []Proc, lagBound float64,
	log *slog.Logger) (side PeerSide, cfg PeerConfig, yaml string, lost int64) {
	q := peerParams(p)
	side.Load = LoadAvg()
	cfg, err := NewPeerConfig(p, run)
	if err != nil {
		side.Error = err.Error()
		return side, cfg, "", 0
	}
	log.Info("starting the peer", "bin", p.Benthos, "database", cfg.Database, "topics", cfg.MQTTPrefix+"sensors/#")
	pe, err := StartPeer(ctx, cfg, p.Benthos, dir, log)
	if pe != nil {
		yaml = string(pe.YAML)
		defer func() {
			pe.Stop()
			if !p.Keep {
				pe.Cleanup(context.WithoutCancel(ctx))
			}
		}()
	}
	if err != nil {
		side.Error = err.Error()
		return side, cfg, yaml, 0
	}
	chc := cfg.chConfig()
	conn, err := chc.Open(ctx)
	if err != nil {
		side.Error = err.Error()
		return side, cfg, yaml, 0
	}
	defer conn.Close()
	ch := &CHWatch{Conn: conn, DB: cfg.Database, Table: PeerTable, Key: "device_id, observed_ms"}
	base, _, err := ch.Rows(ctx)
	if err != nil {
		side.Error = fmt.Sprintf("counting the primed rows: %v", err)
		return side, cfg, yaml, 0
	}
	ch.Base = base
	load, err := NewLoad(ctx, q.MQTTURL, "iocbench-"+run+"-pubpeer", cfg.MQTTPrefix, q.Connections, q.Records)
	if err != nil {
		side.Error = err.Error()
		return side, cfg, yaml, 0
	}
	defer load.Close()
	procs := append([]Proc{pe.Proc()}, append(append([]Proc{}, services...), SelfProc())...)
	r := &Runner{P: q, Peer: pe, Load: load, CH: ch, Procs: procs, Log: log.With("shape", "peer"), LagBound: lagBound}
	side, lost = search(ctx, r, side)
	return side, cfg, yaml, lost
}

// search runs the search and counts every window again once drained.
func search(ctx context.Context, r *Runner, side PeerSide) (PeerSide, int64) {
	best, steps := r.Search(ctx)
	side.Ramp = steps
	ptrs := make([]*Step, len(side.Ramp))
	for i := range side.Ramp {
		ptrs[i] = &side.Ramp[i]
	}
	lost, err := r.Verify(ctx, ptrs)
	if best != nil {
		for _, s := range side.Ramp {
			if s.Tag == best.Tag {
				b := s
				side.Max = &b
			}
		}
	}
	if err != nil {
		side.Error = err.Error()
	} else if lost > 0 {
		side.Error = fmt.Sprintf("%d acknowledged readings never reached ClickHouse", lost)
	}
	if aerr := r.alive(); aerr != nil && side.Error == "" {
		side.Error = aerr.Error()
	}
	return side, lost
}
