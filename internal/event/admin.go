package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The city's administrative systems (one-stop-shop dossier software,
// e-office document signing, task tracking, finance, the portal, the
// province's ratings, the unit registry) deliver events of nine kinds. Each
// kind has its own Kafka topic, ioc.admin.<kind>.v1, keyed by entity id. The
// contracts are documented with examples in docs/admin-events.md.

// AdminKind names one administrative feed.
type AdminKind string

const (
	KindProcedure AdminKind = "procedure" // public administrative procedure catalogue
	KindDossier   AdminKind = "dossier"   // dossier lifecycle at the one-stop shops
	KindDocument  AdminKind = "document"  // documents issued by the People's Committees
	KindTask      AdminKind = "task"      // reform-plan tasks
	KindBudget    AdminKind = "budget"    // budget revenue and the plan estimates
	KindPortal    AdminKind = "portal"    // city portal traffic per day
	KindRating    AdminKind = "rating"    // one-stop-shop quality ratings by the province
	KindUnit      AdminKind = "unit"      // registry of departments and commune-level units
	KindFeedback  AdminKind = "feedback"  // citizens' feedback and petitions (PAKN) and their handling
)

// AdminKinds lists every kind, in a stable order.
var AdminKinds = []AdminKind{KindProcedure, KindDossier, KindDocument, KindTask, KindBudget, KindPortal, KindRating, KindUnit, KindFeedback}

// AdminSchemaVersion is the contract version carried in the topic names.
const AdminSchemaVersion = 1

// AdminTopic is the Kafka topic of a kind (without the configured prefix).
func AdminTopic(k AdminKind) string { return "ioc.admin." + string(k) + ".v1" }

// AdminTopics lists the topics of every kind.
func AdminTopics() []string {
	out := make([]string, len(AdminKinds))
	for i, k := range AdminKinds {
		out[i] = AdminTopic(k)
	}
	return out
}

// ParseAdminKind checks a kind name (the {kind} of the HTTP path).
func ParseAdminKind(s string) (AdminKind, bool) {
	for _, k := range AdminKinds {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// KindOfTopic returns the kind whose topic is topic (with prefix removed).
func KindOfTopic(topic string) (AdminKind, bool) {
	for _, k := range AdminKinds {
		if strings.HasSuffix(topic, AdminTopic(k)) {
			return k, true
		}
	}
	return "", false
}

// Dead-letter reasons of administrative events, besides the shared ones
// (not_json, bad_value, bad_time, invalid_utf8, field_too_long,
// bad_event_id, oversize, empty).
const (
	ReasonMissingField Reason = "missing_field" // a required field is absent or empty
	ReasonBadEnum      Reason = "bad_enum"      // a field is not one of its allowed values
	ReasonPersonalData Reason = "personal_data" // an id looks like a citizen's ID card or phone number
	ReasonUnknownKind  Reason = "unknown_kind"  // not one of the nine kinds
)

// AdminMeta is carried by every administrative event.
type AdminMeta struct {
	// ID is the deterministic event id (hash of kind, entity id, state and
	// time). Producers may leave it out; when present it must match.
	ID string `json:"id,omitempty"`
	// Source names the producing system. The HTTP endpoint sets it from the
	// bearer token, whatever the body says.
	Source string `json:"source,omitempty"`
	// ReportedAt is when the source system recorded this version of the
	// event. A correction of an event (same entity, state and time) must
	// carry a later reported_at than the version it replaces.
	ReportedAt string `json:"reported_at,omitempty"`
	// ReceivedMs is when the pipeline first received the event (set by
	// ingest, or by stream from the Kafka timestamp).
	ReceivedMs int64 `json:"rt,omitempty"`

	// VersionMs is reported_at in ms, or the event's own time without it:
	// the version by which ClickHouse keeps the newest of two records with
	// the same key.
	VersionMs int64 `json:"-"`
}

// Meta gives access to the shared fields.
func (m *AdminMeta) Meta() *AdminMeta { return m }

// AdminEvent is one event of any kind.
type AdminEvent interface {
	Kind() AdminKind
	// EntityID is the Kafka key: procedure code, dossier id, and so on.
	EntityID() string
	// Meta returns the shared fields.
	Meta() *AdminMeta
	// check validates the kind's fields and fills the parsed ones; it
	// returns the event's own time (ms) and the parts of its identity.
	check(c *checker) (atMs int64, identity []string)
}

// AdminLimits bound the times of an administrative event.
type AdminLimits struct {
	// MaxFuture is how far past its receipt an event may be dated.
	MaxFuture time.Duration
}

// DefaultAdminLimits accepts events dated up to 5 minutes past receipt;
// there is no lower bound beyond 2000-01-01 (history is welcome).
var DefaultAdminLimits = AdminLimits{MaxFuture: 5 * time.Minute}

// NewAdminEvent returns an empty event of a kind.
func NewAdminEvent(k AdminKind) (AdminEvent, error) {
	switch k {
	case KindProcedure:
		return &Procedure{}, nil
	case KindDossier:
		return &Dossier{}, nil
	case KindDocument:
		return &Document{}, nil
	case KindTask:
		return &Task{}, nil
	case KindBudget:
		return &BudgetEntry{}, nil
	case KindPortal:
		return &PortalDay{}, nil
	case KindRating:
		return &Rating{}, nil
	case KindUnit:
		return &Unit{}, nil
	case KindFeedback:
		return &Feedback{}, nil
	}
	return nil, Invalid(ReasonUnknownKind, "kind %q is not one of %v", k, AdminKinds)
}

// DecodeAdmin decodes one event of a kind from JSON. Unknown fields are
// ignored and never stored (they cannot carry personal data further).
func DecodeAdmin(k AdminKind, raw []byte) (AdminEvent, error) {
	ev, err := NewAdminEvent(k)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, Invalid(ReasonEmpty, "empty event")
	}
	if trimmed[0] != '{' {
		return nil, Invalid(ReasonNotJSON, "an event must be a JSON object")
	}
	if !utf8.Valid(trimmed) {
		return nil, Invalid(ReasonInvalidUTF8, "event is not valid UTF-8")
	}
	if err := json.Unmarshal(trimmed, ev); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, Invalid(ReasonBadValue, "field %q: %s is not a valid %s", te.Field, te.Value, te.Type)
		}
		return nil, Invalid(ReasonNotJSON, "decoding %s event: %v", k, err)
	}
	return ev, nil
}

