package ubus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Layout of the 32-bit id/len word that starts every blob attribute.
const (
	attrExtended = 0x80000000
	attrIDMask   = 0x7f000000
	attrIDShift  = 24
	attrLenMask  = 0x00ffffff
	attrHdrLen   = 4
)

// MaxMessageLen is ubusd's UBUS_MAX_MSGLEN: the largest padded message
// container it accepts. Anything longer makes ubusd drop the connection.
const MaxMessageLen = 1 << 20

// MaxDepth bounds how deep tables and arrays may nest when decoding. libubox
// has no limit, but a peer that sends 100 000 nested tables must not be
// able to exhaust the goroutine stack.
const MaxDepth = 64

// ErrMalformed is wrapped by every decoding error, so callers can tell bad
// input from other failures.
var ErrMalformed = errors.New("malformed blob")

func pad4(n int) int { return (n + 3) &^ 3 }

// Type is a blobmsg value type, as carried in the id bits of an extended
// attribute and in method signatures.
type Type uint8

// The blobmsg types of libubox. TypeBool is TypeInt8: libubox has one type
// for both, and `ubus call` prints every INT8 as true or false.
const (
	TypeUnspec Type = 0
	TypeArray  Type = 1
	TypeTable  Type = 2
	TypeString Type = 3
	TypeInt64  Type = 4
	TypeInt32  Type = 5
	TypeInt16  Type = 6
	TypeInt8   Type = 7
	TypeBool   Type = 7
	TypeDouble Type = 8
)

