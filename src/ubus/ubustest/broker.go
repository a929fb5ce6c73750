// Package ubustest provides a stand-in for ubusd, so that code using
// package ubus can be tested end to end without an OpenWrt system.
//
// The broker speaks the ubusd side of the protocol as ubusd 3cc98db1 does
// (see ../testdata/README.md): hello, ping, lookup with signatures, object
// add and remove, call forwarding with the caller's user and group, events
// (register, send, ubus.object.add/remove), subscribe, unsubscribe and
// notify. It leaves out ACL files (every client may do everything, as root
// may on a router), the monitor and file-descriptor passing.
package ubustest

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/nuvol-project/nuvol/src/ubus"
)

// Broker is a running ubusd stand-in listening on a unix socket.
type Broker struct {
	path  string
	dir   string
	user  string
	group string
	logf  func(string, ...any)

	mu        sync.Mutex
	ln        net.Listener
	clients   map[uint32]*client
	objects   map[uint32]*object
	types     map[uint32]*objType
	listeners map[uint32][]string // listener object -> patterns
	eventSeq  uint16
	closed    bool
	wg        sync.WaitGroup
}

type client struct {
	id   uint32
	nc   net.Conn
	out  outQueue
	objs map[uint32]bool
}

type objType struct {
	sig  []byte
	refs int
}

type object struct {
	id     uint32
	path   string
	typ    uint32 // 0: none
	owner  *client
	subs   []uint32 // subscriber object ids
	seq    uint16   // for ACTIVE notices
	target []uint32 // objects this one is subscribed to
}

// NewBroker starts a broker on a socket in a fresh short temporary
// directory (unix socket paths are limited to 107 bytes, and t.TempDir can
// be longer) and stops it when the test ends.
func NewBroker(t testing.TB) *Broker {
	t.Helper()
	dir, err := os.MkdirTemp("", "ubus")
	if err != nil {
		t.Fatalf("ubustest: %v", err)
	}
	b, err := Start(filepath.Join(dir, "ubus.sock"))
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("ubustest: %v", err)
	}
	b.dir = dir
	b.logf = t.Logf
	t.Cleanup(b.Close)
	return b
}

// Start runs a broker on the socket at path, outside of a test.
func Start(path string) (*Broker, error) {
	b := &Broker{path: path, user: "root", group: "root", logf: func(string, ...any) {}}
	if u, err := user.Current(); err == nil {
		b.user = u.Username
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			b.group = g.Name
		}
	}
	if err := b.listen(); err != nil {
		return nil, err
	}
	return b, nil
}

// Path is the socket to pass to ubus.Dial or ubus.NewClient.
func (b *Broker) Path() string { return b.path }

func (b *Broker) listen() error {
	os.Remove(b.path)
	ln, err := net.Listen("unix", b.path)
	if err != nil {
		return err
	}
	os.Chmod(b.path, 0o666)
	b.mu.Lock()
	b.ln = ln
	b.clients = make(map[uint32]*client)
	b.objects = make(map[uint32]*object)
	b.types = make(map[uint32]*objType)
	b.listeners = make(map[uint32][]string)
	b.mu.Unlock()
	b.wg.Add(1)
	go b.accept(ln)
	return nil
}

// stop closes the listener and every client, and waits for them.
func (b *Broker) stop() {
	b.mu.Lock()
	ln := b.ln
	var cs []*client
	for _, c := range b.clients {
		cs = append(cs, c)
	}
	b.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range cs {
		c.nc.Close()
	}
	b.wg.Wait()
}

// Restart stops the broker as if ubusd had died, dropping every client and
// all state, and starts a new one on the same path. Ids change, as they do
// with the real ubusd.
func (b *Broker) Restart() {
	b.stop()
	if err := b.listen(); err != nil {
		b.logf("ubustest: restart: %v", err)
	}
}

// Close stops the broker and removes its socket.
func (b *Broker) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	b.stop()
	os.Remove(b.path)
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// newID returns a random id of at least 1024 not used in m, as ubusd does.
func newID[V any](m map[uint32]V) uint32 {
	for {
		id := rand.Uint32()
		if _, used := m[id]; id >= 1024 && !used {
			return id
		}
	}
}

func (b *Broker) accept(ln net.Listener) {
	defer b.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		c := &client{id: newID(b.clients), nc: nc, objs: make(map[uint32]bool)}
		b.clients[c.id] = c
		b.mu.Unlock()
		c.out.start(nc, &b.wg)
		c.send(ubus.MsgHello, 0, c.id, nil)
		b.wg.Add(1)
		go b.serve(c)
	}
}

