package ubus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultSocket is where ubusd listens on OpenWrt since 2020.
const DefaultSocket = "/var/run/ubus/ubus.sock"

// DefaultTimeout is how long a call waits for its reply when the context
// has no deadline: the ubus CLI's default (-t 30). ubusd itself never times
// a call out.
const DefaultTimeout = 30 * time.Second

// opTimeout bounds requests to ubusd itself (add object, register...) made
// by methods that take no context. ubusd answers them at once.
const opTimeout = 10 * time.Second

const writeTimeout = 10 * time.Second

// Conn is one connection to ubusd. It is safe for concurrent use.
type Conn struct {
	nc   net.Conn
	id   uint32
	logf func(string, ...any)

	wmu sync.Mutex // serialises whole messages on the socket

	mu      sync.Mutex
	seq     uint16
	pending map[uint16]*request
	objs    map[uint32]*localObject
	err     error // why the connection ended; set once
	done    chan struct{}

	// ctx is cancelled when the connection ends, so that handlers still
	// running can give up.
	ctx    context.Context
	cancel context.CancelFunc
}

type request struct {
	peer   uint32
	onData func(*Message) // run in the reader goroutine, in order
	data   [][]byte
	status Status
	done   chan struct{}
}

// localObject is an object this connection added: exactly one field is set.
type localObject struct {
	reg  *Registered
	lis  *listener
	sub  *Subscription
	q    queue // keeps event and notification callbacks in order
	path string
}

// Dial connects to ubusd at path ("" means DefaultSocket) and waits for its
// HELLO.
func Dial(path string) (*Conn, error) {
	return DialContext(context.Background(), path)
}

