package event

import (
	"strings"
	"testing"
	"time"
)

// A valid event of every kind, as an administrative system sends it.
var validAdmin = map[AdminKind]string{
	KindProcedure: `{"code":"1.001022.000.00.00.H50","name":"Đăng ký khai sinh","field":"justice","level":"commune","processing_days":0,"status":"published","at":"2020-10-15T08:00:00+07:00"}`,
	KindDossier:   `{"dossier_id":"000.00.26.H50-210315-0001","procedure_code":"1.001022.000.00.00.H50","unit":"ubnd-tp","channel":"online","state":"resolved","at":"2021-03-15T10:30:00+07:00","received_at":"2021-03-15T09:00:00+07:00","due_at":"2021-03-15T17:00:00+07:00"}`,
	KindDocument:  `{"document_id":"vb-ubndtp-32/QĐ-UBND","unit":"ubnd-tp","number":"32/QĐ-UBND","doc_type":"quyết định","issued_at":"2021-01-07T10:00:00+07:00","signed":true}`,
	KindTask:      `{"task_id":"kh32-2021-3.01","plan":"32/QĐ-UBND","plan_year":2021,"main_task":3,"title":"Rà soát, cắt giảm thời gian giải quyết TTHC","owner_unit":"phong-noi-vu","due_date":"2021-06-30","state":"done","at":"2021-05-20T15:00:00+07:00"}`,
	KindBudget:    `{"entry_id":"thu-2021-03-tax","type":"revenue","period":"2021-03","amount_vnd":12500000000,"source":"tax","at":"2021-03-31T16:00:00+07:00"}`,
	KindPortal:    `{"day":"2021-06-29","visits":2710,"interactions":205}`,
	KindRating:    `{"unit":"xa-hua-la","period":"2021-H1","rating":"excellent","rated_at":"2021-06-28T09:00:00+07:00"}`,
	KindUnit:      `{"unit_id":"xa-hua-la","name":"UBND xã Hua La","kind":"commune","one_stop_shop":true,"digital_signature":true,"status":"active","at":"2021-03-01T09:00:00+07:00"}`,
	KindFeedback:  `{"feedback_id":"pakn-2021-0001","unit":"ubnd-tp","state":"reacted","at":"2021-03-20T09:00:00+07:00","received_at":"2021-03-10T09:00:00+07:00","due_at":"2021-03-20T17:00:00+07:00","likes":3,"dislikes":1}`,
}

var receipt = time.Date(2026, 11, 24, 10, 0, 0, 0, Location).UnixMilli()

func prepare(k AdminKind, raw string) (AdminEvent, error) {
	ev, err := DecodeAdmin(k, []byte(raw))
	if err != nil {
		return nil, err
	}
	return ev, PrepareAdmin(ev, receipt, DefaultAdminLimits)
}

func TestValidAdminEventsOfEveryKind(t *testing.T) {
	for _, k := range AdminKinds {
		ev, err := prepare(k, validAdmin[k])
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if ev.Kind() != k || ev.EntityID() == "" || len(ev.Meta().ID) != 32 || ev.Meta().ReceivedMs != receipt || ev.Meta().VersionMs <= 0 {
			t.Errorf("%s: kind %s, entity %q, id %q, rt %d, version %d", k, ev.Kind(), ev.EntityID(), ev.Meta().ID, ev.Meta().ReceivedMs, ev.Meta().VersionMs)
		}
		if topic := AdminTopic(k); topic != "ioc.admin."+string(k)+".v1" {
			t.Errorf("topic of %s: %s", k, topic)
		}
		if got, ok := KindOfTopic("prefix." + AdminTopic(k)); !ok || got != k {
			t.Errorf("KindOfTopic(%s) = %s", AdminTopic(k), got)
		}
	}
}