// PrepareAdmin validates an event, fills its parsed fields, receive time
// and version, and computes (or checks) its id. receivedMs is when the
// pipeline got it; an event that already carries a receive time keeps it.
func PrepareAdmin(ev AdminEvent, receivedMs int64, l AdminLimits) error {
	m := ev.Meta()
	if m.ReceivedMs <= 0 {
		m.ReceivedMs = receivedMs
	}
	c := &checker{receivedMs: m.ReceivedMs, limits: l}
	c.str("source", m.Source, false, 64)
	reported := c.optTime("reported_at", m.ReportedAt)
	if c.err != nil {
		return c.err
	}
	at, parts := ev.check(c)
	if c.err != nil {
		return c.err
	}
	if reported > 0 {
		m.VersionMs = reported
	} else {
		m.VersionMs = at
	}
	id := AdminID(ev.Kind(), parts...)
	if m.ID != "" && m.ID != id {
		return Invalid(ReasonBadID, "event id %q does not match its content (want %s, or leave id out)", m.ID, id)
	}
	m.ID = id
	return nil
}

// AdminID is the deterministic identity of an administrative event: the
// kind, the entity id, its state and the time of that state. A replayed or
// redelivered event has the same id and the same ClickHouse key.
func AdminID(k AdminKind, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(k))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

// MarshalAdmin encodes an event for Kafka.
func MarshalAdmin(ev AdminEvent) ([]byte, error) { return json.Marshal(ev) }

// ---- the nine kinds ------------------------------------------------------

// The seven fields of the procedure catalogue (report of H1 2021).
var ProcedureFields = []string{
	"construction",                  // Xây dựng
	"justice",                       // Tư pháp
	"home_affairs",                  // Nội vụ
	"natural_resources_environment", // Tài nguyên – Môi trường
	"education_training",            // Giáo dục – Đào tạo
	"culture",                       // Văn hóa
	"economy",                       // Kinh tế
}