// DialContext is Dial with a context for the connect and the HELLO.
func DialContext(ctx context.Context, path string) (*Conn, error) {
	if path == "" {
		path = DefaultSocket
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("ubus: connect %s: %w", path, err)
	}
	deadline := time.Now().Add(opTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	nc.SetReadDeadline(deadline)
	br := bufio.NewReaderSize(nc, 64<<10)
	m, err := ReadMessage(br, nil)
	if err == nil && (m.Type != MsgHello || m.Peer <= 1) {
		err = fmt.Errorf("%w: first message is %v with peer %#x, want hello", ErrMalformed, m.Type, m.Peer)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ubus: %s: hello: %w", path, err)
	}
	nc.SetReadDeadline(time.Time{})
	c := &Conn{
		nc:      nc,
		id:      m.Peer,
		logf:    func(string, ...any) {},
		pending: make(map[uint16]*request),
		objs:    make(map[uint32]*localObject),
		done:    make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.readLoop(br)
	return c, nil
}

// SetLogf sets where the connection reports what it cannot return as an
// error (a handler that panicked, an event it could not decode).
func (c *Conn) SetLogf(logf func(string, ...any)) {
	if logf != nil {
		c.mu.Lock()
		c.logf = logf
		c.mu.Unlock()
	}
}

func (c *Conn) log(format string, args ...any) {
	c.mu.Lock()
	f := c.logf
	c.mu.Unlock()
	f(format, args...)
}

// ID is the client id ubusd gave this connection.
func (c *Conn) ID() uint32 { return c.id }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended, or nil while it is up.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection. ubusd then removes its objects and listeners.
func (c *Conn) Close() error {
	c.fail(net.ErrClosed)
	return nil
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pend := c.pending
	c.pending = map[uint16]*request{}
	var regs []*localObject
	for _, o := range c.objs {
		if o.reg != nil {
			regs = append(regs, o)
		}
	}
	c.mu.Unlock()
	// Subscribers were on the old ubusd; nobody is subscribed any more.
	for _, o := range regs {
		if o.reg.HasSubscribers() && o.reg.boundTo(c) {
			o.reg.setActive(false, &o.q)
		}
	}
	c.nc.Close()
	c.cancel()
	for _, r := range pend {
		r.status = StatusConnectionFailed
		close(r.done)
	}
	close(c.done)
}

func (c *Conn) readLoop(br *bufio.Reader) {
	for {
		// A fresh buffer per message: handlers keep slices of it.
		m, err := ReadMessage(br, nil)
		if be := (*BodyError)(nil); errors.As(err, &be) {
			c.log("ubus: dropped: %v", err)
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.EOF
			}
			c.fail(fmt.Errorf("ubus: read: %w", err))
			return
		}
		c.dispatch(m)
	}
}

func (c *Conn) dispatch(m *Message) {
	switch m.Type {
	case MsgData, MsgStatus:
		c.mu.Lock()
		r := c.pending[m.Seq]
		if r == nil || r.peer != m.Peer {
			c.mu.Unlock()
			return // a late reply to a request given up on
		}
		if m.Type == MsgStatus {
			delete(c.pending, m.Seq)
		}
		c.mu.Unlock()
		if m.Type == MsgData {
			if r.onData != nil {
				r.onData(m)
			} else if d, ok := m.Raw(AttrData); ok {
				r.data = append(r.data, d)
			}
			return
		}
		st, ok := m.Uint32(AttrStatus)
		if !ok {
			st = uint32(StatusInvalidArgument)
		}
		r.status = Status(int32(st))
		close(r.done)
	case MsgInvoke:
		c.invoked(m)
	case MsgNotify:
		id, _ := m.Uint32(AttrObjID)
		active, ok := m.Uint8(AttrActive)
		c.mu.Lock()
		o := c.objs[id]
		c.mu.Unlock()
		if ok && o != nil && o.reg != nil {
			o.reg.setActive(active != 0, &o.q)
		}
	case MsgUnsubscribe:
		id, _ := m.Uint32(AttrObjID)
		c.mu.Lock()
		o := c.objs[id]
		c.mu.Unlock()
		if o != nil && o.sub != nil {
			o.q.push(func() { c.safely("unsubscribe", o.sub.targetGone) })
		}
	}
}

// invoked handles an INVOKE: a method call on one of our objects, an event
// for a listener, or a notification for a subscriber.
func (c *Conn) invoked(m *Message) {
	id, _ := m.Uint32(AttrObjID)
	noReply, _ := m.Uint8(AttrNoReply)
	c.mu.Lock()
	o := c.objs[id]
	c.mu.Unlock()
	switch {
	case o == nil:
		if noReply == 0 && m.Peer != 0 {
			go c.reply(m, id, StatusNotFound, nil)
		}
	case o.reg != nil:
		go c.serve(o.reg, m, noReply != 0)
	case o.lis != nil:
		// ubusd delivers events with peer 0 and ignores any answer.
		name, _ := m.String(AttrMethod)
		data, _ := m.Raw(AttrData)
		o.q.push(func() { c.safely("event "+name, func() { o.lis.deliver(c, name, data) }) })
	case o.sub != nil:
		name, _ := m.String(AttrMethod)
		data, _ := m.Raw(AttrData)
		o.q.push(func() { c.safely("notification "+name, func() { o.sub.deliver(c, name, data) }) })
		if noReply == 0 {
			go c.reply(m, id, StatusOK, nil)
		}
	}
}

// reply answers an INVOKE: DATA when there is data, then STATUS, both with
// the caller's seq and client id and our object id.
func (c *Conn) reply(m *Message, objID uint32, st Status, data []byte) {
	// Both messages go out in one write so nothing can come between them.
	var all []byte
	if data != nil {
		var db Builder
		db.putU32(AttrObjID, objID)
		db.putNested(AttrData, data)
		all = NewMessage(MsgData, m.Seq, m.Peer).Build(&db)
	}
	var sb Builder
	sb.putU32(AttrStatus, uint32(st))
	sb.putU32(AttrObjID, objID)
	all = append(all, NewMessage(MsgStatus, m.Seq, m.Peer).Build(&sb)...)
	if err := c.write(all); err != nil {
		c.log("ubus: reply to client %08x: %v", m.Peer, err)
	}
}

func (c *Conn) write(b []byte) error {
	if len(b)-msgHdrLen > MaxMessageLen {
		return fmt.Errorf("ubus: message of %d bytes is over the %d byte limit: %w", len(b), MaxMessageLen, ErrNoMemory)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(b)
	if err != nil {
		c.fail(fmt.Errorf("ubus: write: %w", err))
		return fmt.Errorf("ubus: write: %w: %w", ErrConnectionFailed, err)
	}
	return nil
}

// request sends a message and waits for its STATUS. DATA replies are
// collected in the returned request, or passed to onData in the reader
// goroutine (so that, for instance, an object id is known before the first
// call to it can be dispatched).
func (c *Conn) request(ctx context.Context, t MsgType, peer uint32, b *Builder, onData func(*Message)) (*request, error) {
	r := &request{peer: peer, onData: onData, done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, ErrConnectionFailed
	}
	seq := c.seq
	for {
		seq++
		if _, busy := c.pending[seq]; !busy {
			break
		}
	}
	c.seq = seq
	c.pending[seq] = r
	c.mu.Unlock()

	if err := c.write(NewMessage(t, seq, peer).Build(b)); err != nil {
		c.drop(seq, r)
		return nil, err
	}
	select {
	case <-r.done:
		if r.status != StatusOK {
			return r, r.status
		}
		return r, nil
	case <-ctx.Done():
		c.drop(seq, r)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
		return nil, ctx.Err()
	}
}

func (c *Conn) drop(seq uint16, r *request) {
	c.mu.Lock()
	if c.pending[seq] == r {
		delete(c.pending, seq)
	}
	c.mu.Unlock()
}

func withOpTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// Ping asks ubusd to echo an empty message.
func (c *Conn) Ping(ctx context.Context) error {
	ctx, cancel := withOpTimeout(ctx, opTimeout)
	defer cancel()
	_, err := c.request(ctx, MsgPing, 0, &Builder{}, nil)
	return err
}

// MethodSignature is a method as LOOKUP reports it.
type MethodSignature struct {
	Name string
	Args []Arg // in registration order; Type is what the signature says
}

// ObjectInfo is one object as LOOKUP reports it.
type ObjectInfo struct {
	Path    string
	ID      uint32
	TypeID  uint32
	Methods []MethodSignature
}

// Lookup lists the objects whose path is path, or starts with the prefix
// before a trailing "*"; "" lists all. No match is ErrNotFound.
func (c *Conn) Lookup(ctx context.Context, path string) ([]ObjectInfo, error) {
	ctx, cancel := withOpTimeout(ctx, opTimeout)
	defer cancel()
	var out []ObjectInfo
	_, err := c.request(ctx, MsgLookup, 0, lookupBody(path), func(m *Message) {
		var o ObjectInfo
		o.Path, _ = m.String(AttrObjPath)
		o.ID, _ = m.Uint32(AttrObjID)
		o.TypeID, _ = m.Uint32(AttrObjType)
		sig, _ := m.Raw(AttrSignature)
		o.Methods = parseSignature(sig)
		out = append(out, o)
	})
	if err != nil {
		return nil, fmt.Errorf("ubus lookup %q: %w", path, err)
	}
	return out, nil
}

func parseSignature(b []byte) []MethodSignature {
	var ms []MethodSignature
	for len(b) > 0 {
		a, rest, err := nextAttr(b)
		if err != nil {
			break
		}
		b = rest
		if !a.extended || Type(a.id) != TypeTable {
			continue
		}
		m := MethodSignature{Name: string(a.name), Args: []Arg{}}
		for d := a.data; len(d) > 0; {
			arg, r, err := nextAttr(d)
			if err != nil {
				break
			}
			d = r
			if arg.extended && Type(arg.id) == TypeInt32 && len(arg.data) == 4 {
				m.Args = append(m.Args, Arg{Name: string(arg.name), Type: Type(arg.data[3])})
			}
		}
		ms = append(ms, m)
	}
	return ms
}

func (c *Conn) lookupID(ctx context.Context, path string) (uint32, error) {
	objs, err := c.Lookup(ctx, path)
	if err != nil {
		return 0, err
	}
	if len(objs) == 0 {
		return 0, ErrNotFound
	}
	return objs[0].ID, nil
}

// Call invokes method on the object at path, as `ubus call` does: a
// LOOKUP, then an INVOKE. It returns the first DATA reply decoded, or nil
// if there was none. A non-OK status is a *CallError wrapping the Status.
// Without a deadline in ctx, the call gives up after DefaultTimeout.
func (c *Conn) Call(ctx context.Context, object, method string, args map[string]any) (map[string]any, error) {
	body, err := Encode(args)
	if err != nil {
		return nil, err
	}
	data, err := c.CallRaw(ctx, object, method, body)
	if err != nil || len(data) == 0 {
		return nil, err
	}
	res, err := Decode(data[0])
	if err != nil {
		return nil, fmt.Errorf("ubus call %s %s: reply: %w", object, method, err)
	}
	return res, nil
}

// CallRaw is Call with encoded arguments (a blobmsg attribute list, for
// instance from EncodeJSON) and every DATA reply returned undecoded, in
// order; FormatJSON prints one as `ubus call` would.
func (c *Conn) CallRaw(ctx context.Context, object, method string, args []byte) ([][]byte, error) {
	ctx, cancel := withOpTimeout(ctx, DefaultTimeout)
	defer cancel()
	id, err := c.lookupID(ctx, object)
	if err != nil {
		// A timeout keeps its context error in the chain instead.
		if s, ok := errors.AsType[Status](err); ok && !errors.Is(err, context.DeadlineExceeded) {
			return nil, &CallError{Object: object, Method: method, Status: s}
		}
		return nil, err
	}
	data, err := c.Invoke(ctx, id, method, args)
	if s, ok := errors.AsType[Status](err); ok && !errors.Is(err, context.DeadlineExceeded) {
		return data, &CallError{Object: object, Method: method, Status: s}
	}
	return data, err
}

// Invoke calls method on the object with id objID. args is a blobmsg
// attribute list (nil for none: an empty DATA is still sent, as providers
// built on libubus require it).
func (c *Conn) Invoke(ctx context.Context, objID uint32, method string, args []byte) ([][]byte, error) {
	ctx, cancel := withOpTimeout(ctx, DefaultTimeout)
	defer cancel()
	r, err := c.request(ctx, MsgInvoke, objID, invokeBody(objID, method, args), nil)
	if r != nil {
		return r.data, err
	}
	return nil, err
}

// Send emits an event, as `ubus send` does. Names starting with "ubus."
// are reserved for ubusd and refused with ErrPermissionDenied.
func (c *Conn) Send(event string, data map[string]any) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return c.SendContext(ctx, event, data)
}

// SendContext is Send with a context.
func (c *Conn) SendContext(ctx context.Context, event string, data any) error {
	b, err := sendBody(event, data)
	if err != nil {
		return err
	}
	if _, err := c.request(ctx, MsgInvoke, ObjEvent, b, nil); err != nil {
		return fmt.Errorf("ubus send %s: %w", event, err)
	}
	return nil
}

// addAnon adds an object without a path or type, for listening or
// subscribing, and installs lo for it before any message to it can arrive.
func (c *Conn) addAnon(ctx context.Context, lo *localObject) (uint32, error) {
	var id uint32
	_, err := c.request(ctx, MsgAddObject, 0, &Builder{}, func(m *Message) {
		if v, ok := m.Uint32(AttrObjID); ok {
			id = v
			c.mu.Lock()
			c.objs[id] = lo
			c.mu.Unlock()
		}
	})
	if err == nil && id == 0 {
		err = fmt.Errorf("%w: add object reply without an id", ErrMalformed)
	}
	return id, err
}

func (c *Conn) removeObject(ctx context.Context, id uint32) error {
	var b Builder
	b.putU32(AttrObjID, id)
	_, err := c.request(ctx, MsgRemoveObject, 0, &b, nil)
	c.mu.Lock()
	delete(c.objs, id)
	c.mu.Unlock()
	return err
}

type listener struct {
	pattern string
	fn      func(event string, data map[string]any)
	id      uint32
}

func (l *listener) deliver(c *Conn, event string, data []byte) {
	m, err := Decode(data)
	if err != nil {
		c.log("ubus: event %s: %v", event, err)
		return
	}
	l.fn(event, m)
}

// Listen calls fn for every event whose name matches pattern: an exact
// name, or a prefix followed by "*" ("*" alone is every event). Calls to fn
// come one at a time, in the order ubusd sent the events, and never hold up
// the connection. ubusd does not send a connection its own events.
func (c *Conn) Listen(pattern string, fn func(event string, data map[string]any)) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err := c.listen(ctx, pattern, fn)
	return err
}