func (c *client) send(t ubus.MsgType, seq uint16, peer uint32, body []byte) {
	m := ubus.NewMessage(t, seq, peer)
	m.Body = body
	c.out.push(m.AppendBinary(nil))
}

func (c *client) status(m *ubus.Message, st ubus.Status) {
	var bb ubus.Builder
	bb.PutAttrUint32(ubus.AttrStatus, uint32(st))
	c.send(ubus.MsgStatus, m.Seq, m.Peer, bb.Bytes())
}

func (b *Broker) serve(c *client) {
	defer b.wg.Done()
	defer b.disconnect(c)
	for {
		m, err := ubus.ReadMessage(c.nc, nil)
		if err != nil {
			// A bad length makes ubusd drop the client; so does EOF.
			return
		}
		b.mu.Lock()
		b.handle(c, m)
		b.mu.Unlock()
	}
}

// handle processes one message with b.mu held.
func (b *Broker) handle(c *client, m *ubus.Message) {
	switch m.Type {
	case ubus.MsgPing:
		c.send(ubus.MsgData, m.Seq, m.Peer, m.Body)
		c.status(m, ubus.StatusOK)
	case ubus.MsgLookup:
		b.lookup(c, m)
	case ubus.MsgAddObject:
		b.addObject(c, m)
	case ubus.MsgRemoveObject:
		b.removeObjectReq(c, m)
	case ubus.MsgInvoke:
		b.invoke(c, m)
	case ubus.MsgData, ubus.MsgStatus:
		b.forwardReply(c, m)
	case ubus.MsgSubscribe:
		b.subscribe(c, m)
	case ubus.MsgUnsubscribe:
		b.unsubscribe(c, m)
	case ubus.MsgNotify:
		b.notify(c, m)
	default:
		c.status(m, ubus.StatusInvalidCommand)
	}
}

func (b *Broker) lookup(c *client, m *ubus.Message) {
	path, hasPath := m.String(ubus.AttrObjPath)
	if hasPath && path == "" {
		c.status(m, ubus.StatusInvalidArgument)
		return
	}
	var found []*object
	for _, o := range b.objects {
		switch {
		case o.path == "":
			continue
		case !hasPath:
		case strings.HasSuffix(path, "*"):
			if !strings.HasPrefix(o.path, strings.TrimSuffix(path, "*")) {
				continue
			}
		case o.path != path:
			continue
		}
		found = append(found, o)
	}
	if len(found) == 0 {
		c.status(m, ubus.StatusNotFound)
		return
	}
	sort.Slice(found, func(i, j int) bool { return found[i].path < found[j].path })
	for _, o := range found {
		t := b.types[o.typ]
		if t == nil {
			continue // ubusd leaves out objects without a type
		}
		var bb ubus.Builder
		bb.PutAttrString(ubus.AttrObjPath, o.path)
		bb.PutAttrUint32(ubus.AttrObjID, o.id)
		bb.PutAttrUint32(ubus.AttrObjType, o.typ)
		bb.PutAttrNested(ubus.AttrSignature, t.sig)
		c.send(ubus.MsgData, m.Seq, m.Peer, bb.Bytes())
	}
	c.status(m, ubus.StatusOK)
}

func (b *Broker) addObject(c *client, m *ubus.Message) {
	path, hasPath := m.String(ubus.AttrObjPath)
	if hasPath {
		for _, o := range b.objects {
			if o.path == path {
				c.status(m, ubus.StatusInvalidArgument)
				return
			}
		}
	}
	o := &object{id: newID(b.objects), owner: c}
	if hasPath {
		o.path = path
	}
	newType := false
	if sig, ok := m.Raw(ubus.AttrSignature); ok {
		// ubusd requires every method entry to be a named blobmsg attribute.
		vs, err := ubus.Split(sig)
		if err != nil {
			c.status(m, ubus.StatusInvalidArgument)
			return
		}
		for _, v := range vs {
			if v.Name == "" {
				c.status(m, ubus.StatusInvalidArgument)
				return
			}
		}
		o.typ = newID(b.types)
		b.types[o.typ] = &objType{sig: bytes.Clone(sig), refs: 1}
		newType = true
	} else if t, ok := m.Uint32(ubus.AttrObjType); ok {
		if ty := b.types[t]; ty != nil {
			o.typ = t
			ty.refs++
		}
	}
	b.objects[o.id] = o
	c.objs[o.id] = true
	var bb ubus.Builder
	bb.PutAttrUint32(ubus.AttrObjID, o.id)
	if newType {
		bb.PutAttrUint32(ubus.AttrObjType, o.typ)
	}
	c.send(ubus.MsgData, m.Seq, m.Peer, bb.Bytes())
	c.status(m, ubus.StatusOK)
	if o.path != "" {
		b.sendEvent(nil, "ubus.object.add", objEvent(o))
	}
}