// Procedure is one entry of the public administrative procedure catalogue:
// published (công bố) or withdrawn (bãi bỏ) at a time.
type Procedure struct {
	AdminMeta
	Code           string `json:"code"`
	Name           string `json:"name"`
	Field          string `json:"field"`
	Level          string `json:"level"` // city or commune
	ProcessingDays *int   `json:"processing_days"`
	Status         string `json:"status"` // published, withdrawn
	At             string `json:"at"`

	// Optional (contract v1, additive) fields the service index of
	// Decision 766/QĐ-TTg needs (docs/service-index.md). Absent means
	// unknown, which the index counts as "not met".
	//
	// DecisionAt is the date of the decision publishing (công bố) the
	// procedure; BasisInForceAt the date its legal basis takes force;
	// PostedAt when it was posted on the national procedure database and
	// the portal; PostedComplete whether that posting carries every
	// required item (forms, fees, processing time, legal basis).
	DecisionAt     string `json:"decision_at,omitempty"`
	BasisInForceAt string `json:"basis_in_force_at,omitempty"`
	PostedAt       string `json:"posted_at,omitempty"`
	PostedComplete *bool  `json:"posted_complete,omitempty"`
	// FullOnline: eligible for full-online service (dịch vụ công trực
	// tuyến toàn trình); FeeBearing: charges a fee or levy (phí, lệ phí);
	// OnlinePayment: online payment is offered for it; PaperResult: its
	// result is still issued on paper only.
	FullOnline    *bool `json:"full_online,omitempty"`
	FeeBearing    *bool `json:"fee_bearing,omitempty"`
	OnlinePayment *bool `json:"online_payment,omitempty"`
	PaperResult   *bool `json:"paper_result,omitempty"`
	// PopulationLinked: handling it reads the national population database
	// (triển khai kết nối, chia sẻ dữ liệu dân cư).
	PopulationLinked *bool `json:"population_linked,omitempty"`

	AtMs                                 int64 `json:"-"`
	DecisionMs, BasisInForceMs, PostedMs int64 `json:"-"` // 0 when absent
}

func (*Procedure) Kind() AdminKind    { return KindProcedure }
func (p *Procedure) EntityID() string { return p.Code }

func (p *Procedure) check(c *checker) (int64, []string) {
	c.id("code", p.Code)
	c.str("name", p.Name, true, 1000)
	c.enum("field", p.Field, ProcedureFields...)
	c.enum("level", p.Level, "city", "commune")
	c.intRange("processing_days", p.ProcessingDays, 0, 365)
	c.enum("status", p.Status, "published", "withdrawn")
	p.AtMs = c.eventTime("at", p.At)
	p.DecisionMs = c.optTime("decision_at", p.DecisionAt)
	p.BasisInForceMs = c.optTime("basis_in_force_at", p.BasisInForceAt)
	p.PostedMs = c.optTime("posted_at", p.PostedAt)
	if c.err == nil {
		switch {
		case p.PostedMs > 0 && p.DecisionMs > 0 && p.PostedMs < p.DecisionMs:
			c.fail(ReasonBadTime, "posted_at %s is before the publication decision (decision_at %s)", p.PostedAt, p.DecisionAt)
		case p.OnlinePayment != nil && *p.OnlinePayment && p.FeeBearing != nil && !*p.FeeBearing:
			c.fail(ReasonBadValue, "online_payment is true for a procedure that is not fee_bearing")
		case p.FullOnline != nil && *p.FullOnline && p.PaperResult != nil && *p.PaperResult:
			c.fail(ReasonBadValue, "a full_online procedure cannot have a paper_result only")
		}
	}
	return p.AtMs, []string{p.Code, p.Status, strconv.FormatInt(p.AtMs, 10)}
}

// DossierStates are the states of a dossier, in lifecycle order.
var DossierStates = []string{"received", "in_progress", "supplement_requested", "resolved", "returned", "withdrawn"}

// Dossier is one state change of a dossier (hồ sơ) at a one-stop shop.
// Every event carries the dossier's procedure, unit, channel, received and
// due times, so each is meaningful on its own whatever order they arrive
// in. Ids are opaque: no personal data.
type Dossier struct {
	AdminMeta
	DossierID     string `json:"dossier_id"`
	ProcedureCode string `json:"procedure_code"`
	Unit          string `json:"unit"`
	Channel       string `json:"channel"` // online, in_person
	State         string `json:"state"`
	At            string `json:"at"`
	ReceivedAt    string `json:"received_at"`
	DueAt         string `json:"due_at"`

	// Optional (contract v1, additive) fields the service index of
	// Decision 766/QĐ-TTg needs (docs/service-index.md); absent means
	// unknown, counted as "not met". Counts, never personal data.
	DossierExt

	AtMs, ReceivedMs, DueMs int64 `json:"-"`
}

