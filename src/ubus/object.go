package ubus

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
)

// Arg is one argument in a method's policy. ubusd shows the policy in
// `ubus -v list` ("String", "Integer", "Boolean", "Table", "Array").
type Arg struct {
	Name string
	Type Type
}

// Handler serves one method. args holds the caller's arguments decoded
// (see the package documentation for the Go types); those named in the
// method's Policy have been checked and converted to the policy's type
// (any integer that fits for an integer type), and a call whose argument
// has the wrong type is answered INVALID_ARGUMENT without reaching the
// handler. Arguments may be missing: the handler checks what it requires.
//
// A nil map sends no DATA; a non-nil one (even empty) is sent as one DATA
// reply. A returned error that wraps a Status (ErrInvalidArgument,
// ErrNotFound, ...) replies with that status; any other error with
// UNKNOWN_ERROR. ubus carries no error text, so when both a map and an
// error are returned, the map is sent first: that is the place for a
// message in words.
type Handler func(ctx context.Context, args map[string]any) (map[string]any, error)

// Method is one method of an Object.
type Method struct {
	Name    string
	Policy  []Arg
	Handler Handler
}

// Object is what AddObject registers on the bus.
type Object struct {
	Name    string
	Methods []Method
	// OnSubscribe, if set, is called when the object gets its first
	// subscriber (true) and when it loses its last (false).
	OnSubscribe func(active bool)
}

// Caller describes who made a call, as ubusd reports it.
type Caller struct {
	Client uint32 // the caller's connection id
	User   string // its user and group names (ubusd resolves them)
	Group  string
	Method string
}

type callerKey struct{}

// CallerFrom returns the caller of the method being served by ctx.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Registered is an object on the bus. When it was added through a Client it
// stays valid across reconnections: the Client adds it again and updates
// its id.
type Registered struct {
	obj     *Object
	methods map[string]*Method
	sig     []byte

	owner *Client // set when added through a Client

	mu     sync.Mutex
	conn   *Conn
	id     uint32
	typeID uint32
	active bool
}

func newRegistered(o *Object) (*Registered, error) {
	if o.Name == "" {
		return nil, fmt.Errorf("ubus: object without a name")
	}
	r := &Registered{obj: o, methods: make(map[string]*Method, len(o.Methods))}
	var b Builder
	for i := range o.Methods {
		m := &o.Methods[i]
		if m.Name == "" || m.Handler == nil {
			return nil, fmt.Errorf("ubus: object %s: method %d has no name or no handler", o.Name, i)
		}
		if _, dup := r.methods[m.Name]; dup {
			return nil, fmt.Errorf("ubus: object %s: method %q twice", o.Name, m.Name)
		}
		r.methods[m.Name] = m
		// One table per method, one INT32 per argument holding its
		// blobmsg type: the signature layout ubusd serves to `ubus -v list`.
		b.OpenTable(m.Name)
		for _, a := range m.Policy {
			b.PutInt32(a.Name, int32(a.Type))
		}
		b.Close()
	}
	r.sig = b.Bytes()
	return r, nil
}

// ID is the object id ubusd assigned (it changes when ubusd restarts).
func (r *Registered) ID() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.id
}

// Name is the object's path.
func (r *Registered) Name() string { return r.obj.Name }

// HasSubscribers reports whether anyone is subscribed to the object.
func (r *Registered) HasSubscribers() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active
}

func (r *Registered) boundTo(c *Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn == c
}

func (r *Registered) setActive(on bool, q *queue) {
	r.mu.Lock()
	r.active = on
	c := r.conn
	r.mu.Unlock()
	if f := r.obj.OnSubscribe; f != nil && c != nil {
		q.push(func() { c.safely("subscribe notice", func() { f(on) }) })
	}
}