func objEvent(o *object) []byte {
	var bb ubus.Builder
	bb.PutInt32("id", int32(o.id))
	bb.PutString("path", o.path)
	return bb.Bytes()
}

func (b *Broker) removeObjectReq(c *client, m *ubus.Message) {
	id, ok := m.Uint32(ubus.AttrObjID)
	if !ok {
		c.status(m, ubus.StatusInvalidArgument)
		return
	}
	o := b.objects[id]
	if o == nil {
		c.status(m, ubus.StatusNotFound)
		return
	}
	if o.owner != c {
		c.status(m, ubus.StatusPermissionDenied)
		return
	}
	lastOfType := o.typ != 0 && b.types[o.typ].refs == 1
	var bb ubus.Builder
	bb.PutAttrUint32(ubus.AttrObjID, o.id)
	if lastOfType {
		bb.PutAttrUint32(ubus.AttrObjType, o.typ)
	}
	b.removeObject(o)
	c.send(ubus.MsgData, m.Seq, m.Peer, bb.Bytes())
	c.status(m, ubus.StatusOK)
}

// removeObject drops an object and does what ubusd does on the way out.
func (b *Broker) removeObject(o *object) {
	delete(b.objects, o.id)
	delete(o.owner.objs, o.id)
	delete(b.listeners, o.id)
	if t := b.types[o.typ]; t != nil {
		if t.refs--; t.refs == 0 {
			delete(b.types, o.typ)
		}
	}
	for _, s := range o.subs {
		if so := b.objects[s]; so != nil {
			so.target = remove(so.target, o.id)
			var bb ubus.Builder
			bb.PutAttrUint32(ubus.AttrObjID, s)
			bb.PutAttrUint32(ubus.AttrTarget, o.id)
			so.owner.send(ubus.MsgUnsubscribe, 0, 0, bb.Bytes())
		}
	}
	for _, t := range o.target {
		if to := b.objects[t]; to != nil {
			b.dropSubscriber(to, o.id)
		}
	}
	if o.path != "" {
		b.sendEvent(nil, "ubus.object.remove", objEvent(o))
	}
}

func remove(ids []uint32, id uint32) []uint32 {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

func (b *Broker) disconnect(c *client) {
	c.nc.Close()
	c.out.close()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.clients[c.id] != c {
		return
	}
	delete(b.clients, c.id)
	ids := make([]uint32, 0, len(c.objs))
	for id := range c.objs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if o := b.objects[id]; o != nil {
			b.removeObject(o)
		}
	}
}

func (b *Broker) invoke(c *client, m *ubus.Message) {
	id, ok := m.Uint32(ubus.AttrObjID)
	if !ok {
		c.status(m, ubus.StatusInvalidArgument)
		return
	}
	switch id {
	case ubus.ObjEvent:
		b.eventMethod(c, m)
		return
	case ubus.ObjACL:
		var d ubus.Builder
		d.PutInt32("seq", 1)
		d.OpenArray("acl")
		d.Close()
		var bb ubus.Builder
		bb.PutAttrNested(ubus.AttrData, d.Bytes())
		c.send(ubus.MsgData, m.Seq, m.Peer, bb.Bytes())
		c.status(m, ubus.StatusOK)
		return
	case ubus.ObjMonitor:
		c.status(m, ubus.StatusNotSupported)
		return
	}
	o := b.objects[id]
	if o == nil {
		c.status(m, ubus.StatusNotFound)
		return
	}
	method, ok := m.String(ubus.AttrMethod)
	if !ok {
		c.status(m, ubus.StatusInvalidArgument)
		return
	}
	// ubusd rebuilds the call for the provider, adding who is calling.
	var bb ubus.Builder
	bb.PutAttrUint32(ubus.AttrObjID, id)
	bb.PutAttrString(ubus.AttrMethod, method)
	bb.PutAttrString(ubus.AttrUser, b.user)
	bb.PutAttrString(ubus.AttrGroup, b.group)
	if d, ok := m.Raw(ubus.AttrData); ok {
		bb.PutAttrNested(ubus.AttrData, d)
	}
	o.owner.send(ubus.MsgInvoke, m.Seq, c.id, bb.Bytes())
}