// DossierExt are the optional index fields of a dossier event.
type DossierExt struct {
	// FullOnline: submitted and handled fully online (toàn trình).
	FullOnline *bool `json:"full_online,omitempty"`
	// FeeVND is the fees and levies due (0: none); PaidOnline whether they
	// were paid through online payment.
	FeeVND     *int64 `json:"fee_vnd,omitempty"`
	PaidOnline *bool  `json:"paid_online,omitempty"`
	// Inputs is the number of component documents of the dossier;
	// InputsDigitised how many were digitised at reception; InputsReused
	// how many reused data already digitised; InputsFromStore how many came
	// from the applicant's electronic data store (kho dữ liệu điện tử);
	// InputsVerified how many were verified against the national
	// population database (CSDL quốc gia về dân cư).
	Inputs          *int `json:"inputs,omitempty"`
	InputsDigitised *int `json:"inputs_digitised,omitempty"`
	InputsReused    *int `json:"inputs_reused,omitempty"`
	InputsFromStore *int `json:"inputs_from_store,omitempty"`
	InputsVerified  *int `json:"inputs_verified,omitempty"`
	// EResult: the result was issued electronically; ResultToStore: and
	// pushed to the applicant's data store; ECertifiedCopy: a certified
	// copy (chứng thực) was issued electronically.
	EResult        *bool `json:"e_result,omitempty"`
	ResultToStore  *bool `json:"result_to_store,omitempty"`
	ECertifiedCopy *bool `json:"e_certified_copy,omitempty"`
	// SyncedNational: the dossier's status is synchronised to the national
	// public service portal (dichvucong.gov.vn).
	SyncedNational *bool `json:"synced_national,omitempty"`
	// ApplicantRating is the applicant's rating of the handling.
	ApplicantRating string `json:"applicant_rating,omitempty"`
}

// ApplicantRatings are the ratings an applicant may give a dossier's
// handling (rất hài lòng, hài lòng, không hài lòng).
var ApplicantRatings = []string{"very_satisfied", "satisfied", "dissatisfied"}

// check validates the optional fields.
func (x *DossierExt) check(c *checker) {
	if x.FeeVND != nil && (*x.FeeVND < 0 || *x.FeeVND > 1e12) {
		c.fail(ReasonBadValue, "fee_vnd %d is outside 0..10^12", *x.FeeVND)
	}
	if x.PaidOnline != nil && *x.PaidOnline && x.FeeVND != nil && *x.FeeVND == 0 {
		c.fail(ReasonBadValue, "paid_online is true but fee_vnd is 0 (nothing to pay)")
	}
	counts := []struct {
		name string
		v    *int
	}{{"inputs_digitised", x.InputsDigitised}, {"inputs_reused", x.InputsReused},
		{"inputs_from_store", x.InputsFromStore}, {"inputs_verified", x.InputsVerified}}
	if x.Inputs != nil && (*x.Inputs < 0 || *x.Inputs > 1000) {
		c.fail(ReasonBadValue, "inputs %d is outside 0..1000", *x.Inputs)
	}
	for _, f := range counts {
		switch {
		case f.v == nil:
		case x.Inputs == nil:
			c.fail(ReasonMissingField, "%s needs inputs (the number of component documents)", f.name)
		case *f.v < 0 || *f.v > *x.Inputs:
			c.fail(ReasonBadValue, "%s %d is outside 0..inputs (%d)", f.name, *f.v, *x.Inputs)
		}
	}
	if x.ResultToStore != nil && *x.ResultToStore && (x.EResult == nil || !*x.EResult) {
		c.fail(ReasonBadValue, "result_to_store is true but e_result is not: only an electronic result can be pushed to the data store")
	}
	if x.ApplicantRating != "" {
		c.enum("applicant_rating", x.ApplicantRating, ApplicantRatings...)
	}
}

func (*Dossier) Kind() AdminKind    { return KindDossier }
func (d *Dossier) EntityID() string { return d.DossierID }

func (d *Dossier) check(c *checker) (int64, []string) {
	c.id("dossier_id", d.DossierID)
	c.opaque("dossier_id", d.DossierID)
	c.id("procedure_code", d.ProcedureCode)
	c.id("unit", d.Unit)
	c.enum("channel", d.Channel, "online", "in_person")
	c.enum("state", d.State, DossierStates...)
	d.DossierExt.check(c)
	d.AtMs = c.eventTime("at", d.At)
	d.ReceivedMs = c.eventTime("received_at", d.ReceivedAt)
	d.DueMs = c.time("due_at", d.DueAt)
	if c.err == nil {
		switch {
		case d.DueMs < d.ReceivedMs:
			c.fail(ReasonBadTime, "due_at %s is before received_at %s", d.DueAt, d.ReceivedAt)
		case d.AtMs < d.ReceivedMs:
			c.fail(ReasonBadTime, "state %s at %s is before the dossier was received (%s)", d.State, d.At, d.ReceivedAt)
		case d.State == "received" && d.AtMs != d.ReceivedMs:
			c.fail(ReasonBadTime, "a received event must have at = received_at (%s ≠ %s)", d.At, d.ReceivedAt)
		}
	}
	return d.AtMs, []string{d.DossierID, d.State, strconv.FormatInt(d.AtMs, 10)}
}

