package ubus

import (
	"encoding/binary"
	"fmt"
	"io"
)

// MsgType is the type byte of a ubus message header (UBUS_MSG_*).
type MsgType uint8

// The ubus message types.
const (
	MsgHello        MsgType = 0
	MsgStatus       MsgType = 1
	MsgData         MsgType = 2
	MsgPing         MsgType = 3
	MsgLookup       MsgType = 4
	MsgInvoke       MsgType = 5
	MsgAddObject    MsgType = 6
	MsgRemoveObject MsgType = 7
	MsgSubscribe    MsgType = 8
	MsgUnsubscribe  MsgType = 9
	MsgNotify       MsgType = 10
	MsgMonitor      MsgType = 11
)

var msgNames = [...]string{"hello", "status", "data", "ping", "lookup", "invoke",
	"add_object", "remove_object", "subscribe", "unsubscribe", "notify", "monitor"}

func (t MsgType) String() string {
	if int(t) < len(msgNames) {
		return msgNames[t]
	}
	return fmt.Sprintf("msg(%d)", uint8(t))
}

// AttrID is a top-level ubus attribute id (UBUS_ATTR_*).
type AttrID uint8

// The top-level ubus attributes and the wire type each must have.
const (
	AttrStatus      AttrID = 1  // int32
	AttrObjPath     AttrID = 2  // string
	AttrObjID       AttrID = 3  // int32
	AttrMethod      AttrID = 4  // string
	AttrObjType     AttrID = 5  // int32
	AttrSignature   AttrID = 6  // nested blobmsg tables
	AttrData        AttrID = 7  // nested blobmsg list
	AttrTarget      AttrID = 8  // int32
	AttrActive      AttrID = 9  // int8
	AttrNoReply     AttrID = 10 // int8
	AttrSubscribers AttrID = 11 // nested plain int32s
	AttrUser        AttrID = 12 // string
	AttrGroup       AttrID = 13 // string
	attrMax                = 14
)

// The system objects of ubusd.
const (
	ObjEvent   uint32 = 1
	ObjACL     uint32 = 2
	ObjMonitor uint32 = 3
)

const msgHdrLen = 8

// Message is one ubus message: the 8-byte header and the attributes of its
// container. Attributes are kept in wire order (so a broker can forward a
// body unchanged) and indexed by id the way ubusd and libubus parse them:
// the last valid occurrence of an id wins, ids past 13 and attributes that
// fail their type check count as absent.
type Message struct {
	Type MsgType
	Seq  uint16
	Peer uint32
	Body []byte // the container payload: the attribute list

	idx [attrMax][]byte // payload of each attribute; nil when absent
	has [attrMax]bool
}

// NewMessage starts a message to be filled with the Put methods of b and
// finished with Build.
func NewMessage(t MsgType, seq uint16, peer uint32) *Message {
	return &Message{Type: t, Seq: seq, Peer: peer}
}

// Build encodes a message whose attributes were written into b.
func (m *Message) Build(b *Builder) []byte {
	m.Body = b.Bytes()
	return m.AppendBinary(nil)
}

// AppendBinary appends the message as it goes on the wire.
func (m *Message) AppendBinary(dst []byte) []byte {
	dst = append(dst, 0, byte(m.Type))
	dst = binary.BigEndian.AppendUint16(dst, m.Seq)
	dst = binary.BigEndian.AppendUint32(dst, m.Peer)
	dst = binary.BigEndian.AppendUint32(dst, uint32(attrHdrLen+len(m.Body))&attrLenMask)
	return append(dst, m.Body...)
}

