package event

import (
	"encoding/json"
	"strings"
	"testing"
)

// The index fields of docs/service-index.md are optional: a v1 event
// without them is still valid, one with them keeps them through a
// re-encoding, and each bad value is refused with its reason.
const (
	dossierIndexed = `{"dossier_id":"000.00.26.H50-210315-0002","procedure_code":"1.001022.000.00.00.H50","unit":"ubnd-tp","channel":"online","state":"resolved","at":"2021-03-15T10:30:00+07:00","received_at":"2021-03-15T09:00:00+07:00","due_at":"2021-03-15T17:00:00+07:00",` +
		`"full_online":true,"fee_vnd":50000,"paid_online":true,"inputs":4,"inputs_digitised":4,"inputs_reused":2,"inputs_from_store":1,"inputs_verified":3,"e_result":true,"result_to_store":true,"e_certified_copy":false,"synced_national":true,"applicant_rating":"very_satisfied"}`
	procedureIndexed = `{"code":"1.001022.000.00.00.H50","name":"Đăng ký khai sinh","field":"justice","level":"commune","processing_days":0,"status":"published","at":"2020-10-15T08:00:00+07:00",` +
		`"decision_at":"2020-10-01T00:00:00+07:00","basis_in_force_at":"2020-10-10T00:00:00+07:00","posted_at":"2020-10-03T00:00:00+07:00","posted_complete":true,"full_online":true,"fee_bearing":true,"online_payment":true,"paper_result":false}`
)

func TestAdminIndexFieldsKeptAndOptional(t *testing.T) {
	ev, err := prepare(KindDossier, dossierIndexed)
	if err != nil {
		t.Fatal(err)
	}
	d := ev.(*Dossier)
	if d.FeeVND == nil || *d.FeeVND != 50000 || !*d.PaidOnline || *d.InputsVerified != 3 || d.ApplicantRating != "very_satisfied" || !*d.SyncedNational {
		t.Errorf("dossier index fields not read: %+v", d.DossierExt)
	}
	out, _ := MarshalAdmin(ev)
	var back map[string]any
	_ = json.Unmarshal(out, &back)
	for _, f := range []string{"full_online", "fee_vnd", "paid_online", "inputs", "inputs_digitised", "inputs_reused", "inputs_from_store", "inputs_verified", "e_result", "result_to_store", "e_certified_copy", "synced_national", "applicant_rating"} {
		if _, ok := back[f]; !ok {
			t.Errorf("re-encoded dossier lost %s: %s", f, out)
		}
	}
	// Without them (a v1 producer), nothing of them is written.
	v1, err := prepare(KindDossier, validAdmin[KindDossier])
	if err != nil {
		t.Fatal(err)
	}
	out, _ = MarshalAdmin(v1)
	if strings.Contains(string(out), "fee_vnd") || strings.Contains(string(out), "applicant_rating") {
		t.Errorf("a v1 dossier gained fields on re-encoding: %s", out)
	}
	// The id does not depend on them (a correction that adds them replaces
	// the v1 row instead of adding one).
	withRating, _ := prepare(KindDossier, strings.Replace(validAdmin[KindDossier], "{", `{"applicant_rating":"satisfied",`, 1))
	if withRating.Meta().ID != v1.Meta().ID {
		t.Errorf("adding index fields changed the event id")
	}

	pe, err := prepare(KindProcedure, procedureIndexed)
	if err != nil {
		t.Fatal(err)
	}
	p := pe.(*Procedure)
	if p.DecisionMs == 0 || p.BasisInForceMs <= p.DecisionMs || p.PostedMs <= p.DecisionMs || !*p.FeeBearing || !*p.FullOnline {
		t.Errorf("procedure index fields not read: %+v", p)
	}
}

