package monitor

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// The administrative rules (issue 4, point 3): a dossier about to be late
// and a reform-plan task overdue raise alerts with the same lifecycle as
// the sensor rules (open → acknowledged → resolved, escalation, stored in
// ClickHouse, pushed to the wall). The engine keeps, per dossier and per
// task, what the KPI queries derive from their events (docs/kpis.md): the
// due time of the newest event, and whether the dossier was ever closed /
// the task's newest state. Events merge whatever their order, and a
// duplicate or a replay changes nothing, so the state rebuilt from
// ClickHouse and the Kafka tail after a restart is the same.
//
// Lifecycle of dossier_due (subject "dossier:<dossier_id>"):
//
//	opens    when the dossier is open (no resolved, returned or withdrawn
//	         event) and now ≥ due − lead; opened at max(due − lead,
//	         received): a data time, so the alert id is deterministic;
//	         stage "Sắp đến hạn", severity `severity`
//	late     when now > due with the dossier still open: escalates to stage
//	         "Trễ hạn", severity `late_severity`, and needs a new
//	         acknowledgement (a dossier first seen past due opens late)
//	resolves when a resolved, returned or withdrawn event arrives (at its
//	         time), or when a newer event moves the due time beyond the
//	         lead (a request for additional documents with a new hẹn trả)
//
// Lifecycle of task_overdue (subject "task:<task_id>"):
//
//	opens    when the task's newest state is not done and its due date
//	         (the whole day, Asia/Ho_Chi_Minh) has passed; opened at the
//	         midnight that ends the due date
//	resolves when the task's newest state is done, or a newer event moves
//	         its due date to today or later
//
// Both escalate by time like every alert when nobody acknowledges them
// (escalate_after, 1 h by default for these rules). A dossier or task more
// than `horizon` past due raises no new alert: a backfill of history is for
// the tiles, not for the wall.

// Stage names of the administrative rules (shown on the wall).
const (
	StageDueSoon = "Sắp đến hạn"
	StageLate    = "Trễ hạn"
	StageOverdue = "Quá hạn"
)

// version orders the events of one entity as the KPI queries do:
// argMax(…, (at_ms, toUInt8(state), version)).
type version [3]int64

func (v version) less(w version) bool { return slices.Compare(v[:], w[:]) < 0 }

type dossierState struct {
	id, key         string // key: rule \0 subject, as in Engine.open
	procedure, unit string
	latest          version // of the newest event: its due time is in force
	received, due   int64
	closedMs        int64 // earliest resolved/returned/withdrawn event; 0 while open
	closedState     string
}

type taskState struct {
	id, key            string
	title, owner, plan string
	latest             version
	state              string
	dueEnd             int64 // last ms of the due date, city time
}

// adminState is the part of the engine that watches the administrative
// feeds.
type adminState struct {
	dossierRule, taskRule *Rule
	dossiers              map[string]*dossierState
	tasks                 map[string]*taskState
	max                   int
	dropped               int64 // subjects ignored because the maps were full
	lastPrune             int64
}

func (a *adminState) init(e *Engine) {
	for i := range e.cfg.Rules {
		switch r := &e.cfg.Rules[i]; r.Kind {
		case KindDossierDue:
			a.dossierRule = r
		case KindTaskOverdue:
			a.taskRule = r
		}
	}
	a.dossiers, a.tasks = map[string]*dossierState{}, map[string]*taskState{}
	a.max = e.cfg.MaxAdminSubjects
	if a.max <= 0 {
		a.max = 100_000
	}
}

// AdminKinds lists the administrative feeds the enabled rules read.
func (e *Engine) AdminKinds() []event.AdminKind {
	var out []event.AdminKind
	if e.admin.dossierRule != nil {
		out = append(out, event.KindDossier)
	}
	if e.admin.taskRule != nil {
		out = append(out, event.KindTask)
	}
	return out
}

// AdminSubjects says how many dossiers and tasks the engine keeps, and how
// many it ignored because it was full.
func (e *Engine) AdminSubjects() (dossiers, tasks int, dropped int64) {
	return len(e.admin.dossiers), len(e.admin.tasks), e.admin.dropped
}

func rankOf(states []string, s string) int64 { return int64(slices.Index(states, s) + 1) }

func closing(state string) bool {
	return state == "resolved" || state == "returned" || state == "withdrawn"
}