// Document is a document issued by a People's Committee (city or commune)
// or a department, signed digitally or not.
type Document struct {
	AdminMeta
	DocumentID string `json:"document_id"`
	Unit       string `json:"unit"` // issuing unit
	Number     string `json:"number,omitempty"`
	DocType    string `json:"doc_type,omitempty"`
	IssuedAt   string `json:"issued_at"`
	Signed     *bool  `json:"signed"`

	IssuedMs int64 `json:"-"`
}

func (*Document) Kind() AdminKind    { return KindDocument }
func (d *Document) EntityID() string { return d.DocumentID }

func (d *Document) check(c *checker) (int64, []string) {
	c.id("document_id", d.DocumentID)
	c.id("unit", d.Unit)
	c.str("number", d.Number, false, 64)
	c.str("doc_type", d.DocType, false, 64)
	d.IssuedMs = c.eventTime("issued_at", d.IssuedAt)
	if d.Signed == nil {
		c.fail(ReasonMissingField, "signed (true or false) is required")
	}
	return d.IssuedMs, []string{d.DocumentID, "issued", strconv.FormatInt(d.IssuedMs, 10)}
}

// TaskStates are the states of a reform-plan task.
var TaskStates = []string{"assigned", "in_progress", "done"}

// Task is one state change of a task of an administrative-reform plan
// (such as Decision 32/QĐ-UBND of 2021-01-07: 7 main tasks, 70 specific).
type Task struct {
	AdminMeta
	TaskID    string `json:"task_id"`
	Plan      string `json:"plan"`
	PlanYear  int    `json:"plan_year"`
	MainTask  int    `json:"main_task"`
	Title     string `json:"title,omitempty"`
	OwnerUnit string `json:"owner_unit"`
	DueDate   string `json:"due_date"`
	State     string `json:"state"`
	At        string `json:"at"`

	AtMs   int64     `json:"-"`
	DueDay time.Time `json:"-"` // midnight of the due date, city time
	DueEnd int64     `json:"-"` // last ms of the due date, city time
}

func (*Task) Kind() AdminKind    { return KindTask }
func (t *Task) EntityID() string { return t.TaskID }

func (t *Task) check(c *checker) (int64, []string) {
	c.id("task_id", t.TaskID)
	c.str("plan", t.Plan, true, 64)
	if t.PlanYear < 2000 || t.PlanYear > 2099 {
		c.fail(ReasonBadValue, "plan_year %d is outside 2000..2099", t.PlanYear)
	}
	if t.MainTask < 1 || t.MainTask > 99 {
		c.fail(ReasonBadValue, "main_task %d is outside 1..99", t.MainTask)
	}
	c.str("title", t.Title, false, 1000)
	c.id("owner_unit", t.OwnerUnit)
	t.DueDay = c.date("due_date", t.DueDate)
	t.DueEnd = t.DueDay.AddDate(0, 0, 1).UnixMilli() - 1
	c.enum("state", t.State, TaskStates...)
	t.AtMs = c.eventTime("at", t.At)
	return t.AtMs, []string{t.TaskID, t.State, strconv.FormatInt(t.AtMs, 10)}
}

// BudgetEntry is either revenue collected (type revenue: period, amount,
// source) or a plan estimate of the year's revenue (type estimate: the
// year, the amount and the authority that set it: the province, or the city
// People's Council). Amounts are whole VND.
type BudgetEntry struct {
	AdminMeta
	EntryID   string `json:"entry_id"`
	Type      string `json:"type"`   // revenue, estimate
	Period    string `json:"period"` // revenue: YYYY-MM or YYYY-MM-DD; estimate: YYYY
	AmountVND *int64 `json:"amount_vnd"`
	Source    string `json:"source,omitempty"`    // revenue: tax, fees, land_use, ...
	Authority string `json:"authority,omitempty"` // estimate: province, council
	At        string `json:"at"`

	AtMs        int64     `json:"-"`
	PeriodStart time.Time `json:"-"` // first day of the period, city time
	Year        int       `json:"-"`
}

func (*BudgetEntry) Kind() AdminKind    { return KindBudget }
func (b *BudgetEntry) EntityID() string { return b.EntryID }