func (c *Conn) listen(ctx context.Context, pattern string, fn func(string, map[string]any)) (*listener, error) {
	l := &listener{pattern: pattern, fn: fn}
	id, err := c.addAnon(ctx, &localObject{lis: l})
	if err != nil {
		return nil, fmt.Errorf("ubus listen %q: %w", pattern, err)
	}
	l.id = id
	if _, err := c.request(ctx, MsgInvoke, ObjEvent, registerBody(id, pattern), nil); err != nil {
		c.removeObject(ctx, id)
		return nil, fmt.Errorf("ubus listen %q: %w", pattern, err)
	}
	return l, nil
}

// safely runs a user callback; a panic in it is logged, not fatal, since
// the event that caused it came from another process.
func (c *Conn) safely(what string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			c.log("ubus: %s: callback panic: %v", what, p)
		}
	}()
	f()
}

// queue runs callbacks one at a time in the order pushed, on a goroutine
// that exists only while there is work, so a slow callback delays only its
// own object's later callbacks, never the socket reader.
type queue struct {
	mu      sync.Mutex
	items   []func()
	running bool
}

func (q *queue) push(f func()) {
	q.mu.Lock()
	q.items = append(q.items, f)
	if !q.running {
		q.running = true
		go q.run()
	}
	q.mu.Unlock()
}