// Admin merges one validated administrative event (event.PrepareAdmin)
// and evaluates its subject at nowMs (wall clock).
func (e *Engine) Admin(ev event.AdminEvent, nowMs int64) []event.AlertEvent {
	switch x := ev.(type) {
	case *event.Dossier:
		if e.admin.dossierRule == nil {
			return nil
		}
		var closed int64
		if closing(x.State) {
			closed = x.AtMs
		}
		d := e.mergeDossier(x.DossierID, x.ProcedureCode, x.Unit, version{x.AtMs, rankOf(event.DossierStates, x.State), x.Meta().VersionMs},
			x.ReceivedMs, x.DueMs, closed, x.State)
		if d == nil {
			return nil
		}
		return e.evalDossier(d, nowMs, nil)
	case *event.Task:
		if e.admin.taskRule == nil {
			return nil
		}
		t := e.mergeTask(x.TaskID, x.Title, x.OwnerUnit, x.Plan, version{x.AtMs, rankOf(event.TaskStates, x.State), x.Meta().VersionMs},
			x.State, x.DueEnd)
		if t == nil {
			return nil
		}
		return e.evalTask(t, nowMs, nil)
	}
	return nil
}

// mergeDossier folds one event (or the aggregate ClickHouse gives at
// start) into a dossier's state; nil when the engine is full.
func (e *Engine) mergeDossier(id, procedure, unit string, v version, received, due, closedMs int64, closedState string) *dossierState {
	a := &e.admin
	d := a.dossiers[id]
	if d == nil {
		if len(a.dossiers) >= a.max {
			a.dropped++
			return nil
		}
		d = &dossierState{id: id, key: a.dossierRule.Name + "\x00" + "dossier:" + id}
		a.dossiers[id] = d
	}
	if d.latest == (version{}) || d.latest.less(v) {
		d.latest, d.procedure, d.unit, d.received, d.due = v, procedure, unit, received, due
	}
	if closedMs > 0 && (d.closedMs == 0 || closedMs < d.closedMs) {
		d.closedMs, d.closedState = closedMs, closedState
	}
	return d
}

func (e *Engine) mergeTask(id, title, owner, plan string, v version, state string, dueEnd int64) *taskState {
	a := &e.admin
	t := a.tasks[id]
	if t == nil {
		if len(a.tasks) >= a.max {
			a.dropped++
			return nil
		}
		t = &taskState{id: id, key: a.taskRule.Name + "\x00" + "task:" + id}
		a.tasks[id] = t
	}
	if t.latest == (version{}) || t.latest.less(v) {
		t.latest, t.title, t.owner, t.plan, t.state, t.dueEnd = v, title, owner, plan, state, dueEnd
	}
	return t
}

// adminTick evaluates every dossier and task against the clock, and now
// and then forgets those beyond the horizon.
func (e *Engine) adminTick(nowMs int64) []event.AlertEvent {
	a := &e.admin
	var out []event.AlertEvent
	if a.dossierRule != nil {
		for _, d := range a.dossiers {
			out = e.evalDossier(d, nowMs, out)
		}
	}
	if a.taskRule != nil {
		for _, t := range a.tasks {
			out = e.evalTask(t, nowMs, out)
		}
	}
	if nowMs-a.lastPrune >= time.Minute.Milliseconds() {
		a.lastPrune = nowMs
		e.prune(nowMs)
	}
	// Map order is random: the transitions come out in a stable order.
	sort.Slice(out, func(i, j int) bool {
		if out[i].AtMs != out[j].AtMs {
			return out[i].AtMs < out[j].AtMs
		}
		return out[i].Subject < out[j].Subject
	})
	return out
}

// prune forgets the dossiers and tasks without an open alert whose due
// time (and closing) is beyond the horizon: an event of one that comes
// again re-creates it, and being beyond the horizon it raises nothing.
func (e *Engine) prune(nowMs int64) {
	a := &e.admin
	if r := a.dossierRule; r != nil {
		limit := nowMs - r.Horizon.Milliseconds()
		for id, d := range a.dossiers {
			if e.open[d.key] == nil && max(d.due, d.closedMs) < limit {
				delete(a.dossiers, id)
			}
		}
	}
	if r := a.taskRule; r != nil {
		limit := nowMs - r.Horizon.Milliseconds()
		for id, t := range a.tasks {
			if e.open[t.key] == nil && t.dueEnd < limit {
				delete(a.tasks, id)
			}
		}
	}
}