var (
	monthRE = regexp.MustCompile(`^\d{4}-\d{2}$`)
	yearRE  = regexp.MustCompile(`^\d{4}$`)
)

func (b *BudgetEntry) check(c *checker) (int64, []string) {
	c.id("entry_id", b.EntryID)
	c.enum("type", b.Type, "revenue", "estimate")
	if b.AmountVND == nil {
		c.fail(ReasonMissingField, "amount_vnd is required (whole VND)")
	} else if *b.AmountVND > 1e16 || *b.AmountVND < -1e16 {
		c.fail(ReasonBadValue, "amount_vnd %d is beyond ±10^16", *b.AmountVND)
	}
	b.AtMs = c.eventTime("at", b.At)
	if c.err != nil {
		return 0, nil
	}
	switch b.Type {
	case "revenue":
		c.id("source", b.Source)
		if b.Authority != "" {
			c.fail(ReasonBadValue, "authority is only for estimates")
		}
		switch {
		case monthRE.MatchString(b.Period):
			b.PeriodStart = c.date("period", b.Period+"-01")
		default:
			b.PeriodStart = c.date("period", b.Period)
		}
	case "estimate":
		c.enum("authority", b.Authority, "province", "council")
		if !yearRE.MatchString(b.Period) {
			c.fail(ReasonBadTime, "period %q of an estimate must be a year (YYYY)", b.Period)
		} else {
			b.PeriodStart = c.date("period", b.Period+"-01-01")
		}
	}
	b.Year = b.PeriodStart.Year()
	return b.AtMs, []string{b.EntryID, b.Type, b.Period, strconv.FormatInt(b.AtMs, 10)}
}

// PortalDay is the city portal's traffic of one day.
type PortalDay struct {
	AdminMeta
	Day          string `json:"day"`
	Visits       *int64 `json:"visits"`
	Interactions *int64 `json:"interactions"`

	DayStart time.Time `json:"-"`
}

func (*PortalDay) Kind() AdminKind    { return KindPortal }
func (p *PortalDay) EntityID() string { return p.Day }

func (p *PortalDay) check(c *checker) (int64, []string) {
	p.DayStart = c.date("day", p.Day)
	if c.err == nil {
		c.notFuture("day", p.DayStart.UnixMilli())
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"visits", p.Visits}, {"interactions", p.Interactions}} {
		if f.v == nil {
			c.fail(ReasonMissingField, "%s is required", f.name)
		} else if *f.v < 0 || *f.v > 1e12 {
			c.fail(ReasonBadValue, "%s %d is outside 0..10^12", f.name, *f.v)
		}
	}
	return p.DayStart.UnixMilli(), []string{p.Day}
}

// Ratings of the one-stop shops, best first (xuất sắc, tốt, khá, trung
// bình, yếu).
var Ratings = []string{"excellent", "good", "fair", "average", "poor"}

var ratingPeriodRE = regexp.MustCompile(`^(\d{4})(-(Q[1-4]|H[12]))?$`)

// Rating is the province's assessment of one unit's one-stop shop for a
// period (YYYY, YYYY-Qn or YYYY-Hn).
type Rating struct {
	AdminMeta
	Unit    string `json:"unit"`
	Period  string `json:"period"`
	Rating  string `json:"rating"`
	RatedAt string `json:"rated_at"`

	RatedMs    int64 `json:"-"`
	PeriodYear int   `json:"-"`
}

func (*Rating) Kind() AdminKind    { return KindRating }
func (r *Rating) EntityID() string { return r.Unit + "/" + r.Period }

func (r *Rating) check(c *checker) (int64, []string) {
	c.id("unit", r.Unit)
	if m := ratingPeriodRE.FindStringSubmatch(r.Period); m == nil {
		c.fail(ReasonBadTime, "period %q is not YYYY, YYYY-Q1..Q4 or YYYY-H1..H2", r.Period)
	} else {
		r.PeriodYear, _ = strconv.Atoi(m[1])
	}
	c.enum("rating", r.Rating, Ratings...)
	r.RatedMs = c.eventTime("rated_at", r.RatedAt)
	return r.RatedMs, []string{r.Unit, r.Period, r.Rating, strconv.FormatInt(r.RatedMs, 10)}
}

// UnitKinds are the kinds of unit in the registry.
var UnitKinds = []string{"city", "department", "ward", "commune"}

