package event

import (
	"bytes"
	"hash/maphash"
	"sync"
)

// SharedReadings decodes each reading record once per process for all the
// followers of the readings topic that run in it. Under `ioc run` three of
// them read every record (stream's batch writer, the monitor, the wall),
// and the stream role runs two (the batch writer and the monitor); each
// decoded and validated its own copy (the SHA-256 of the id included),
// which was their largest cost of our own after kafka-go's fetch loop
// (docs/performance.md).
//
// Entries are found by the record's bytes (a hash, then a byte-for-byte
// comparison), so a hit always gives what decoding those bytes gives; a
// miss just decodes. An entry is dropped once every follower that joined
// took it, and in any case after two generations of genSize entries (a
// follower that never takes some records, such as a stream instance that
// owns only some partitions, cannot make it grow). With a single follower
// it decodes directly and keeps nothing.
//
// The bytes given must not change afterwards (kafka-go allocates every
// record's value).
type SharedReadings struct {
	seed    maphash.Seed
	genSize int

	mu        sync.Mutex
	followers int
	cur, prev map[uint64]*sharedEntry
	hits      uint64
	misses    uint64
}

type sharedEntry struct {
	data      []byte
	r         Reading
	err       error // decoding
	validated bool
	verr      error // Validate(NoWindow), once validated
	taken     int   // followers that took it
}

// NewSharedReadings keeps at most 2 × genSize decoded records.
func NewSharedReadings(genSize int) *SharedReadings {
	return &SharedReadings{seed: maphash.MakeSeed(), genSize: max(genSize, 1),
		cur: map[uint64]*sharedEntry{}, prev: map[uint64]*sharedEntry{}}
}

// Readings is the process's decoder of reading records: every follower of
// the readings topic joins it.
var Readings = NewSharedReadings(8192)

// Join registers a follower of the readings topic; leave unregisters it.
func (s *SharedReadings) Join() (leave func()) {
	s.mu.Lock()
	s.followers++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.followers--
			if s.followers <= 1 {
				clear(s.cur)
				clear(s.prev)
			}
		})
	}
}

// Stats returns the hits and misses so far (tests, benchmarks).
func (s *SharedReadings) Stats() (hits, misses uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits, s.misses
}

// Decode is UnmarshalReading through the shared decoder: r is overwritten
// with the reading the record holds.
func (s *SharedReadings) Decode(data []byte, r *Reading) error {
	return s.decode(data, r, false)
}

// DecodeValid is Decode followed by r.Validate(NoWindow), the check every
// consumer of the topic makes; the first error is returned.
func (s *SharedReadings) DecodeValid(data []byte, r *Reading) error {
	return s.decode(data, r, true)
}

func (s *SharedReadings) decode(data []byte, r *Reading, validate bool) error {
	s.mu.Lock()
	if s.followers <= 1 {
		s.mu.Unlock()
		return decodeAlone(data, r, validate)
	}
	h := maphash.Bytes(s.seed, data)
	e, inCur := s.cur[h]
	if e == nil {
		e = s.prev[h]
	}
	if e != nil && !bytes.Equal(e.data, data) {
		// Two records, one hash: decode this one alone, keep the other.
		s.mu.Unlock()
		return decodeAlone(data, r, validate)
	}
	if e == nil {
		s.misses++
		s.mu.Unlock()
		// Decoded outside the lock; two followers meeting a new record at
		// once both decode it, and the second keeps its own.
		e = &sharedEntry{data: data}
		e.err = UnmarshalReading(data, &e.r)
		if validate && e.err == nil {
			e.validated, e.verr = true, e.r.Validate(NoWindow)
		}
		*r = e.r
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, dup := s.cur[h]; dup || s.followers <= 1 {
			return e.result(validate)
		}
		if len(s.cur) >= s.genSize {
			s.prev, s.cur = s.cur, s.prev
			clear(s.cur)
		}
		e.taken = 1
		s.cur[h] = e
		return e.result(validate)
	}
	s.hits++
	*r = e.r
	derr, validated, verr := e.err, e.validated, e.verr
	e.taken++
	if e.taken >= s.followers {
		if inCur {
			delete(s.cur, h)
		} else {
			delete(s.prev, h)
		}
	}
	s.mu.Unlock()
	if derr != nil || !validate {
		return derr
	}
	if !validated {
		// Validated outside the lock (its SHA-256 is the costly part); a
		// follower that meets the entry meanwhile validates it too.
		verr = r.Validate(NoWindow)
		s.mu.Lock()
		e.validated, e.verr = true, verr
		s.mu.Unlock()
	}
	return verr
}

func (e *sharedEntry) result(validate bool) error {
	if e.err != nil || !validate {
		return e.err
	}
	return e.verr
}

func decodeAlone(data []byte, r *Reading, validate bool) error {
	*r = Reading{}
	if err := UnmarshalReading(data, r); err != nil {
		return err
	}
	if validate {
		return r.Validate(NoWindow)
	}
	return nil
}
