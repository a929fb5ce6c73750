package ubus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/ubus"
	"github.com/nuvol-project/nuvol/src/ubus/ubustest"
)

func dial(t testing.TB, b *ubustest.Broker) *ubus.Conn {
	t.Helper()
	c, err := ubus.Dial(b.Path())
	if err != nil {
		t.Fatal(err)
	}
	c.SetLogf(t.Logf)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// demoObject is shaped like nuvol's: typed arguments and status errors.
func demoObject() *ubus.Object {
	return &ubus.Object{Name: "demo", Methods: []ubus.Method{
		{Name: "echo", Handler: func(ctx context.Context, args map[string]any) (map[string]any, error) {
			return args, nil
		}},
		{Name: "install", Policy: []ubus.Arg{{Name: "app", Type: ubus.TypeString}, {Name: "port", Type: ubus.TypeInt32}, {Name: "publish", Type: ubus.TypeBool}},
			Handler: func(ctx context.Context, args map[string]any) (map[string]any, error) {
				app, _ := args["app"].(string)
				switch app {
				case "":
					return nil, fmt.Errorf("install: app is required: %w", ubus.ErrInvalidArgument)
				case "missing":
					return map[string]any{"error": `no app "missing"`}, fmt.Errorf("install: %w", ubus.ErrNotFound)
				case "boom":
					panic("handler bug")
				case "plain":
					return nil, errors.New("some failure")
				}
				caller, _ := ubus.CallerFrom(ctx)
				return map[string]any{"name": app, "port": args["port"], "by": caller.User, "method": caller.Method}, nil
			}},
		{Name: "nothing", Handler: func(context.Context, map[string]any) (map[string]any, error) { return nil, nil }},
	}}
}

func TestCallEndToEnd(t *testing.T) {
	b := ubustest.NewBroker(t)
	prov, cli := dial(t, b), dial(t, b)
	if _, err := prov.AddObject(demoObject()); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	in := map[string]any{"s": "x", "i": int32(-3), "b": true, "i64": int64(1) << 40, "d": 1.5,
		"i16": int16(7), "u": nil, "a": []any{int32(1), "two"}, "t": map[string]any{"k": int32(7)}}
	got, err := cli.Call(ctx, "demo", "echo", in)
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("echo: %#v %v", got, err)
	}

	got, err = cli.Call(ctx, "demo", "install", map[string]any{"app": "web", "port": 8080})
	if err != nil {
		t.Fatal(err)
	}
	if got["name"] != "web" || got["port"] != int32(8080) || got["by"] == "" || got["method"] != "install" {
		t.Fatalf("install: %#v", got)
	}
	// Policy conversion: an INT64 that fits becomes the int32 the policy asks for.
	got, err = cli.Call(ctx, "demo", "install", map[string]any{"app": "web", "port": int64(81)})
	if err != nil || got["port"] != int32(81) {
		t.Fatalf("int64 port: %#v %v", got, err)
	}
	got, err = cli.Call(ctx, "demo", "nothing", nil)
	if err != nil || got != nil {
		t.Fatalf("nothing: %#v %v", got, err)
	}

	for _, c := range []struct {
		object, method string
		args           map[string]any
		want           ubus.Status
	}{
		{"nosuch", "x", nil, ubus.StatusNotFound},
		{"demo", "nosuch", nil, ubus.StatusMethodNotFound},
		{"demo", "install", map[string]any{}, ubus.StatusInvalidArgument},
		{"demo", "install", map[string]any{"app": 5}, ubus.StatusInvalidArgument},
		{"demo", "install", map[string]any{"app": "x", "port": int64(1) << 40}, ubus.StatusInvalidArgument},
		{"demo", "install", map[string]any{"app": "missing"}, ubus.StatusNotFound},
		{"demo", "install", map[string]any{"app": "boom"}, ubus.StatusUnknownError},
		{"demo", "install", map[string]any{"app": "plain"}, ubus.StatusUnknownError},
	} {
		_, err := cli.Call(ctx, c.object, c.method, c.args)
		var ce *ubus.CallError
		if !errors.As(err, &ce) || ce.Status != c.want || !errors.Is(err, c.want) {
			t.Errorf("%s %s %v: error %v, want %v", c.object, c.method, c.args, err, c.want)
		}
	}
	// A handler can send words along with its status.
	data, err := cli.CallRaw(ctx, "demo", "install", mustEncode(t, map[string]any{"app": "missing"}))
	if !errors.Is(err, ubus.ErrNotFound) || len(data) != 1 {
		t.Fatalf("missing: %v %d", err, len(data))
	}
	if s, _ := ubus.FormatJSON(data[0], false); s != `{"error":"no app \"missing\""}` {
		t.Fatalf("missing: %s", s)
	}
}