// Unit is the state of one unit of the city from a time on: the city
// People's Committee, a specialised department (phòng), or one of the
// commune-level units (7 wards, 5 communes), whether it has a one-stop
// shop, whether it signs documents digitally, and whether it still exists.
type Unit struct {
	AdminMeta
	UnitID           string `json:"unit_id"`
	Name             string `json:"name"`
	UnitKind         string `json:"kind"`
	OneStopShop      bool   `json:"one_stop_shop"`
	DigitalSignature *bool  `json:"digital_signature"`
	Status           string `json:"status"` // active, dissolved
	At               string `json:"at"`

	AtMs int64 `json:"-"`
}

func (*Unit) Kind() AdminKind    { return KindUnit }
func (u *Unit) EntityID() string { return u.UnitID }

func (u *Unit) check(c *checker) (int64, []string) {
	c.id("unit_id", u.UnitID)
	c.str("name", u.Name, true, 500)
	c.enum("kind", u.UnitKind, UnitKinds...)
	if u.DigitalSignature == nil {
		c.fail(ReasonMissingField, "digital_signature (true or false) is required")
	}
	c.enum("status", u.Status, "active", "dissolved")
	u.AtMs = c.eventTime("at", u.At)
	return u.AtMs, []string{u.UnitID, u.Status, strconv.FormatInt(u.AtMs, 10)}
}

// FeedbackStates are the states of a citizen's feedback or petition:
// received, answered (the handling published), reacted (the citizen's
// likes and dislikes of the answer, counted so far).
var FeedbackStates = []string{"received", "answered", "reacted"}

// Feedback is one state change of a citizen's feedback or petition
// (phản ánh, kiến nghị: PAKN) about administrative regulations or their
// handling, as the PAKN system reports it. Like a dossier, every event
// carries the unit, received and due times; likes and dislikes are counts
// (the newest reacted event wins). No personal data: the id is opaque and
// neither the sender nor the text is carried.
type Feedback struct {
	AdminMeta
	FeedbackID string `json:"feedback_id"`
	Unit       string `json:"unit"`
	State      string `json:"state"`
	At         string `json:"at"`
	ReceivedAt string `json:"received_at"`
	DueAt      string `json:"due_at"`
	Likes      *int   `json:"likes,omitempty"`
	Dislikes   *int   `json:"dislikes,omitempty"`

	AtMs, ReceivedMs, DueMs int64 `json:"-"`
}

func (*Feedback) Kind() AdminKind    { return KindFeedback }
func (f *Feedback) EntityID() string { return f.FeedbackID }

func (f *Feedback) check(c *checker) (int64, []string) {
	c.id("feedback_id", f.FeedbackID)
	c.opaque("feedback_id", f.FeedbackID)
	c.id("unit", f.Unit)
	c.enum("state", f.State, FeedbackStates...)
	for _, n := range []struct {
		name string
		v    *int
	}{{"likes", f.Likes}, {"dislikes", f.Dislikes}} {
		if n.v != nil && (*n.v < 0 || *n.v > 1000000) {
			c.fail(ReasonBadValue, "%s %d is outside 0..10^6", n.name, *n.v)
		}
	}
	if c.err == nil && f.State != "reacted" && (f.Likes != nil || f.Dislikes != nil) {
		c.fail(ReasonBadValue, "likes and dislikes belong to a reacted event, not %s", f.State)
	}
	f.AtMs = c.eventTime("at", f.At)
	f.ReceivedMs = c.eventTime("received_at", f.ReceivedAt)
	f.DueMs = c.time("due_at", f.DueAt)
	if c.err == nil {
		switch {
		case f.DueMs < f.ReceivedMs:
			c.fail(ReasonBadTime, "due_at %s is before received_at %s", f.DueAt, f.ReceivedAt)
		case f.AtMs < f.ReceivedMs:
			c.fail(ReasonBadTime, "state %s at %s is before the feedback was received (%s)", f.State, f.At, f.ReceivedAt)
		case f.State == "received" && f.AtMs != f.ReceivedMs:
			c.fail(ReasonBadTime, "a received event must have at = received_at (%s ≠ %s)", f.At, f.ReceivedAt)
		}
	}
	return f.AtMs, []string{f.FeedbackID, f.State, strconv.FormatInt(f.AtMs, 10)}
}

// ---- validation helpers ---------------------------------------------------

// checker collects the first validation error.
type checker struct {
	receivedMs int64
	limits     AdminLimits
	err        *ValidationError
}

func (c *checker) fail(r Reason, format string, args ...any) {
	if c.err == nil {
		c.err = Invalid(r, format, args...)
	}
}

