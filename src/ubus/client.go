package ubus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Backoff bounds for Client's redialling.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Client keeps a connection to ubusd. When ubusd goes away (it restarts on
// upgrades and crashes alike) it redials with backoff, then adds its
// objects again with their signatures, registers its event listeners and
// renews its subscriptions: ubusd keeps no state across a restart, and
// libubus's own auto-connect leaves listeners and subscriptions to the
// application.
type Client struct {
	path string
	logf func(string, ...any)

	// setup serialises (re)registration with AddObject, Listen and
	// Subscribe, so that nothing added during a reconnect is missed.
	setup sync.Mutex

	mu      sync.Mutex
	conn    *Conn
	ready   chan struct{} // closed while connected
	objects []*Registered
	listens []*listener
	subs    []*clientSub
	closed  bool
	kick    chan struct{} // an object appeared: retry lost subscriptions
	stop    chan struct{}
	stopped chan struct{}
}

type clientSub struct {
	path string
	fn   func(string, map[string]any)
	cur  *Subscription
	lost bool
}

// NewClient starts keeping a connection to ubusd at path ("" means
// DefaultSocket). logf receives connection losses and failures that have no
// caller to return to; nil discards them.
func NewClient(path string, logf func(string, ...any)) *Client {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	c := &Client{
		path:    path,
		logf:    logf,
		ready:   make(chan struct{}),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go c.loop()
	return c
}

func (c *Client) loop() {
	defer close(c.stopped)
	backoff := minBackoff
	failing := false
	for {
		conn, err := DialContext(c.stopCtx(), c.path)
		if err != nil {
			if !failing {
				c.logf("ubus: %v; retrying", err)
				failing = true
			}
			select {
			case <-c.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		conn.SetLogf(c.logf)
		c.setup.Lock()
		c.register(conn)
		c.mu.Lock()
		c.conn = conn
		close(c.ready)
		c.mu.Unlock()
		c.setup.Unlock()
		if failing {
			c.logf("ubus: connected to %s", c.path)
		}
		failing = false
		backoff = minBackoff
		tick := time.NewTicker(maxBackoff)
	wait:
		for {
			select {
			case <-c.stop:
				tick.Stop()
				conn.Close()
				return
			case <-conn.Done():
				break wait
			case <-tick.C:
				c.resubscribe(conn)
			case <-c.kick:
				c.resubscribe(conn)
			}
		}
		tick.Stop()
		c.logf("ubus: connection lost (%v); reconnecting", conn.Err())
		c.mu.Lock()
		c.conn = nil
		c.ready = make(chan struct{})
		c.mu.Unlock()
	}
}

func (c *Client) stopCtx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	go func() {
		select {
		case <-c.stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx
}

// register adds everything to a fresh connection; called with setup held.
func (c *Client) register(conn *Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	c.mu.Lock()
	objs := append([]*Registered(nil), c.objects...)
	lis := append([]*listener(nil), c.listens...)
	subs := append([]*clientSub(nil), c.subs...)
	c.mu.Unlock()
	for _, r := range objs {
		if err := conn.addObject(ctx, r); err != nil {
			c.logf("ubus: %v", err)
		}
	}
	for _, l := range lis {
		if _, err := conn.listen(ctx, l.pattern, l.fn); err != nil {
			c.logf("ubus: %v", err)
		}
	}
	if len(subs) > 0 {
		c.watchObjects(ctx, conn)
	}
	for _, s := range subs {
		c.subscribeOne(ctx, conn, s)
	}
}

// watchObjects listens for ubusd's ubus.object.add, so that a subscription
// whose target is missing is retried as soon as the target appears rather
// than on the next tick.
func (c *Client) watchObjects(ctx context.Context, conn *Conn) {
	_, err := conn.listen(ctx, "ubus.object.add", func(_ string, data map[string]any) {
		path, _ := data["path"].(string)
		c.mu.Lock()
		want := false
		for _, s := range c.subs {
			want = want || s.lost && s.path == path
		}
		c.mu.Unlock()
		if want {
			select {
			case c.kick <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		c.logf("ubus: %v", err)
	}
}

func (c *Client) subscribeOne(ctx context.Context, conn *Conn, s *clientSub) {
	sub, err := conn.subscribe(ctx, s.path, s.fn, func() {
		c.mu.Lock()
		s.lost = true
		c.mu.Unlock()
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.logf("ubus: %v", err)
	}
	c.mu.Lock()
	s.cur, s.lost = sub, err != nil
	c.mu.Unlock()
}

// resubscribe retries subscriptions whose target is gone (its provider
// restarted while ubusd did not).
func (c *Client) resubscribe(conn *Conn) {
	c.setup.Lock()
	defer c.setup.Unlock()
	c.mu.Lock()
	var lost []*clientSub
	for _, s := range c.subs {
		if s.lost {
			lost = append(lost, s)
		}
	}
	c.mu.Unlock()
	for _, s := range lost {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		if s.cur != nil {
			conn.removeObject(ctx, s.cur.id)
		}
		c.subscribeOne(ctx, conn, s)
		cancel()
	}
}

// Conn returns the current connection, or nil while there is none.
func (c *Client) Conn() *Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// WaitConnected blocks until the client is connected and has registered
// everything, or ctx ends.
func (c *Client) WaitConnected(ctx context.Context) error {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AddObject registers o now if connected, and again after every reconnect.
// Only an error from ubusd itself (a path already taken) or an invalid
// object is returned: while ubusd is down the object waits for it.
func (c *Client) AddObject(o *Object) (*Registered, error) {
	r, err := newRegistered(o)
	if err != nil {
		return nil, err
	}
	c.setup.Lock()
	defer c.setup.Unlock()
	if conn := c.Conn(); conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := conn.addObject(ctx, r)
		cancel()
		if err != nil && !errors.Is(err, ErrConnectionFailed) {
			return nil, err
		}
	}
	r.owner = c
	c.mu.Lock()
	c.objects = append(c.objects, r)
	c.mu.Unlock()
	return r, nil
}

func (c *Client) forget(r *Registered) {
	c.setup.Lock()
	defer c.setup.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, o := range c.objects {
		if o == r {
			c.objects = append(c.objects[:i], c.objects[i+1:]...)
			return
		}
	}
}

// Listen calls fn for events matching pattern, on this and every later
// connection. While ubusd is down it succeeds and takes effect on connect.
func (c *Client) Listen(pattern string, fn func(event string, data map[string]any)) error {
	if pattern == "" {
		return fmt.Errorf("ubus listen: empty pattern: %w", ErrPermissionDenied)
	}
	c.setup.Lock()
	defer c.setup.Unlock()
	l := &listener{pattern: pattern, fn: fn}
	if conn := c.Conn(); conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		_, err := conn.listen(ctx, pattern, fn)
		cancel()
		if err != nil && !errors.Is(err, ErrConnectionFailed) {
			return err
		}
	}
	c.mu.Lock()
	c.listens = append(c.listens, l)
	c.mu.Unlock()
	return nil
}

// Subscribe calls fn for each notification of the object at path. If the
// object is not there yet, or goes away, the client keeps trying every few
// seconds.
func (c *Client) Subscribe(path string, fn func(typ string, data map[string]any)) {
	c.setup.Lock()
	defer c.setup.Unlock()
	s := &clientSub{path: path, fn: fn, lost: true}
	c.mu.Lock()
	first := len(c.subs) == 0
	c.subs = append(c.subs, s)
	c.mu.Unlock()
	if conn := c.Conn(); conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		if first {
			c.watchObjects(ctx, conn)
		}
		c.subscribeOne(ctx, conn, s)
		cancel()
	}
}

func (c *Client) current() (*Conn, error) {
	conn := c.Conn()
	if conn == nil {
		return nil, fmt.Errorf("ubus: not connected to %s: %w", c.path, ErrConnectionFailed)
	}
	return conn, nil
}

// Call invokes a method (see Conn.Call). While disconnected it fails at
// once with ErrConnectionFailed.
func (c *Client) Call(ctx context.Context, object, method string, args map[string]any) (map[string]any, error) {
	conn, err := c.current()
	if err != nil {
		return nil, &CallError{Object: object, Method: method, Status: StatusConnectionFailed}
	}
	return conn.Call(ctx, object, method, args)
}

// Send emits an event (see Conn.Send).
func (c *Client) Send(event string, data map[string]any) error {
	conn, err := c.current()
	if err != nil {
		return err
	}
	return conn.Send(event, data)
}

// Close stops redialling and closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.stop)
	c.mu.Unlock()
	<-c.stopped
	return nil
}