// ReadMessage reads one message as ubusd and libubus do: 12 bytes of header
// and container word, then the rest. A container length below 4 or past
// MaxMessageLen is an error, after which the stream cannot be trusted. buf
// is reused for the body when it is large enough.
func ReadMessage(r io.Reader, buf []byte) (*Message, error) {
	var hdr [msgHdrLen + attrHdrLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	w := binary.BigEndian.Uint32(hdr[8:])
	n := int(w & attrLenMask)
	if n < attrHdrLen || pad4(n) > MaxMessageLen {
		return nil, fmt.Errorf("%w: message container length %d (limit %d)", ErrMalformed, n, MaxMessageLen)
	}
	if hdr[0] != 0 {
		return nil, fmt.Errorf("%w: message version %d", ErrMalformed, hdr[0])
	}
	body := buf
	if cap(body) < n-attrHdrLen {
		body = make([]byte, n-attrHdrLen)
	}
	body = body[:n-attrHdrLen]
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	m := &Message{
		Type: MsgType(hdr[1]),
		Seq:  binary.BigEndian.Uint16(hdr[2:]),
		Peer: binary.BigEndian.Uint32(hdr[4:]),
		Body: body,
	}
	if err := m.index(); err != nil {
		return nil, &BodyError{Type: m.Type, Seq: m.Seq, Err: err}
	}
	return m, nil
}

// BodyError is returned by ReadMessage for a message whose framing was
// sound but whose attributes were not: the stream is still in step, and a
// reader may drop just this message.
type BodyError struct {
	Type MsgType
	Seq  uint16
	Err  error
}

func (e *BodyError) Error() string {
	return fmt.Sprintf("ubus %v message seq %d: %v", e.Type, e.Seq, e.Err)
}

func (e *BodyError) Unwrap() error { return e.Err }

// ParseMessage decodes one message from b, which must hold exactly one.
func ParseMessage(b []byte) (*Message, error) {
	if len(b) < msgHdrLen+attrHdrLen {
		return nil, fmt.Errorf("%w: message of %d bytes", ErrMalformed, len(b))
	}
	n := int(binary.BigEndian.Uint32(b[8:]) & attrLenMask)
	if n != len(b)-msgHdrLen {
		return nil, fmt.Errorf("%w: container length %d in a message of %d bytes", ErrMalformed, n, len(b))
	}
	return ReadMessage(&byteReader{b: b}, nil)
}

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// index walks the attribute list. A truncated list is an error for this
// message only: the framing is still intact.
func (m *Message) index() error {
	b := m.Body
	for len(b) > 0 {
		a, rest, err := nextAttr(b)
		if err != nil {
			return err
		}
		b = rest
		if a.extended || int(a.id) >= attrMax || !attrValid(AttrID(a.id), a.data) {
			continue
		}
		m.idx[a.id] = a.data
		m.has[a.id] = true
	}
	return nil
}

func attrValid(id AttrID, d []byte) bool {
	switch id {
	case AttrStatus, AttrObjID, AttrObjType, AttrTarget:
		return len(d) == 4
	case AttrActive, AttrNoReply:
		return len(d) == 1
	case AttrObjPath, AttrMethod, AttrUser, AttrGroup:
		return len(d) > 0 && d[len(d)-1] == 0
	}
	return true
}

// Has reports whether the message carries a valid attribute id.
func (m *Message) Has(id AttrID) bool { return int(id) < attrMax && m.has[id] }

// Raw returns the payload of attribute id.
func (m *Message) Raw(id AttrID) ([]byte, bool) {
	if !m.Has(id) {
		return nil, false
	}
	return m.idx[id], true
}

// Uint32 returns an int32 attribute as the unsigned id it usually is.
func (m *Message) Uint32(id AttrID) (uint32, bool) {
	if !m.Has(id) || len(m.idx[id]) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(m.idx[id]), true
}

// Uint8 returns an int8 attribute.
func (m *Message) Uint8(id AttrID) (uint8, bool) {
	if !m.Has(id) || len(m.idx[id]) != 1 {
		return 0, false
	}
	return m.idx[id][0], true
}

// String returns a string attribute without its NUL.
func (m *Message) String(id AttrID) (string, bool) {
	d, ok := m.Raw(id)
	if !ok || len(d) == 0 {
		return "", false
	}
	return string(d[:len(d)-1]), true
}

// Exported forms of the top-level attribute writers, for brokers and tools
// that build messages by hand.

// PutAttrUint32 adds an int32 top-level attribute.
func (b *Builder) PutAttrUint32(id AttrID, v uint32) { b.putU32(id, v) }

// PutAttrUint8 adds an int8 top-level attribute.
func (b *Builder) PutAttrUint8(id AttrID, v uint8) { b.putU8(id, v) }

// PutAttrString adds a string top-level attribute.
func (b *Builder) PutAttrString(id AttrID, s string) { b.putStr(id, s) }

// PutAttrNested adds a nested top-level attribute with the given payload.
func (b *Builder) PutAttrNested(id AttrID, body []byte) { b.putNested(id, body) }

// OpenAttr starts a nested top-level attribute; finish it with Close.
func (b *Builder) OpenAttr(id AttrID) { b.openNested(id) }

// Subscribers decodes the SUBSCRIBERS attribute of ubusd's reply to NOTIFY:
// plain int32 attributes, not blobmsg.
func (m *Message) Subscribers() []uint32 {
	d, ok := m.Raw(AttrSubscribers)
	if !ok {
		return nil
	}
	var ids []uint32
	for len(d) > 0 {
		a, rest, err := nextAttr(d)
		if err != nil || a.extended || len(a.data) != 4 {
			break
		}
		ids = append(ids, binary.BigEndian.Uint32(a.data))
		d = rest
	}
	return ids
}

// PutRawBytes appends bytes that are already whole, padded attributes.
func (b *Builder) PutRawBytes(p []byte) { b.buf = append(b.buf, p...) }

// RawAttr is one top-level attribute of a message, as sent.
type RawAttr struct {
	ID   AttrID
	Data []byte
}

// Attrs lists the message's top-level attributes in wire order.
func (m *Message) Attrs() []RawAttr {
	var out []RawAttr
	for b := m.Body; len(b) > 0; {
		a, rest, err := nextAttr(b)
		if err != nil {
			break
		}
		out = append(out, RawAttr{AttrID(a.id), a.data})
		b = rest
	}
	return out
}