// forwardReply passes a provider's DATA or STATUS on to the caller, with
// the header peer rewritten to the object id, as ubusd does; anything that
// does not check out is dropped silently, as ubusd does.
func (b *Broker) forwardReply(c *client, m *ubus.Message) {
	id, ok := m.Uint32(ubus.AttrObjID)
	if !ok || !c.objs[id] {
		return
	}
	if m.Type == ubus.MsgStatus && !m.Has(ubus.AttrStatus) || m.Type == ubus.MsgData && !m.Has(ubus.AttrData) {
		return
	}
	to := b.clients[m.Peer]
	if to == nil {
		return
	}
	to.send(m.Type, m.Seq, id, m.Body)
}

func (b *Broker) eventMethod(c *client, m *ubus.Message) {
	method, _ := m.String(ubus.AttrMethod)
	raw, _ := m.Raw(ubus.AttrData)
	vs, err := ubus.Split(raw)
	if err != nil {
		c.status(m, ubus.StatusInvalidArgument)
		return
	}
	get := func(name string, t ubus.Type) (ubus.Value, bool) {
		var v ubus.Value
		found := false
		for _, x := range vs {
			if x.Name == name && x.Type == t {
				v, found = x, true
			}
		}
		return v, found
	}
	switch method {
	case "register":
		ov, ok1 := get("object", ubus.TypeInt32)
		pv, ok2 := get("pattern", ubus.TypeString)
		if !ok1 || !ok2 {
			c.status(m, ubus.StatusInvalidArgument)
			return
		}
		id, _ := ov.Uint32()
		pat, _ := pv.Str()
		if id < 1024 {
			c.status(m, ubus.StatusPermissionDenied)
			return
		}
		o := b.objects[id]
		switch {
		case o == nil:
			c.status(m, ubus.StatusNotFound)
		case o.owner != c || pat == "":
			c.status(m, ubus.StatusPermissionDenied)
		default:
			b.listeners[id] = append(b.listeners[id], pat)
			c.status(m, ubus.StatusOK)
		}
	case "send":
		iv, ok1 := get("id", ubus.TypeString)
		dv, ok2 := get("data", ubus.TypeTable)
		if !ok1 || !ok2 {
			c.status(m, ubus.StatusInvalidArgument)
			return
		}
		name, _ := iv.Str()
		if strings.HasPrefix(name, "ubus.") {
			c.status(m, ubus.StatusPermissionDenied)
			return
		}
		b.sendEvent(c, name, dv.Data)
		c.status(m, ubus.StatusOK)
	default:
		c.status(m, ubus.StatusInvalidCommand)
	}
}

