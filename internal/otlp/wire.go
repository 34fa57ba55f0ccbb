package otlp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The protobuf wire format, as much of it as OTLP metrics need: varints,
// fixed64 and length-delimited fields (https://protobuf.dev/programming-guides/encoding/).
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// encoder appends protobuf fields to b. A nested message is written in
// place: begin writes its key, end inserts its length before its content.
type encoder struct{ b []byte }

func (e *encoder) key(field, wire int) { e.varint(uint64(field)<<3 | uint64(wire)) }

func (e *encoder) varint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

// uint writes a varint field; 0 (proto3's default) is left out.
func (e *encoder) uint(field int, v uint64) {
	if v != 0 {
		e.key(field, wireVarint)
		e.varint(v)
	}
}

// bool writes a bool field; false is left out.
func (e *encoder) bool(field int, v bool) {
	if v {
		e.uint(field, 1)
	}
}

// fixed64 writes a fixed64 field, always (also 0: the callers' fields are
// members of a oneof or optional, where presence is what says "set").
func (e *encoder) fixed64(field int, v uint64) {
	e.key(field, wireFixed64)
	e.b = binary.LittleEndian.AppendUint64(e.b, v)
}

func (e *encoder) double(field int, v float64) { e.fixed64(field, math.Float64bits(v)) }

// string writes a string field; "" is left out.
func (e *encoder) string(field int, s string) {
	if s != "" {
		e.key(field, wireBytes)
		e.varint(uint64(len(s)))
		e.b = append(e.b, s...)
	}
}

// packedFixed64 writes a packed repeated fixed64 (or double) field.
func (e *encoder) packedFixed64(field int, vs []uint64) {
	if len(vs) == 0 {
		return
	}
	e.key(field, wireBytes)
	e.varint(uint64(8 * len(vs)))
	for _, v := range vs {
		e.b = binary.LittleEndian.AppendUint64(e.b, v)
	}
}

// begin starts a nested message in field; end(begin(...)) closes it.
func (e *encoder) begin(field int) int {
	e.key(field, wireBytes)
	return len(e.b)
}

// end inserts the length of the message begun at start before its content.
func (e *encoder) end(start int) {
	n := len(e.b) - start
	var l [binary.MaxVarintLen64]byte
	s := binary.PutUvarint(l[:], uint64(n))
	e.b = append(e.b, l[:s]...) // grow by s
	copy(e.b[start+s:], e.b[start:start+n])
	copy(e.b[start:], l[:s])
}

// field is one decoded field: num and wire type, and the value (v for
// varint and fixed, data for length-delimited).
type field struct {
	num, wire int
	v         uint64
	data      []byte
}

var errTruncated = errors.New("truncated protobuf")

// fields calls fn for each top-level field of the message b.
func fields(b []byte, fn func(field)) error {
	for len(b) > 0 {
		k, n := binary.Uvarint(b)
		if n <= 0 {
			return errTruncated
		}
		b = b[n:]
		f := field{num: int(k >> 3), wire: int(k & 7)}
		switch f.wire {
		case wireVarint:
			if f.v, n = binary.Uvarint(b); n <= 0 {
				return errTruncated
			}
			b = b[n:]
		case wireFixed64:
			if len(b) < 8 {
				return errTruncated
			}
			f.v, b = binary.LittleEndian.Uint64(b), b[8:]
		case wireFixed32:
			if len(b) < 4 {
				return errTruncated
			}
			f.v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errTruncated
			}
			f.data, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return fmt.Errorf("protobuf wire type %d not supported", f.wire)
		}
		fn(f)
	}
	return nil
}