func TestAdminIndexValidation(t *testing.T) {
	for _, c := range []struct {
		kind      AdminKind
		raw, from string
		to        string
		want      Reason
	}{
		{KindDossier, dossierIndexed, `"fee_vnd":50000`, `"fee_vnd":-1`, ReasonBadValue},
		{KindDossier, dossierIndexed, `"fee_vnd":50000`, `"fee_vnd":0`, ReasonBadValue}, // paid online with nothing to pay
		{KindDossier, dossierIndexed, `"paid_online":true`, `"paid_online":"yes"`, ReasonBadValue},
		{KindDossier, dossierIndexed, `"inputs_reused":2`, `"inputs_reused":5`, ReasonBadValue}, // more than inputs
		{KindDossier, dossierIndexed, `"inputs_verified":3`, `"inputs_verified":-1`, ReasonBadValue},
		{KindDossier, dossierIndexed, `"inputs":4,`, ``, ReasonMissingField}, // counts without inputs
		{KindDossier, dossierIndexed, `"inputs":4`, `"inputs":1001`, ReasonBadValue},
		{KindDossier, dossierIndexed, `"e_result":true`, `"e_result":false`, ReasonBadValue}, // pushed to the store without an e-result
		{KindDossier, dossierIndexed, `"applicant_rating":"very_satisfied"`, `"applicant_rating":"5 stars"`, ReasonBadEnum},
		{KindProcedure, procedureIndexed, `"posted_at":"2020-10-03T00:00:00+07:00"`, `"posted_at":"2020-09-03T00:00:00+07:00"`, ReasonBadTime},
		{KindProcedure, procedureIndexed, `"decision_at":"2020-10-01T00:00:00+07:00"`, `"decision_at":"1/10/2020"`, ReasonBadTime},
		{KindProcedure, procedureIndexed, `"fee_bearing":true`, `"fee_bearing":false`, ReasonBadValue}, // online payment of nothing
		{KindProcedure, procedureIndexed, `"paper_result":false`, `"paper_result":true`, ReasonBadValue},
		{KindFeedback, validAdmin[KindFeedback], `"dislikes":1`, `"dislikes":-1`, ReasonBadValue},
		{KindFeedback, validAdmin[KindFeedback], `"state":"reacted"`, `"state":"answered"`, ReasonBadValue}, // likes on an answer event
		{KindFeedback, validAdmin[KindFeedback], `"state":"reacted"`, `"state":"closed"`, ReasonBadEnum},
		{KindFeedback, validAdmin[KindFeedback], `"feedback_id":"pakn-2021-0001"`, `"feedback_id":"0912345678"`, ReasonPersonalData},
		{KindFeedback, validAdmin[KindFeedback], `"due_at":"2021-03-20T17:00:00+07:00"`, `"due_at":"2021-03-01T17:00:00+07:00"`, ReasonBadTime},
		{KindFeedback, validAdmin[KindFeedback], `"unit":"ubnd-tp",`, ``, ReasonMissingField},
	} {
		raw := strings.Replace(c.raw, c.from, c.to, 1)
		if raw == c.raw {
			t.Fatalf("case %s %s: pattern not found", c.kind, c.from)
		}
		_, err := prepare(c.kind, raw)
		ve, ok := err.(*ValidationError)
		if !ok || ve.Reason != c.want {
			t.Errorf("%s with %s → %s: %v, want %s", c.kind, c.from, c.to, err, c.want)
		}
	}
}

func FuzzDossierIndexFields(f *testing.F) {
	f.Add(dossierIndexed)
	f.Add(procedureIndexed)
	f.Fuzz(func(t *testing.T, raw string) {
		for _, k := range []AdminKind{KindDossier, KindProcedure, KindFeedback} {
			ev, err := prepare(k, raw)
			if err != nil {
				if ve, ok := err.(*ValidationError); !ok || ve.Reason == "" {
					t.Fatalf("%s: error without a reason: %v", k, err)
				}
				continue
			}
			if d, ok := ev.(*Dossier); ok && d.Inputs != nil {
				for _, v := range []*int{d.InputsDigitised, d.InputsReused, d.InputsFromStore, d.InputsVerified} {
					if v != nil && (*v < 0 || *v > *d.Inputs) {
						t.Fatalf("accepted a count outside 0..inputs: %s", raw)
					}
				}
			}
		}
	})
}