func (q *queue) run() {
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.running = false
			q.items = nil
			q.mu.Unlock()
			return
		}
		f := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		q.mu.Unlock()
		f()
	}
}

// The bodies of the requests this package sends, kept apart so that tests
// can compare them byte for byte with what libubus sends.

func lookupBody(path string) *Builder {
	var b Builder
	if path != "" {
		b.putStr(AttrObjPath, path)
	}
	return &b
}

func invokeBody(objID uint32, method string, args []byte) *Builder {
	var b Builder
	b.putU32(AttrObjID, objID)
	b.putStr(AttrMethod, method)
	b.putNested(AttrData, args)
	return &b
}

func sendBody(event string, data any) (*Builder, error) {
	var b Builder
	b.putU32(AttrObjID, ObjEvent)
	b.putStr(AttrMethod, "send")
	b.openNested(AttrData)
	b.PutString("id", event)
	b.OpenTable("data")
	if err := b.PutMembers(data); err != nil {
		return nil, err
	}
	b.Close()
	b.Close()
	return &b, nil
}

func registerBody(listener uint32, pattern string) *Builder {
	var b Builder
	b.putU32(AttrObjID, ObjEvent)
	b.putStr(AttrMethod, "register")
	b.openNested(AttrData)
	b.PutInt32("object", int32(listener))
	b.PutString("pattern", pattern)
	b.Close()
	return &b
}