// Every rule of every contract, with the reason a system is told.
func TestAdminValidationReasons(t *testing.T) {
	set := func(raw, field, value string) string {
		// Replaces "field":<anything up to , or }> with "field":value.
		i := strings.Index(raw, `"`+field+`":`)
		if i < 0 {
			return strings.TrimSuffix(raw, "}") + `,"` + field + `":` + value + "}"
		}
		j := i + len(field) + 3
		depth, k := 0, j
		for ; k < len(raw); k++ {
			c := raw[k]
			if c == '"' {
				k++
				for raw[k] != '"' {
					k++
				}
			}
			if (c == ',' || c == '}') && depth == 0 {
				break
			}
		}
		if value == "" { // remove the field
			start := i
			if raw[i-1] == ',' {
				start--
			}
			return raw[:start] + raw[k:]
		}
		return raw[:j] + value + raw[k:]
	}
	for _, c := range []struct {
		kind         AdminKind
		field, value string
		want         Reason
	}{
		{KindProcedure, "field", `"health"`, ReasonBadEnum},
		{KindProcedure, "processing_days", "", ReasonMissingField},
		{KindProcedure, "processing_days", "400", ReasonBadValue},
		{KindProcedure, "processing_days", "1.5", ReasonBadValue},
		{KindProcedure, "status", `"draft"`, ReasonBadEnum},
		{KindProcedure, "code", `"has space"`, ReasonBadValue},
		{KindProcedure, "name", `"` + strings.Repeat("x", 1001) + `"`, ReasonTooLong},
		{KindDossier, "dossier_id", `"034095001234"`, ReasonPersonalData},
		{KindDossier, "dossier_id", `"0912345678"`, ReasonPersonalData},
		{KindDossier, "dossier_id", `"a@b.vn"`, ReasonPersonalData},
		{KindDossier, "state", `"lost"`, ReasonBadEnum},
		{KindDossier, "channel", "", ReasonMissingField},
		{KindDossier, "due_at", `"2021-03-14T09:00:00+07:00"`, ReasonBadTime},
		{KindDossier, "at", `"2021-03-15T08:00:00+07:00"`, ReasonBadTime},
		{KindDossier, "at", `"2099-01-01T00:00:00+07:00"`, ReasonBadTime},
		{KindDossier, "at", `"15/03/2021"`, ReasonBadTime},
		{KindDossier, "state", `"received"`, ReasonBadTime}, // at must equal received_at
		{KindDocument, "signed", "", ReasonMissingField},
		{KindDocument, "signed", `"yes"`, ReasonBadValue},
		{KindDocument, "issued_at", `"1999-12-31T00:00:00+07:00"`, ReasonBadTime},
		{KindTask, "main_task", "0", ReasonBadValue},
		{KindTask, "plan_year", "1999", ReasonBadValue},
		{KindTask, "due_date", `"30/06/2021"`, ReasonBadTime},
		{KindTask, "state", `"cancelled"`, ReasonBadEnum},
		{KindBudget, "amount_vnd", "", ReasonMissingField},
		{KindBudget, "amount_vnd", "1e17", ReasonBadValue},
		{KindBudget, "period", `"Q1-2021"`, ReasonBadTime},
		{KindBudget, "authority", `"province"`, ReasonBadValue}, // only for estimates
		{KindBudget, "type", `"spending"`, ReasonBadEnum},
		{KindPortal, "visits", "-1", ReasonBadValue},
		{KindPortal, "day", `"2099-01-01"`, ReasonBadTime},
		{KindRating, "period", `"2021-S1"`, ReasonBadTime},
		{KindRating, "rating", `"great"`, ReasonBadEnum},
		{KindUnit, "kind", `"province"`, ReasonBadEnum},
		{KindUnit, "digital_signature", "", ReasonMissingField},
		{KindUnit, "status", `"merged"`, ReasonBadEnum},
		{KindUnit, "name", `""`, ReasonMissingField},
	} {
		raw := set(validAdmin[c.kind], c.field, c.value)
		_, err := prepare(c.kind, raw)
		ve, ok := err.(*ValidationError)
		if !ok || ve.Reason != c.want {
			t.Errorf("%s with %s=%s: %v, want %s\n%s", c.kind, c.field, c.value, err, c.want, raw)
		}
	}
	for _, c := range []struct {
		raw  string
		want Reason
	}{
		{``, ReasonEmpty},
		{`[{"day":"2021-06-29"}]`, ReasonNotJSON},
		{`{"day":"2021-06-29",`, ReasonNotJSON},
		{"{\"day\":\"2021-06-29\xff\"}", ReasonInvalidUTF8},
	} {
		if _, err := prepare(KindPortal, c.raw); err == nil || err.(*ValidationError).Reason != c.want {
			t.Errorf("%q: %v, want %s", c.raw, err, c.want)
		}
	}
	if _, err := NewAdminEvent("weather"); err == nil || err.(*ValidationError).Reason != ReasonUnknownKind {
		t.Errorf("unknown kind: %v", err)
	}
}