func matches(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

// sendEvent delivers an event once to each listener object with a matching
// pattern, except those of the sender.
func (b *Broker) sendEvent(from *client, name string, data []byte) {
	b.eventSeq++
	ids := make([]uint32, 0, len(b.listeners))
	for id := range b.listeners {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		o := b.objects[id]
		if o == nil || o.owner == from {
			continue
		}
		for _, p := range b.listeners[id] {
			if matches(p, name) {
				var bb ubus.Builder
				bb.PutAttrUint32(ubus.AttrObjID, id)
				bb.PutAttrString(ubus.AttrMethod, name)
				bb.PutAttrNested(ubus.AttrData, data)
				o.owner.send(ubus.MsgInvoke, b.eventSeq, 0, bb.Bytes())
				break
			}
		}
	}
}

// subscription reads the subscriber (AttrObjID, which c must own) and the
// target (AttrTarget) of a SUBSCRIBE or UNSUBSCRIBE; t is nil for an
// unknown target. ok is false when it already answered INVALID_ARGUMENT.
func (b *Broker) subscription(c *client, m *ubus.Message) (sid, tid uint32, s, t *object, ok bool) {
	sid, ok1 := m.Uint32(ubus.AttrObjID)
	tid, ok2 := m.Uint32(ubus.AttrTarget)
	if !ok1 || !ok2 {
		c.status(m, ubus.StatusInvalidArgument)
		return 0, 0, nil, nil, false
	}
	s, t = b.objects[sid], b.objects[tid]
	if s == nil || s.owner != c {
		c.status(m, ubus.StatusInvalidArgument)
		return 0, 0, nil, nil, false
	}
	return sid, tid, s, t, true
}

func (b *Broker) subscribe(c *client, m *ubus.Message) {
	sid, tid, s, t, ok := b.subscription(c, m)
	if !ok {
		return
	}
	if t == nil {
		c.status(m, ubus.StatusNotFound)
		return
	}
	if t.owner == c {
		c.status(m, ubus.StatusInvalidArgument)
		return
	}
	for _, x := range t.subs {
		if x == sid {
			c.status(m, ubus.StatusOK)
			return
		}
	}
	t.subs = append(t.subs, sid)
	s.target = append(s.target, tid)
	c.status(m, ubus.StatusOK)
	if len(t.subs) == 1 {
		b.active(t, true)
	}
}

func (b *Broker) active(t *object, on bool) {
	t.seq++
	var v uint8
	if on {
		v = 1
	}
	var bb ubus.Builder
	bb.PutAttrUint32(ubus.AttrObjID, t.id)
	bb.PutAttrUint8(ubus.AttrActive, v)
	t.owner.send(ubus.MsgNotify, t.seq, 0, bb.Bytes())
}

func (b *Broker) dropSubscriber(t *object, sid uint32) bool {
	n := len(t.subs)
	t.subs = remove(t.subs, sid)
	if len(t.subs) == n {
		return false
	}
	if len(t.subs) == 0 {
		b.active(t, false)
	}
	return true
}

func (b *Broker) unsubscribe(c *client, m *ubus.Message) {
	sid, tid, s, t, ok := b.subscription(c, m)
	if !ok {
		return
	}
	if t == nil || !b.dropSubscriber(t, sid) {
		c.status(m, ubus.StatusNotFound)
		return
	}
	s.target = remove(s.target, tid)
	c.status(m, ubus.StatusOK)
}

func (b *Broker) notify(c *client, m *ubus.Message) {
	id, ok := m.Uint32(ubus.AttrObjID)
	if !ok {
		c.status(m, ubus.StatusInvalidArgument)
		return
	}
	o := b.objects[id]
	if o == nil || o.owner != c {
		c.status(m, ubus.StatusPermissionDenied)
		return
	}
	method, _ := m.String(ubus.AttrMethod)
	noReply, _ := m.Uint8(ubus.AttrNoReply)
	data, hasData := m.Raw(ubus.AttrData)
	if noReply == 0 {
		// The notifier first learns who will answer.
		var bb ubus.Builder
		bb.PutAttrUint32(ubus.AttrObjID, id)
		bb.OpenAttr(ubus.AttrSubscribers)
		for _, s := range o.subs {
			var w [8]byte
			binary.BigEndian.PutUint32(w[:], 8) // id 0, len 8: a plain int32
			binary.BigEndian.PutUint32(w[4:], s)
			bb.PutRawBytes(w[:])
		}
		bb.Close()
		bb.PutAttrUint32(ubus.AttrStatus, 0)
		c.send(ubus.MsgStatus, m.Seq, m.Peer, bb.Bytes())
	}
	for _, s := range o.subs {
		so := b.objects[s]
		if so == nil {
			continue
		}
		var bb ubus.Builder
		if noReply != 0 {
			bb.PutAttrUint8(ubus.AttrNoReply, 1)
		}
		bb.PutAttrUint32(ubus.AttrObjID, s)
		bb.PutAttrString(ubus.AttrMethod, method)
		bb.PutAttrString(ubus.AttrUser, b.user)
		bb.PutAttrString(ubus.AttrGroup, b.group)
		if hasData {
			bb.PutAttrNested(ubus.AttrData, data)
		}
		so.owner.send(ubus.MsgInvoke, m.Seq, c.id, bb.Bytes())
	}
}

// outQueue writes a client's messages on its own goroutine, so that a
// client that does not read cannot stall the broker (ubusd queues too).
type outQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	bufs   [][]byte
	closed bool
}

func (q *outQueue) start(nc net.Conn, wg *sync.WaitGroup) {
	q.cond = sync.NewCond(&q.mu)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			q.mu.Lock()
			for len(q.bufs) == 0 && !q.closed {
				q.cond.Wait()
			}
			if q.closed {
				q.mu.Unlock()
				return
			}
			bufs := q.bufs
			q.bufs = nil
			q.mu.Unlock()
			var all []byte
			for _, b := range bufs {
				all = append(all, b...)
			}
			if _, err := nc.Write(all); err != nil {
				// The reader then sees the close and cleans up.
				nc.Close()
				return
			}
		}
	}()
}

func (q *outQueue) push(b []byte) {
	q.mu.Lock()
	if !q.closed {
		q.bufs = append(q.bufs, b)
		q.cond.Signal()
	}
	q.mu.Unlock()
}

func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Signal()
	q.mu.Unlock()
}