func mustEncode(t testing.TB, v any) []byte {
	b, err := ubus.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLookupSignature(t *testing.T) {
	b := ubustest.NewBroker(t)
	prov, cli := dial(t, b), dial(t, b)
	reg, err := prov.AddObject(demoObject())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.AddObject(&ubus.Object{Name: "demo2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AddObject(&ubus.Object{Name: "demo"}); !errors.Is(err, ubus.ErrInvalidArgument) {
		t.Fatalf("duplicate path: %v", err)
	}
	objs, err := cli.Lookup(ctxT(t), "demo*")
	if err != nil || len(objs) != 2 || objs[0].Path != "demo" || objs[1].Path != "demo2" {
		t.Fatalf("lookup: %+v %v", objs, err)
	}
	if objs[0].ID != reg.ID() {
		t.Fatalf("id %x, registered %x", objs[0].ID, reg.ID())
	}
	want := []ubus.MethodSignature{
		{Name: "echo", Args: []ubus.Arg{}},
		{Name: "install", Args: []ubus.Arg{{"app", ubus.TypeString}, {"port", ubus.TypeInt32}, {"publish", ubus.TypeBool}}},
		{Name: "nothing", Args: []ubus.Arg{}},
	}
	if !reflect.DeepEqual(objs[0].Methods, want) {
		t.Fatalf("signature %+v", objs[0].Methods)
	}
	if _, err := cli.Lookup(ctxT(t), "zzz"); !errors.Is(err, ubus.ErrNotFound) {
		t.Fatalf("lookup zzz: %v", err)
	}
	if err := reg.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Call(ctxT(t), "demo", "echo", nil); !errors.Is(err, ubus.ErrNotFound) {
		t.Fatalf("call after remove: %v", err)
	}
	if err := cli.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// A slow handler must not hold up the socket: other calls, on the same
// connection, complete while it waits.
func TestSlowHandlerDoesNotBlock(t *testing.T) {
	b := ubustest.NewBroker(t)
	prov, cli := dial(t, b), dial(t, b)
	release := make(chan struct{})
	var slowIn atomic.Int32
	_, err := prov.AddObject(&ubus.Object{Name: "svc", Methods: []ubus.Method{
		{Name: "slow", Handler: func(ctx context.Context, _ map[string]any) (map[string]any, error) {
			slowIn.Add(1)
			<-release
			return map[string]any{"slow": true}, nil
		}},
		{Name: "fast", Policy: []ubus.Arg{{"n", ubus.TypeInt32}}, Handler: func(ctx context.Context, a map[string]any) (map[string]any, error) {
			return map[string]any{"n": a["n"]}, nil
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	slowDone := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { _, err := cli.Call(ctx, "svc", "slow", nil); slowDone <- err }()
	}
	for slowIn.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	// 50 calls in flight at once from several goroutines, each checked
	// against its own answer.
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := cli.Call(ctx, "svc", "fast", map[string]any{"n": i})
			if err == nil && r["n"] != int32(i) {
				err = fmt.Errorf("call %d got %v", i, r)
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-slowDone:
		t.Fatalf("slow call finished early: %v", err)
	default:
	}
	close(release)
	for i := 0; i < 3; i++ {
		if err := <-slowDone; err != nil {
			t.Fatal(err)
		}
	}
}

func TestCallTimeout(t *testing.T) {
	b := ubustest.NewBroker(t)
	prov, cli := dial(t, b), dial(t, b)
	block := make(chan struct{})
	defer close(block)
	prov.AddObject(&ubus.Object{Name: "hang", Methods: []ubus.Method{{Name: "m",
		Handler: func(context.Context, map[string]any) (map[string]any, error) { <-block; return nil, nil }}}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := cli.Call(ctx, "hang", "m", nil)
	if !errors.Is(err, ubus.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || ubus.StatusOf(err) != ubus.StatusTimeout {
		t.Fatalf("got %v", err)
	}
	// The connection is still good afterwards.
	if err := cli.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

type eventLog struct {
	mu  sync.Mutex
	got []string
	ch  chan struct{}
}

func newEventLog() *eventLog { return &eventLog{ch: make(chan struct{}, 100)} }

func (l *eventLog) add(ev string, data map[string]any) {
	l.mu.Lock()
	l.got = append(l.got, fmt.Sprintf("%s %v", ev, data))
	l.mu.Unlock()
	l.ch <- struct{}{}
}

func (l *eventLog) wait(t *testing.T, n int) []string {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-l.ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("waited for %d events, got %v", n, l.got)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func TestEvents(t *testing.T) {
	b := ubustest.NewBroker(t)
	a, c := dial(t, b), dial(t, b)
	apps, all := newEventLog(), newEventLog()
	if err := a.Listen("nuvol.app", apps.add); err != nil {
		t.Fatal(err)
	}
	if err := a.Listen("nuvol.*", all.add); err != nil {
		t.Fatal(err)
	}
	if err := c.Listen("nuvol.*", func(string, map[string]any) { t.Error("sender got its own event") }); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := c.Send("nuvol.app", map[string]any{"name": "web", "n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Send("nuvol.community", map[string]any{"services": 3}); err != nil {
		t.Fatal(err)
	}
	if err := c.Send("other", nil); err != nil {
		t.Fatal(err)
	}
	got := apps.wait(t, 20)
	for i, g := range got {
		if want := fmt.Sprintf("nuvol.app map[n:%d name:web]", i); g != want {
			t.Fatalf("event %d: %s, want %s (in order)", i, g, want)
		}
	}
	if got := all.wait(t, 21); got[20] != "nuvol.community map[services:3]" {
		t.Fatalf("prefix listener: %v", got[20])
	}
	if err := c.Send("ubus.object.add", nil); !errors.Is(err, ubus.ErrPermissionDenied) {
		t.Fatalf("reserved event: %v", err)
	}
	// ubusd's own events reach listeners.
	sys := newEventLog()
	a.Listen("ubus.object.*", sys.add)
	c.AddObject(&ubus.Object{Name: "x"})
	if got := sys.wait(t, 1); len(got) != 1 || got[0][:16] != "ubus.object.add " {
		t.Fatalf("system event: %v", got)
	}
}

func TestSubscribeNotify(t *testing.T) {
	b := ubustest.NewBroker(t)
	prov, sub := dial(t, b), dial(t, b)
	active := make(chan bool, 4)
	reg, err := prov.AddObject(&ubus.Object{Name: "nuvol", OnSubscribe: func(on bool) { active <- on }})
	if err != nil {
		t.Fatal(err)
	}
	notes := newEventLog()
	s, err := sub.Subscribe(ctxT(t), "nuvol", notes.add)
	if err != nil {
		t.Fatal(err)
	}
	if on := <-active; !on || !reg.HasSubscribers() {
		t.Fatal("provider not told of its subscriber")
	}
	reg.Notify("app", map[string]any{"name": "web", "state": "running"})
	reg.Notify("app", map[string]any{"name": "web", "state": "stopped"})
	if got := notes.wait(t, 2); got[0] != "app map[name:web state:running]" || got[1] != "app map[name:web state:stopped]" {
		t.Fatalf("notifications %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if on := <-active; on || reg.HasSubscribers() {
		t.Fatal("provider not told its last subscriber left")
	}
	if _, err := sub.Subscribe(ctxT(t), "nosuch", notes.add); !errors.Is(err, ubus.ErrNotFound) {
		t.Fatalf("subscribe nosuch: %v", err)
	}
}

// When ubusd restarts, a Client reconnects and re-adds its object, its
// listener and its subscription; calls work again.
func TestClientReconnects(t *testing.T) {
	b := ubustest.NewBroker(t)
	var calls atomic.Int32
	cl := ubus.NewClient(b.Path(), t.Logf)
	defer cl.Close()
	if err := cl.WaitConnected(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	reg, err := cl.AddObject(&ubus.Object{Name: "nuvol", Methods: []ubus.Method{{Name: "status",
		Handler: func(context.Context, map[string]any) (map[string]any, error) {
			calls.Add(1)
			return map[string]any{"ok": true}, nil
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	evs := newEventLog()
	if err := cl.Listen("demo.*", evs.add); err != nil {
		t.Fatal(err)
	}
	other := ubus.NewClient(b.Path(), t.Logf)
	defer other.Close()
	other.WaitConnected(ctxT(t))
	oreg, err := other.AddObject(&ubus.Object{Name: "notifier"})
	if err != nil {
		t.Fatal(err)
	}
	notes := newEventLog()
	cl.Subscribe("notifier", notes.add)

	check := func(round int) {
		t.Helper()
		var c *ubus.Conn
		for c == nil {
			c, _ = ubus.Dial(b.Path())
		}
		defer c.Close()
		// The object may take a moment to come back: poll.
		deadline := time.Now().Add(5 * time.Second)
		for {
			r, err := c.Call(ctxT(t), "nuvol", "status", nil)
			if err == nil && r["ok"] == true {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: object not back: %v", round, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := c.Send("demo.x", map[string]any{"round": round}); err != nil {
			t.Fatal(err)
		}
		if got := evs.wait(t, 1); got[len(got)-1] != fmt.Sprintf("demo.x map[round:%d]", round) {
			t.Fatalf("round %d: events %v", round, got)
		}
		// The subscription is renewed too, even when the client came back
		// before the notifier did.
		deadline = time.Now().Add(5 * time.Second)
		want := fmt.Sprintf("tick map[round:%d]", round)
	notify:
		for {
			if oreg.HasSubscribers() {
				oreg.Notify("tick", map[string]any{"round": round})
			}
			select {
			case <-notes.ch:
				notes.mu.Lock()
				last := notes.got[len(notes.got)-1]
				notes.mu.Unlock()
				if last == want {
					break notify
				}
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: subscription not renewed", round)
			}
		}
	}
	check(0)
	id0 := reg.ID()
	for round := 1; round <= 2; round++ {
		b.Restart()
		check(round)
	}
	if reg.ID() == id0 {
		t.Log("object id unchanged across restarts (possible, ids are random)")
	}
	if calls.Load() < 3 {
		t.Fatalf("handler ran %d times", calls.Load())
	}
	// While ubusd is away, calls fail fast with CONNECTION_FAILED.
	b.Close()
	deadline := time.Now().Add(5 * time.Second)
	for cl.Conn() != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := cl.Call(ctxT(t), "nuvol", "status", nil); !errors.Is(err, ubus.ErrConnectionFailed) {
		t.Fatalf("call while down: %v", err)
	}
	if err := reg.Notify("x", nil); !errors.Is(err, ubus.ErrConnectionFailed) {
		t.Fatalf("notify while down: %v", err)
	}
}

// The daemon may start before ubusd: objects added while it is away are
// registered once it appears, and removed objects stay removed.
func TestClientBeforeUbusd(t *testing.T) {
	dir, err := os.MkdirTemp("", "ubuslate")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ubus.sock")
	cl := ubus.NewClient(path, t.Logf)
	defer cl.Close()
	obj := func(name string) *ubus.Object {
		return &ubus.Object{Name: name, Methods: []ubus.Method{{Name: "ping",
			Handler: func(context.Context, map[string]any) (map[string]any, error) {
				return map[string]any{"pong": true}, nil
			}}}}
	}
	if _, err := cl.AddObject(obj("nuvol")); err != nil {
		t.Fatalf("add while ubusd is away: %v", err)
	}
	gone, err := cl.AddObject(obj("gone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen("x.*", func(string, map[string]any) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Call(ctxT(t), "nuvol", "ping", nil); !errors.Is(err, ubus.ErrConnectionFailed) {
		t.Fatalf("call while away: %v", err)
	}
	b, err := ubustest.Start(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := cl.WaitConnected(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if r, err := cl.Call(ctxT(t), "nuvol", "ping", nil); err != nil || r["pong"] != true {
		t.Fatalf("call: %v %v", r, err)
	}
	if err := gone.Remove(); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	c := dial(t, b)
	deadline := time.Now().Add(5 * time.Second)
	for {
		objs, _ := c.Lookup(ctxT(t), "")
		if len(objs) == 1 && objs[0].Path == "nuvol" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %+v", objs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A listener that panics is logged; the connection and later events go on.
func TestListenerPanic(t *testing.T) {
	b := ubustest.NewBroker(t)
	a, c := dial(t, b), dial(t, b)
	evs := newEventLog()
	a.Listen("p.*", func(ev string, d map[string]any) {
		if ev == "p.bad" {
			panic("listener bug")
		}
		evs.add(ev, d)
	})
	c.Send("p.bad", nil)
	c.Send("p.good", nil)
	if got := evs.wait(t, 1); got[0] != "p.good map[]" {
		t.Fatal(got)
	}
}