var typeNames = [...]string{"unspec", "array", "table", "string", "int64", "int32", "int16", "bool", "double"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// attr is one decoded blob attribute. For an extended (blobmsg) attribute
// name holds its name and data the value bytes after the name header.
type attr struct {
	id       uint8
	extended bool
	name     []byte // aliases the input: convert only where a string is kept
	data     []byte
}

// nextAttr splits the first attribute off b. libubox silently stops at a
// short or overlong attribute; here that is an error, so that a truncated
// message is reported instead of quietly losing its tail. The padding after
// the last attribute may be missing, as libubox tolerates.
func nextAttr(b []byte) (a attr, rest []byte, err error) {
	if len(b) < attrHdrLen {
		return a, nil, fmt.Errorf("%w: %d trailing bytes, want an attribute header", ErrMalformed, len(b))
	}
	w := binary.BigEndian.Uint32(b)
	n := int(w & attrLenMask)
	if n < attrHdrLen {
		return a, nil, fmt.Errorf("%w: attribute length %d is below 4", ErrMalformed, n)
	}
	if n > len(b) {
		return a, nil, fmt.Errorf("%w: attribute length %d past the %d bytes left", ErrMalformed, n, len(b))
	}
	a.id = uint8((w & attrIDMask) >> attrIDShift)
	a.extended = w&attrExtended != 0
	a.data = b[attrHdrLen:n]
	if p := pad4(n); p <= len(b) {
		rest = b[p:]
	}
	if a.extended {
		if len(a.data) < 3 {
			return a, nil, fmt.Errorf("%w: blobmsg attribute of %d bytes has no room for a name", ErrMalformed, n)
		}
		nl := int(binary.BigEndian.Uint16(a.data))
		hl := pad4(nl + 3)
		if hl > len(a.data) || a.data[2+nl] != 0 {
			return a, nil, fmt.Errorf("%w: blobmsg name of %d bytes does not fit in its attribute", ErrMalformed, nl)
		}
		a.name = a.data[2 : 2+nl]
		a.data = a.data[hl:]
	}
	return a, rest, nil
}

// Builder writes blob attributes the way libubox's blob_buf does: every
// attribute 4-aligned and zero-padded, and a nested attribute's length
// covering the padding of all its children. The zero value is ready to use.
type Builder struct {
	buf      []byte
	stack    []int
	tooLarge bool // an attribute outgrew the 24-bit length field
}

// Err reports an attribute too long for blob's 24-bit length (16 MiB);
// the bytes are then not usable. ubusd takes no more than 1 MiB anyway.
func (b *Builder) Err() error {
	if b.tooLarge {
		return fmt.Errorf("ubus: attribute longer than %d bytes: %w", attrLenMask, ErrMalformed)
	}
	return nil
}

// Bytes returns what has been written. It is only complete once every
// table and array opened has been closed.
func (b *Builder) Bytes() []byte { return b.buf }

// Len reports the number of bytes written so far.
func (b *Builder) Len() int { return len(b.buf) }

// Reset empties the builder, keeping its memory.
func (b *Builder) Reset() { b.buf, b.stack, b.tooLarge = b.buf[:0], b.stack[:0], false }

// header appends an attribute header and, for blobmsg, its name header. The
// length is patched by finish.
func (b *Builder) header(id uint8, extended bool, name string) int {
	off := len(b.buf)
	w := uint32(id&0x7f) << attrIDShift
	if extended {
		w |= attrExtended
	}
	b.buf = binary.BigEndian.AppendUint32(b.buf, w)
	if extended {
		b.buf = binary.BigEndian.AppendUint16(b.buf, uint16(len(name)))
		b.buf = append(b.buf, name...)
		b.buf = append(b.buf, 0)
		for len(b.buf)&3 != 0 {
			b.buf = append(b.buf, 0)
		}
	}
	return off
}

// finish writes the length of the attribute at off and pads it.
func (b *Builder) finish(off int) {
	n := len(b.buf) - off
	if n > attrLenMask {
		b.tooLarge = true
	}
	w := binary.BigEndian.Uint32(b.buf[off:])
	binary.BigEndian.PutUint32(b.buf[off:], w&^attrLenMask|uint32(n)&attrLenMask)
	for len(b.buf)&3 != 0 {
		b.buf = append(b.buf, 0)
	}
}

func (b *Builder) raw(id uint8, extended bool, name string, v []byte) {
	off := b.header(id, extended, name)
	b.buf = append(b.buf, v...)
	b.finish(off)
}

func (b *Builder) open(id uint8, extended bool, name string) {
	b.stack = append(b.stack, b.header(id, extended, name))
}

// Close ends the innermost open table or array.
func (b *Builder) Close() {
	if len(b.stack) == 0 {
		return
	}
	off := b.stack[len(b.stack)-1]
	b.stack = b.stack[:len(b.stack)-1]
	b.finish(off)
}

// OpenTable starts a blobmsg table; add members, then Close.
func (b *Builder) OpenTable(name string) { b.open(uint8(TypeTable), true, name) }

// OpenArray starts a blobmsg array; add unnamed elements, then Close.
func (b *Builder) OpenArray(name string) { b.open(uint8(TypeArray), true, name) }

// PutString adds a STRING; the NUL that libubox counts is added here.
func (b *Builder) PutString(name, v string) {
	off := b.header(uint8(TypeString), true, name)
	b.buf = append(b.buf, v...)
	b.buf = append(b.buf, 0)
	b.finish(off)
}

// PutBool adds an INT8 holding 0 or 1.
func (b *Builder) PutBool(name string, v bool) {
	var x uint8
	if v {
		x = 1
	}
	b.raw(uint8(TypeInt8), true, name, []byte{x})
}

// PutInt8 adds an INT8 (which ubus prints as a bool).
func (b *Builder) PutInt8(name string, v int8) { b.raw(uint8(TypeInt8), true, name, []byte{uint8(v)}) }

// PutInt16 adds an INT16.
func (b *Builder) PutInt16(name string, v int16) {
	off := b.header(uint8(TypeInt16), true, name)
	b.buf = binary.BigEndian.AppendUint16(b.buf, uint16(v))
	b.finish(off)
}

// PutInt32 adds an INT32.
func (b *Builder) PutInt32(name string, v int32) {
	off := b.header(uint8(TypeInt32), true, name)
	b.buf = binary.BigEndian.AppendUint32(b.buf, uint32(v))
	b.finish(off)
}

// PutInt64 adds an INT64.
func (b *Builder) PutInt64(name string, v int64) {
	off := b.header(uint8(TypeInt64), true, name)
	b.buf = binary.BigEndian.AppendUint64(b.buf, uint64(v))
	b.finish(off)
}

// PutDouble adds a DOUBLE: the IEEE-754 bits, big-endian.
func (b *Builder) PutDouble(name string, v float64) {
	off := b.header(uint8(TypeDouble), true, name)
	b.buf = binary.BigEndian.AppendUint64(b.buf, math.Float64bits(v))
	b.finish(off)
}

// PutUnspec adds an UNSPEC with no value: JSON null.
func (b *Builder) PutUnspec(name string) { b.raw(uint8(TypeUnspec), true, name, nil) }

// PutRaw adds a blobmsg attribute of type t with the given value bytes; it
// is for copying values already encoded.
func (b *Builder) PutRaw(t Type, name string, v []byte) { b.raw(uint8(t), true, name, v) }

// Top-level (non-extended) ubus attributes.

func (b *Builder) putU32(id AttrID, v uint32) {
	off := b.header(uint8(id), false, "")
	b.buf = binary.BigEndian.AppendUint32(b.buf, v)
	b.finish(off)
}

func (b *Builder) putU8(id AttrID, v uint8) { b.raw(uint8(id), false, "", []byte{v}) }

func (b *Builder) putStr(id AttrID, s string) {
	off := b.header(uint8(id), false, "")
	b.buf = append(b.buf, s...)
	b.buf = append(b.buf, 0)
	b.finish(off)
}

func (b *Builder) putNested(id AttrID, body []byte) { b.raw(uint8(id), false, "", body) }

func (b *Builder) openNested(id AttrID) { b.open(uint8(id), false, "") }
