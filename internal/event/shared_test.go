package event

import (
	"fmt"
	"sync"
	"testing"
)

func sharedRecords(t testing.TB, n int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		r := benchReading
		r.DeviceID = fmt.Sprintf("aq-%d", i)
		r.ObservedMs += int64(i)
		r.ID = ReadingID(r.Partner, r.DeviceID, r.Metric, r.ObservedMs)
		b, err := MarshalReading(&r)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = b
	}
	return recs
}

// Every follower gets exactly what decoding the bytes alone gives,
// errors included, whichever follower decodes first.
func TestSharedReadingsSameAsAlone(t *testing.T) {
	good := sharedRecords(t, 1)[0]
	badID := []byte(`{"id":"x","partner":"p","device_id":"d","metric":"m","kind":1,"v":1,"t":1764000000000,"rt":1764000000000,"ts_src":true,"registered":false}`)
	for _, rec := range [][]byte{good, badID, []byte(`{"id":`), []byte(`[]`), []byte(`{}`)} {
		s := NewSharedReadings(16)
		leaves := []func(){s.Join(), s.Join(), s.Join()}
		for i, validate := range []bool{false, true, true} {
			var got, want Reading
			var err error
			if validate {
				err = s.DecodeValid(rec, &got)
			} else {
				err = s.Decode(rec, &got)
			}
			werr := decodeAlone(rec, &want, validate)
			if fmt.Sprint(err) != fmt.Sprint(werr) || got != want {
				t.Errorf("%s, follower %d (validate %v): got %+v, %v; want %+v, %v", rec, i, validate, got, err, want, werr)
			}
		}
		if hits, misses := s.Stats(); hits != 2 || misses != 1 {
			t.Errorf("%s: %d hits, %d misses; want 2 and 1", rec, hits, misses)
		}
		if len(s.cur)+len(s.prev) != 0 {
			t.Errorf("%s: %d entries kept after every follower took it", rec, len(s.cur)+len(s.prev))
		}
		for _, l := range leaves {
			l()
		}
	}
}

// A record no other follower takes is not kept for ever, and a lone
// follower keeps nothing.
func TestSharedReadingsBounded(t *testing.T) {
	s := NewSharedReadings(100)
	leave := s.Join()
	var r Reading
	for _, rec := range sharedRecords(t, 50) {
		if err := s.DecodeValid(rec, &r); err != nil {
			t.Fatal(err)
		}
	}
	if hits, misses := s.Stats(); hits+misses != 0 || len(s.cur) != 0 {
		t.Fatalf("one follower: %d hits, %d misses, %d entries; want none", hits, misses, len(s.cur))
	}
	leave2 := s.Join()
	for _, rec := range sharedRecords(t, 1000) {
		if err := s.DecodeValid(rec, &r); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.cur) + len(s.prev); n > 200 {
		t.Fatalf("%d entries kept; want at most 2 × 100", n)
	}
	leave2()
	leave2() // leaving twice counts once
	if s.followers != 1 || len(s.cur)+len(s.prev) != 0 {
		t.Fatalf("after a follower left: %d followers, %d entries; want 1 and none", s.followers, len(s.cur)+len(s.prev))
	}
	leave()
}

// Followers on their own goroutines, as under `ioc run` (go test -race).
func TestSharedReadingsConcurrent(t *testing.T) {
	s := NewSharedReadings(64)
	recs := sharedRecords(t, 500)
	var wg sync.WaitGroup
	for f := 0; f < 3; f++ {
		leave := s.Join()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer leave()
			for i, rec := range recs {
				var r Reading
				if err := s.DecodeValid(rec, &r); err != nil || r.DeviceID != fmt.Sprintf("aq-%d", i) {
					t.Errorf("record %d: %+v, %v", i, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkThreeFollowers: what `ioc run` does for every reading: the
// stream's batch writer and the monitor decode and validate it, the wall
// decodes it.
func BenchmarkThreeFollowers(b *testing.B) {
	recs := sharedRecords(b, 4096)
	b.Run("each_decodes", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rec := recs[i%len(recs)]
			for f := 0; f < 3; f++ {
				var r Reading
				err := UnmarshalReading(rec, &r)
				if err == nil && f < 2 {
					err = r.Validate(NoWindow)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("shared", func(b *testing.B) {
		s := NewSharedReadings(8192)
		for f := 0; f < 3; f++ {
			defer s.Join()()
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rec := recs[i%len(recs)]
			for f := 0; f < 3; f++ {
				var r Reading
				var err error
				if f < 2 {
					err = s.DecodeValid(rec, &r)
				} else {
					err = s.Decode(rec, &r)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
