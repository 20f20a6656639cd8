package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A dead letter keeps at most DeadLetterRawMax bytes of what was received,
// with the length and SHA-256 of all of it, and its JSON never exceeds
// MaxDeadLetterBytes, however large or hostile the input, its topic or its
// detail: the dead-letter record always fits Kafka's record limit.
func TestDeadLetterSizeIsBounded(t *testing.T) {
	worstText := strings.Repeat("\x01<>&\"\\", 20000) // every byte escaped by encoding/json
	for _, n := range []int{0, 1, DeadLetterRawMax - 1, DeadLetterRawMax, DeadLetterRawMax + 1, 700_000, 4 << 20} {
		raw := bytes.Repeat([]byte{0xff}, n)
		dl := NewDeadLetter("mqtt", worstText, raw, 1764000000000, Invalid(ReasonOversize, "%s", worstText))
		b, err := MarshalDeadLetter(&dl)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxDeadLetterBytes {
			t.Errorf("raw of %d bytes: dead letter is %d bytes, above MaxDeadLetterBytes %d", n, len(b), MaxDeadLetterBytes)
		}
		sum := sha256.Sum256(raw)
		if dl.RawLen != n || dl.RawSHA256 != hex.EncodeToString(sum[:]) || len(dl.Raw) != min(n, DeadLetterRawMax) ||
			dl.Truncated != (n > DeadLetterRawMax) || !bytes.Equal(dl.Raw, raw[:len(dl.Raw)]) {
			t.Errorf("raw of %d bytes: kept %d, raw_len %d, truncated %v", n, len(dl.Raw), dl.RawLen, dl.Truncated)
		}
		if n > DeadLetterRawMax && !strings.Contains(dl.Detail, dl.RawSHA256) {
			t.Errorf("raw of %d bytes: the detail does not say what was cut: %s", n, dl.Detail[len(dl.Detail)-200:])
		}
		if len(dl.SourceTopic) > MaxDeadLetterText || len(dl.Detail) > MaxDeadLetterText+200 {
			t.Errorf("topic %d and detail %d bytes, above %d", len(dl.SourceTopic), len(dl.Detail), MaxDeadLetterText)
		}
		var back DeadLetter
		if err := UnmarshalDeadLetter(b, &back); err != nil || back.RawLen != n || back.ID != dl.ID {
			t.Errorf("round trip: %v %+v", err, back.RawLen)
		}
	}
	// The id still tells two large inputs apart beyond the kept prefix.
	a := append(bytes.Repeat([]byte("a"), DeadLetterRawMax), 'x')
	b := append(bytes.Repeat([]byte("a"), DeadLetterRawMax), 'y')
	if NewDeadLetter("mqtt", "t", a, 1, nil).ID == NewDeadLetter("mqtt", "t", b, 1, nil).ID {
		t.Error("two inputs differing after the kept prefix have the same dead-letter id")
	}
}

// A reading that passed Validate encodes within MaxReadingBytes, even with
// every text field at its limit and escaped.
func TestReadingSizeIsBounded(t *testing.T) {
	r := Reading{Partner: strings.Repeat("p", 128), DeviceID: strings.Repeat("d", 128), Metric: strings.Repeat("<", 128),
		Unit: strings.Repeat("&", 32), Kind: KindString, String: strings.Repeat("\x01", 4096), Ward: strings.Repeat(">", 256),
		ObservedMs: 1764000000000, ReceivedMs: 1764000000000}
	r.ID = ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs)
	if err := r.Validate(NoWindow); err != nil {
		t.Fatal(err)
	}
	b, err := MarshalReading(&r)
	if err != nil || len(b) > MaxReadingBytes {
		t.Errorf("reading is %d bytes (%v), above MaxReadingBytes %d", len(b), err, MaxReadingBytes)
	}
}

// A dossier refused as personal data leaves a dead letter with the field
// name and a hash of the value, never the value itself, whatever the case
// of the key (encoding/json matches keys case-insensitively).
func TestPersonalDataDeadLetterKeepsNoValue(t *testing.T) {
	for _, id := range []string{"034095001234", "0912345678", "citizen@mail.vn"} {
		for _, key := range []string{"dossier_id", "Dossier_ID"} {
			raw := strings.Replace(validAdmin[KindDossier], `"dossier_id":"000.00.26.H50-210315-0001"`, `"`+key+`":"`+id+`"`, 1)
			_, err := prepare(KindDossier, raw)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Reason != ReasonPersonalData {
				t.Fatalf("%s: %v, want personal_data", id, err)
			}
			dl := NewDeadLetter("http", "POST /v1/events/dossier system=x #0", []byte(raw), receipt, err)
			b, _ := MarshalDeadLetter(&dl)
			var back DeadLetter
			if err := UnmarshalDeadLetter(b, &back); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(back.Raw), id) || strings.Contains(back.Detail, id) || strings.Contains(string(b), id) {
				t.Errorf("%s under %s: the dead letter keeps the value: %s", id, key, back.Raw)
			}
			sum := sha256.Sum256([]byte(`"` + id + `"`))
			if !strings.Contains(string(back.Raw), `"`+key+`":"sha256:`+hex.EncodeToString(sum[:])+`"`) || !strings.Contains(back.Detail, "dossier_id") {
				t.Errorf("%s under %s: the dead letter lacks the field name and hash: %s / %s", id, key, back.Raw, back.Detail)
			}
			if !strings.Contains(string(back.Raw), `"procedure_code":"1.001022.000.00.00.H50"`) {
				t.Errorf("the other fields are lost: %s", back.Raw)
			}
		}
	}
}

// A validation error wrapped with what was being done keeps its reason and
// detail in the dead letter instead of becoming a generic bad_record.
func TestDeadLetterReasonOfWrappedError(t *testing.T) {
	err := fmt.Errorf("decoding reading: %w", Invalid(ReasonOversize, "too large"))
	dl := NewDeadLetter("mqtt", "sensors/viettel/d1", []byte("x"), 1764000000000, err)
	if dl.Reason != ReasonOversize || dl.Detail != "too large" {
		t.Fatalf("wrapped validation error: reason %q detail %q, want %q %q", dl.Reason, dl.Detail, ReasonOversize, "too large")
	}
}
