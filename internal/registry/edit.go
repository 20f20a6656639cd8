package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sonla-ioc/ioc/internal/audit"
	"github.com/sonla-ioc/ioc/internal/kafkaconn"
)

// Errors of a device change.
var (
	ErrExists   = errors.New("the device is already registered (edit it, or pick another id)")
	ErrNotFound = errors.New("no device has this id")
	ErrConflict = errors.New("the device changed since it was read (reload and try again)")
)

// Operations on a device.
const (
	OpAdd    = "add"
	OpEdit   = "edit"
	OpRetire = "retire"
)

// Current returns a device's current entry: its newest record (retired
// ones too), else the CSV file's entry (version 0), else false.
func (o *Overlay) Current(id string) (Record, bool) {
	if r, ok := o.records[id]; ok {
		return r, true
	}
	if d := o.base.byID[id]; d != nil {
		r := RecordOf(d)
		r.Source = SourceCSV
		return r, true
	}
	return Record{}, false
}

// Editor makes device changes: it checks them against the current entry,
// publishes the new record to the registry topic and audits the change
// (action device.add, device.edit, device.retire; failures too).
type Editor struct {
	Kafka   kafkaconn.Config
	Writer  *kafka.Writer
	Audit   audit.Sink
	Service string // dashboard, cli
	Source  string // SourceAdmin, SourceCLI
	// Current gives the device's current entry (Overlay.Current).
	Current func(id string) (Record, bool)
	Now     func() time.Time
}

// Who made a change, for the record and the audit log.
type Who struct {
	Actor, Role, Remote, UserAgent string
}

// Apply adds, edits or retires a device. For an edit or a retirement, r
// holds the whole new entry (retire uses only the id and note) and base,
// if not 0, the version the change was made from: another change since
// then is ErrConflict. It returns the record published.
func (e *Editor) Apply(ctx context.Context, op string, r Record, base int64, who Who) (Record, error) {
	out, err := e.apply(ctx, op, r, base, who)
	ev := audit.Event{Actor: who.Actor, Role: who.Role, Action: "device." + op, Target: r.ID, Outcome: audit.OK,
		Remote: who.Remote, UserAgent: who.UserAgent, Service: e.Service}
	if err != nil {
		ev.Outcome, ev.Reason = audit.Failed, err.Error()
	} else {
		b, _ := json.Marshal(out)
		ev.Detail = string(b)
	}
	if e.Audit != nil {
		e.Audit.Record(ev)
	}
	return out, err
}

func (e *Editor) apply(ctx context.Context, op string, r Record, base int64, who Who) (Record, error) {
	cur, exists := e.Current(r.ID)
	switch op {
	case OpAdd:
		if exists && !cur.Retired {
			return Record{}, fmt.Errorf("device %s: %w", r.ID, ErrExists)
		}
		r.Retired = false
	case OpEdit, OpRetire:
		if !exists || cur.Retired {
			return Record{}, fmt.Errorf("device %s: %w", r.ID, ErrNotFound)
		}
		if base != 0 && base != cur.Version {
			return Record{}, fmt.Errorf("device %s (version %d, not %d): %w", r.ID, cur.Version, base, ErrConflict)
		}
		if op == OpRetire {
			note := r.Note
			r = cur
			r.Retired, r.Note = true, note
		}
	default:
		return Record{}, fmt.Errorf("%w: operation %q is not add, edit or retire", ErrInvalid, op)
	}
	r.Actor, r.Source = who.Actor, e.Source
	r.Version = e.Now().UnixMilli()
	if exists && r.Version <= cur.Version {
		r.Version = cur.Version + 1 // a clock behind the last change still orders after it
	}
	if err := r.Validate(); err != nil {
		return Record{}, err
	}
	if err := Publish(ctx, e.Writer, e.Kafka, r); err != nil {
		return Record{}, err
	}
	return r, nil
}