// Ids are deterministic over entity, state and time: a replay has the same
// id, another state or time another one, and a wrong id is refused.
func TestAdminIDs(t *testing.T) {
	a, _ := prepare(KindDossier, validAdmin[KindDossier])
	b, _ := prepare(KindDossier, strings.Replace(validAdmin[KindDossier], `"channel":"online"`, `"channel":"in_person"`, 1))
	c, _ := prepare(KindDossier, strings.Replace(validAdmin[KindDossier], `"at":"2021-03-15T10:30:00+07:00"`, `"at":"2021-03-15T10:31:00+07:00"`, 1))
	if a.Meta().ID != b.Meta().ID {
		t.Errorf("a correction of the same state change got another id")
	}
	if a.Meta().ID == c.Meta().ID {
		t.Errorf("two state changes at different times got one id")
	}
	withID := strings.Replace(validAdmin[KindDossier], "{", `{"id":"`+a.Meta().ID+`",`, 1)
	if _, err := prepare(KindDossier, withID); err != nil {
		t.Errorf("the right id refused: %v", err)
	}
	wrong := strings.Replace(validAdmin[KindDossier], "{", `{"id":"00000000000000000000000000000000",`, 1)
	if _, err := prepare(KindDossier, wrong); err == nil || err.(*ValidationError).Reason != ReasonBadID {
		t.Errorf("a wrong id: %v", err)
	}
	// reported_at is the version, and does not change the id.
	v, _ := prepare(KindDossier, strings.Replace(validAdmin[KindDossier], "{", `{"reported_at":"2021-03-16T08:00:00+07:00",`, 1))
	if v.Meta().ID != a.Meta().ID || v.Meta().VersionMs <= a.Meta().VersionMs {
		t.Errorf("reported_at: id %s (want %s), version %d (want > %d)", v.Meta().ID, a.Meta().ID, v.Meta().VersionMs, a.Meta().VersionMs)
	}
	// A time without an offset is city time.
	local, _ := prepare(KindDossier, strings.ReplaceAll(validAdmin[KindDossier], "+07:00", ""))
	if local.Meta().ID != a.Meta().ID {
		t.Errorf("a time without offset is not read as Asia/Ho_Chi_Minh")
	}
}

// Unknown fields are dropped: they never reach Kafka or ClickHouse.
func TestAdminUnknownFieldsDropped(t *testing.T) {
	raw := strings.Replace(validAdmin[KindDossier], "{", `{"citizen_name":"Nguyễn Văn A","phone":"0912345678",`, 1)
	ev, err := prepare(KindDossier, raw)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := MarshalAdmin(ev)
	if strings.Contains(string(out), "Nguyễn") || strings.Contains(string(out), "0912345678") {
		t.Errorf("personal data kept: %s", out)
	}
}

func FuzzPrepareAdminRoundTrip(f *testing.F) {
	for _, raw := range validAdmin {
		f.Add(raw)
	}
	f.Add(`{"at":"2021-01-01T00:00:00Z","amount_vnd":-1}`)
	f.Fuzz(func(t *testing.T, raw string) {
		for _, k := range AdminKinds {
			ev, err := DecodeAdmin(k, []byte(raw))
			if err != nil {
				if _, ok := err.(*ValidationError); !ok {
					t.Fatalf("%s: error of type %T: %v", k, err, err)
				}
				continue
			}
			if err := PrepareAdmin(ev, receipt, DefaultAdminLimits); err != nil {
				if _, ok := err.(*ValidationError); !ok {
					t.Fatalf("%s: error of type %T: %v", k, err, err)
				}
				continue
			}
			// A valid event survives its own encoding unchanged.
			b, err := MarshalAdmin(ev)
			if err != nil {
				t.Fatal(err)
			}
			again, err := DecodeAdmin(k, b)
			if err != nil {
				t.Fatalf("%s: re-decoding %s: %v", k, b, err)
			}
			if err := PrepareAdmin(again, receipt, DefaultAdminLimits); err != nil || again.Meta().ID != ev.Meta().ID {
				t.Fatalf("%s: re-validating %s: %v (id %s vs %s)", k, b, err, again.Meta().ID, ev.Meta().ID)
			}
		}
	})
}