func cityTime(ms int64, layout string) string {
	return time.UnixMilli(ms).In(event.Location).Format(layout)
}

// evalDossier applies the dossier_due lifecycle to one dossier at nowMs,
// appending the transitions to out.
func (e *Engine) evalDossier(d *dossierState, nowMs int64, out []event.AlertEvent) []event.AlertEvent {
	r := e.admin.dossierRule
	a := e.open[d.key]
	lead := r.Lead.Milliseconds()
	switch {
	case d.closedMs > 0:
		if a != nil {
			note := "Hồ sơ đã đóng"
			switch d.closedState {
			case "resolved":
				note = "Hồ sơ đã giải quyết"
			case "returned":
				note = "Hồ sơ đã trả lại"
			case "withdrawn":
				note = "Hồ sơ đã rút"
			}
			out = append(out, e.resolve(a, d.closedMs, note+" lúc "+cityTime(d.closedMs, "15:04 02/01/2006")))
		}
		return out
	case nowMs < d.due-lead:
		if a != nil { // a newer event moved the due time beyond the lead
			out = append(out, e.resolve(a, nowMs, "Hẹn trả mới: "+cityTime(d.due, "15:04 02/01/2006")))
		}
		return out
	}
	stage := 0
	if nowMs > d.due {
		stage = 1
	}
	stages := stagesOf(r)
	if a == nil {
		if d.due < nowMs-r.Horizon.Milliseconds() {
			return out // history
		}
		subject := "dossier:" + d.id
		ev := event.AlertEvent{Rule: r.Name, Kind: r.Kind, Subject: subject, Metric: "due_at", Value: float64(d.due),
			Stage: stages[stage].Name, Severity: stages[stage].Severity, Message: dossierMessage(r, stage, d)}
		ev = e.openAlert(r, d.key, ev, stage, max(d.due-lead, d.received))
		e.open[d.key].lastStep = max(nowMs, ev.OpenedMs) // escalation counts from when it was raised
		return append(out, ev)
	}
	if stage > a.stage {
		a.stage = stage
		a.ev.Stage, a.ev.Value = stages[stage].Name, float64(d.due)
		if severityRank(stages[stage].Severity) > severityRank(a.ev.Severity) {
			a.ev.Severity = stages[stage].Severity
		}
		a.ev.Message = dossierMessage(r, stage, d)
		out = append(out, e.escalate(a, d.due, "stage:1"))
		a.lastStep = max(nowMs, d.due)
	}
	return out
}

func dossierMessage(r *Rule, stage int, d *dossierState) string {
	return r.Label + " " + strings.ToLower(stagesOf(r)[stage].Name) + ": " + d.id + " (thủ tục " + d.procedure + ") — " + d.unit +
		", hẹn trả " + cityTime(d.due, "15:04 02/01/2006")
}

// evalTask applies the task_overdue lifecycle to one task at nowMs.
func (e *Engine) evalTask(t *taskState, nowMs int64, out []event.AlertEvent) []event.AlertEvent {
	r := e.admin.taskRule
	a := e.open[t.key]
	switch {
	case t.state == "done":
		if a != nil {
			out = append(out, e.resolve(a, t.latest[0], "Nhiệm vụ đã hoàn thành lúc "+cityTime(t.latest[0], "15:04 02/01/2006")))
		}
		return out
	case nowMs <= t.dueEnd:
		if a != nil { // a newer event moved the due date
			out = append(out, e.resolve(a, nowMs, "Hạn mới: "+cityTime(t.dueEnd, "02/01/2006")))
		}
		return out
	case a != nil:
		return out
	case t.dueEnd < nowMs-r.Horizon.Milliseconds():
		return out // history
	}
	subject := "task:" + t.id
	what := t.title
	if what == "" {
		what = t.id
	}
	ev := event.AlertEvent{Rule: r.Name, Kind: r.Kind, Subject: subject, Metric: "due_date", Value: float64(t.dueEnd),
		Stage: StageOverdue, Severity: r.Severity,
		Message: r.Label + ": " + what + " — " + t.owner + ", hạn " + cityTime(t.dueEnd, "02/01/2006") + " (" + t.plan + ")"}
	ev = e.openAlert(r, t.key, ev, 0, t.dueEnd+1)
	e.open[t.key].lastStep = max(nowMs, ev.OpenedMs)
	return append(out, ev)
}
