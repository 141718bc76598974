package adapter

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// Digest is an order-sensitive running hash of applied payloads. Every
// backend uses it, so equal digests mean the same payloads were applied in
// the same order, whatever the library. The zero value is the digest of no
// payloads. It is not safe for concurrent use; a state machine applies in
// order anyway.
//
// The chain is d' = xxh64(d || xxh64(payload)): cheap enough (xxhash runs at
// several GB/s) not to be what a benchmark measures, and not cryptographic,
// which a safety check between cooperating processes does not need.
type Digest struct {
	sum   uint64
	count uint64
}

// Add folds one payload into the digest.
func (d *Digest) Add(payload []byte) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], d.sum)
	binary.LittleEndian.PutUint64(b[8:], xxhash.Sum64(payload))
	d.sum = xxhash.Sum64(b[:])
	d.count++
}

// Sum is the digest value.
func (d *Digest) Sum() uint64 { return d.sum }

// Count is the number of payloads added.
func (d *Digest) Count() uint64 { return d.count }

// Restore sets the digest to a state saved from Sum and Count, for a state
// machine restored from a snapshot.
func (d *Digest) Restore(sum, count uint64) { d.sum, d.count = sum, count }
