package api

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/ubus"
	"github.com/nuvol-project/nuvol/src/ubus/ubustest"
)

// The table on the bus, through the ubusd stand-in: the signature `ubus -v
// list` shows, calls with the same JSON as the control socket, errors with
// their status and words, events, and the object coming back after ubusd
// restarts.
func TestUbusTransport(t *testing.T) {
	b := ubustest.NewBroker(t)
	tab, apps, _, _ := newFake()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	srv := ubus.NewClient(b.Path(), t.Logf)
	defer srv.Close()
	if _, err := srv.AddObject(UbusObject(ObjectName, tab)); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	// The table's events go out on the server's client.
	tab = New(Backend{Apps: apps, Catalog: fakeCatalog{{ID: "static-web"}}, Event: UbusEvents(srv, t.Logf)})
	srv2 := ubus.NewClient(b.Path(), t.Logf)
	defer srv2.Close()
	if _, err := srv2.AddObject(UbusObject("nuvol2", tab)); err != nil {
		t.Fatal(err)
	}
	if err := srv2.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}

	cli, err := ubus.Dial(b.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	objs, err := cli.Lookup(ctx, ObjectName)
	if err != nil || len(objs) != 1 {
		t.Fatalf("lookup: %v %v", objs, err)
	}
	sig := map[string][]ubus.Arg{}
	for _, m := range objs[0].Methods {
		sig[m.Name] = m.Args
	}
	want := []ubus.Arg{{Name: "app", Type: ubus.TypeString}, {Name: "name", Type: ubus.TypeString}, {Name: "port", Type: ubus.TypeInt32}, {Name: "memory", Type: ubus.TypeInt32}}
	if !reflect.DeepEqual(sig["install"], want) || len(sig) != len(Spec()) {
		t.Errorf("signature %v", sig)
	}

	events := make(chan string, 10)
	if err := cli.Listen("nuvol.*", func(ev string, d map[string]any) {
		events <- ev + " " + d["name"].(string) + " " + d["state"].(string)
	}); err != nil {
		t.Fatal(err)
	}

	r, err := cli.Call(ctx, ObjectName, "list", map[string]any{"ubus_rpc_session": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if a := r["apps"].([]any)[0].(map[string]any); a["name"] != "web" || a["port"] != int32(8080) || a["enabled"] != true {
		t.Errorf("list = %v", r)
	}
	_, err = cli.Call(ctx, ObjectName, "start", map[string]any{"name": "ghost"})
	if !errors.Is(err, ubus.ErrNotFound) {
		t.Errorf("start ghost: %v", err)
	}
	_, err = cli.Call(ctx, ObjectName, "install", map[string]any{"app": "static-web", "port": 70000})
	if !errors.Is(err, ubus.ErrInvalidArgument) {
		t.Errorf("install port 70000: %v", err)
	}
	// The message in words travels as data before the status.
	raw, err := cli.CallRaw(ctx, ObjectName, "logs", mustEncode(t, map[string]any{"name": "ghost"}))
	if !errors.Is(err, ubus.ErrNotFound) || len(raw) != 1 {
		t.Fatalf("logs ghost: %v %d", err, len(raw))
	}
	if s, _ := ubus.FormatJSON(raw[0], false); s != `{"error":"no installed app \"ghost\" (see `+"`nuvol ls`"+`)"}` {
		t.Errorf("error data %s", s)
	}

	if _, err := cli.Call(ctx, "nuvol2", "stop", map[string]any{"name": "web"}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev != "nuvol.app web stopped" {
			t.Errorf("event %q", ev)
		}
	case <-ctx.Done():
		t.Fatal("no nuvol.app event")
	}

	// ubusd restarts: the object comes back by itself.
	b.Restart()
	for {
		c2, err := ubus.Dial(b.Path())
		if err == nil {
			_, err = c2.Call(ctx, ObjectName, "status", nil)
			c2.Close()
			if err == nil {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("nuvol not back on the bus after a restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustEncode(t *testing.T, v map[string]any) []byte {
	b, err := ubus.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