// AddObject registers o with its method signatures, so that `ubus -v list`
// shows each method's arguments and types. A path already taken is
// ErrInvalidArgument (that is what ubusd answers).
func (c *Conn) AddObject(o *Object) (*Registered, error) {
	r, err := newRegistered(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := c.addObject(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (c *Conn) addObject(ctx context.Context, r *Registered) error {
	lo := &localObject{reg: r, path: r.obj.Name}
	var id uint32
	_, err := c.request(ctx, MsgAddObject, 0, r.addBody(), func(m *Message) {
		// Bind here, in the reader goroutine, so that a subscriber
		// notice that follows the reply is applied after, not before.
		id, _ = m.Uint32(AttrObjID)
		typ, _ := m.Uint32(AttrObjType)
		if id != 0 {
			c.mu.Lock()
			c.objs[id] = lo
			c.mu.Unlock()
			r.mu.Lock()
			r.conn, r.id, r.typeID, r.active = c, id, typ, false
			r.mu.Unlock()
		}
	})
	if err == nil && id == 0 {
		err = fmt.Errorf("%w: add object reply without an id", ErrMalformed)
	}
	if err != nil {
		return fmt.Errorf("ubus add object %s: %w", r.obj.Name, err)
	}
	return nil
}

// Remove takes the object off the bus (and, for a Client's object, stops
// it from being added again on reconnect).
func (r *Registered) Remove() error {
	if r.owner != nil {
		r.owner.forget(r)
	}
	r.mu.Lock()
	c, id := r.conn, r.id
	r.conn = nil
	r.mu.Unlock()
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := c.removeObject(ctx, id); err != nil {
		return fmt.Errorf("ubus remove object %s: %w", r.obj.Name, err)
	}
	return nil
}

// Notify sends a notification to the object's subscribers (`ubus
// subscribe` prints it as {"type": data}). It does not wait for them: the
// NO_REPLY form is used, so a slow subscriber cannot hold the sender up.
func (r *Registered) Notify(typ string, data map[string]any) error {
	r.mu.Lock()
	c, id := r.conn, r.id
	r.mu.Unlock()
	if c == nil {
		return fmt.Errorf("ubus notify %s %s: %w", r.obj.Name, typ, ErrConnectionFailed)
	}
	var b Builder
	b.putU32(AttrObjID, id)
	b.putStr(AttrMethod, typ)
	b.openNested(AttrData)
	if err := b.PutMembers(data); err != nil {
		return err
	}
	b.Close()
	b.putU8(AttrNoReply, 1)
	c.mu.Lock()
	c.seq++
	seq := c.seq
	c.mu.Unlock()
	if err := c.write(NewMessage(MsgNotify, seq, id).Build(&b)); err != nil {
		return fmt.Errorf("ubus notify %s %s: %w", r.obj.Name, typ, err)
	}
	return nil
}

// serve runs one method call in its own goroutine and answers it.
func (c *Conn) serve(r *Registered, m *Message, noReply bool) {
	objID, _ := m.Uint32(AttrObjID)
	method, hasMethod := m.String(AttrMethod)
	st, data := c.run(r, m, method, hasMethod)
	if noReply {
		return
	}
	if data != nil && len(data)+64 > MaxMessageLen {
		c.log("ubus: %s %s: reply of %d bytes is too large", r.obj.Name, method, len(data))
		st, data = StatusNoMemory, nil
	}
	c.reply(m, objID, st, data)
}

func (c *Conn) run(r *Registered, m *Message, method string, hasMethod bool) (st Status, data []byte) {
	if !hasMethod {
		return StatusInvalidArgument, nil
	}
	meth := r.methods[method]
	if meth == nil {
		return StatusMethodNotFound, nil
	}
	raw, ok := m.Raw(AttrData)
	if !ok {
		return StatusInvalidArgument, nil
	}
	args, err := Decode(raw)
	if err != nil {
		return StatusInvalidArgument, nil
	}
	if err := applyPolicy(meth.Policy, args); err != nil {
		return StatusInvalidArgument, nil
	}
	caller := Caller{Client: m.Peer, Method: method}
	caller.User, _ = m.String(AttrUser)
	caller.Group, _ = m.String(AttrGroup)
	ctx := context.WithValue(c.ctx, callerKey{}, caller)
	defer func() {
		if p := recover(); p != nil {
			c.log("ubus: %s %s: handler panic: %v\n%s", r.obj.Name, method, p, debug.Stack())
			st, data = StatusUnknownError, nil
		}
	}()
	res, herr := meth.Handler(ctx, args)
	st = StatusOf(herr)
	if res != nil {
		var err error
		if data, err = Encode(res); err != nil {
			c.log("ubus: %s %s: encode reply: %v", r.obj.Name, method, err)
			return StatusUnknownError, nil
		}
		if data == nil {
			data = []byte{}
		}
	}
	return st, data
}

// applyPolicy checks the arguments a policy names and converts integers to
// the policy's width, so that a handler for an Int32 argument sees an int32
// whether the caller sent INT16, INT32 or a small INT64. Arguments the
// policy does not name are passed through.
func applyPolicy(policy []Arg, args map[string]any) error {
	for _, p := range policy {
		v, ok := args[p.Name]
		if !ok {
			continue
		}
		nv, ok := convertArg(p.Type, v)
		if !ok {
			return fmt.Errorf("argument %q: want %v, got %T", p.Name, p.Type, v)
		}
		args[p.Name] = nv
	}
	return nil
}

func convertArg(t Type, v any) (any, bool) {
	var i int64
	isInt := true
	switch x := v.(type) {
	case int16:
		i = int64(x)
	case int32:
		i = int64(x)
	case int64:
		i = x
	default:
		isInt = false
	}
	switch t {
	case TypeUnspec:
		return v, true
	case TypeString:
		_, ok := v.(string)
		return v, ok
	case TypeBool:
		_, ok := v.(bool)
		return v, ok
	case TypeTable:
		_, ok := v.(map[string]any)
		return v, ok
	case TypeArray:
		_, ok := v.([]any)
		return v, ok
	case TypeInt64:
		return i, isInt
	case TypeInt32:
		return int32(i), isInt && i >= math.MinInt32 && i <= math.MaxInt32
	case TypeInt16:
		return int16(i), isInt && i >= math.MinInt16 && i <= math.MaxInt16
	case TypeDouble:
		if f, ok := v.(float64); ok {
			return f, true
		}
		return float64(i), isInt
	}
	return v, true
}

// Subscription receives the notifications of one object.
type Subscription struct {
	conn   *Conn
	id     uint32 // our subscriber object
	target uint32
	path   string
	fn     func(typ string, data map[string]any)
	gone   func()
}

func (s *Subscription) deliver(c *Conn, typ string, data []byte) {
	m, err := Decode(data)
	if err != nil {
		c.log("ubus: notification %s from %s: %v", typ, s.path, err)
		return
	}
	s.fn(typ, m)
}

func (s *Subscription) targetGone() {
	if s.gone != nil {
		s.gone()
	}
}

// Subscribe calls fn for each notification the object at path sends, in
// order. If the object goes away (its provider exits), the subscription
// ends; the Client subscribes again when the object comes back.
func (c *Conn) Subscribe(ctx context.Context, path string, fn func(typ string, data map[string]any)) (*Subscription, error) {
	return c.subscribe(ctx, path, fn, nil)
}

func (c *Conn) subscribe(ctx context.Context, path string, fn func(string, map[string]any), gone func()) (*Subscription, error) {
	ctx, cancel := withOpTimeout(ctx, opTimeout)
	defer cancel()
	target, err := c.lookupID(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("ubus subscribe %s: %w", path, err)
	}
	s := &Subscription{conn: c, target: target, path: path, fn: fn, gone: gone}
	id, err := c.addAnon(ctx, &localObject{sub: s})
	if err != nil {
		return nil, fmt.Errorf("ubus subscribe %s: %w", path, err)
	}
	s.id = id
	var b Builder
	b.putU32(AttrObjID, id)
	b.putU32(AttrTarget, target)
	if _, err := c.request(ctx, MsgSubscribe, 0, &b, nil); err != nil {
		c.removeObject(ctx, id)
		return nil, fmt.Errorf("ubus subscribe %s: %w", path, err)
	}
	return s, nil
}

// Close ends the subscription.
func (s *Subscription) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var b Builder
	b.putU32(AttrObjID, s.id)
	b.putU32(AttrTarget, s.target)
	s.conn.request(ctx, MsgUnsubscribe, 0, &b, nil)
	return s.conn.removeObject(ctx, s.id)
}

func (r *Registered) addBody() *Builder {
	var b Builder
	b.putStr(AttrObjPath, r.obj.Name)
	b.putNested(AttrSignature, r.sig)
	return &b
}