func (c *checker) str(name, v string, required bool, max int) {
	switch {
	case v == "" && required:
		c.fail(ReasonMissingField, "%s is required", name)
	case !utf8.ValidString(v):
		c.fail(ReasonInvalidUTF8, "%s is not valid UTF-8", name)
	case len(v) > max:
		c.fail(ReasonTooLong, "%s is %d bytes, at most %d", name, len(v), max)
	}
}

var idRE = regexp.MustCompile(`^[\p{L}\p{N}._:/@#+-]+$`)

// id checks an identifier: required, at most 128 bytes, no spaces.
func (c *checker) id(name, v string) {
	c.str(name, v, true, 128)
	if c.err == nil && !idRE.MatchString(v) {
		c.fail(ReasonBadValue, "%s %q may hold letters, digits and . _ : / @ # + - only", name, v)
	}
}

var (
	citizenIDRE = regexp.MustCompile(`^(\d{9}|\d{12})$`)    // CMND, CCCD
	phoneRE     = regexp.MustCompile(`^(\+?84|0)\d{9,10}$`) // Vietnamese phone numbers
)

// opaque rejects ids that look like a citizen's ID card or phone number:
// dossiers must carry opaque ids, never personal data.
func (c *checker) opaque(name, v string) {
	if c.err == nil && (citizenIDRE.MatchString(v) || phoneRE.MatchString(v) || strings.Contains(v, "@")) {
		c.fail(ReasonPersonalData, "%s looks like an ID card number, phone number or e-mail address; use the system's opaque dossier id", name)
		c.err.Field = name
	}
}

func (c *checker) enum(name, v string, allowed ...string) {
	if v == "" {
		c.fail(ReasonMissingField, "%s is required (one of %s)", name, strings.Join(allowed, ", "))
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	if len(v) > 64 {
		v = v[:64]
	}
	c.fail(ReasonBadEnum, "%s %q is not one of %s", name, v, strings.Join(allowed, ", "))
}

func (c *checker) intRange(name string, v *int, lo, hi int) {
	if v == nil {
		c.fail(ReasonMissingField, "%s is required", name)
	} else if *v < lo || *v > hi {
		c.fail(ReasonBadValue, "%s %d is outside %d..%d", name, *v, lo, hi)
	}
}

// minAdminMs and maxDateTimeMs bound every time: ClickHouse DateTime is
// 32-bit, and the city's systems hold nothing older than 2000.
const minAdminMs = 946659600000 // 2000-01-01T00:00:00+07:00

// ParseAdminTime reads an RFC 3339 time; without an offset it is city time.
func ParseAdminTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, Location); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2021-06-25T16:30:00+07:00", s)
}

func (c *checker) time(name, v string) int64 {
	if v == "" {
		c.fail(ReasonMissingField, "%s is required (RFC 3339, e.g. 2021-06-25T16:30:00+07:00)", name)
		return 0
	}
	t, err := ParseAdminTime(v)
	if err != nil {
		c.fail(ReasonBadTime, "%s: %v", name, err)
		return 0
	}
	ms := t.UnixMilli()
	if ms < minAdminMs || ms >= maxDateTimeMs {
		c.fail(ReasonBadTime, "%s %s is outside 2000..2100", name, v)
		return 0
	}
	return ms
}

func (c *checker) optTime(name, v string) int64 {
	if v == "" {
		return 0
	}
	return c.time(name, v)
}

// eventTime is a time at which something happened: not in the future.
func (c *checker) eventTime(name, v string) int64 {
	ms := c.time(name, v)
	if c.err == nil {
		c.notFuture(name, ms)
	}
	return ms
}

func (c *checker) notFuture(name string, ms int64) {
	if c.receivedMs > 0 && ms > c.receivedMs+c.limits.MaxFuture.Milliseconds() {
		c.fail(ReasonBadTime, "%s %s is in the future (received %s)", name,
			time.UnixMilli(ms).In(Location).Format(time.RFC3339), time.UnixMilli(c.receivedMs).In(Location).Format(time.RFC3339))
	}
}

// date reads YYYY-MM-DD as midnight in city time.
func (c *checker) date(name, v string) time.Time {
	if v == "" {
		c.fail(ReasonMissingField, "%s is required (YYYY-MM-DD)", name)
		return time.Time{}
	}
	t, err := time.ParseInLocation("2006-01-02", v, Location)
	if err != nil {
		c.fail(ReasonBadTime, "%s %q is not a date YYYY-MM-DD", name, v)
		return time.Time{}
	}
	if ms := t.UnixMilli(); ms < minAdminMs || ms >= maxDateTimeMs {
		c.fail(ReasonBadTime, "%s %s is outside 2000..2100", name, v)
		return time.Time{}
	}
	return t
}
