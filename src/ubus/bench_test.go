package ubus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/ubus"
	"github.com/nuvol-project/nuvol/src/ubus/ubustest"
)

// listReply is shaped like the reply of nuvol's `list` method
// (CONTRACTS.md): 50 apps of 13 fields each.
func listReply() map[string]any {
	apps := make([]any, 50)
	for i := range apps {
		apps[i] = map[string]any{
			"name": fmt.Sprintf("app%d", i), "app": "static-web", "state": "running",
			"enabled": true, "port": 8000 + i, "memory": 64, "memory_used": 12345678,
			"cpu_weight": 100, "publish": i%2 == 0, "published": i%4 == 0,
			"description": "A small static web server for the community",
			"network":     "host", "address": "10.1.2.3",
		}
	}
	return map[string]any{"apps": apps}
}

func BenchmarkEncodeList50(b *testing.B) {
	v := listReply()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ubus.Encode(v); err != nil {
			b.Fatal(err)
		}
	}
}

// The same value through encoding/json, as a yardstick in the same run.
func BenchmarkEncodeList50JSON(b *testing.B) {
	v := listReply()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeList50(b *testing.B) {
	body, _ := ubus.Encode(listReply())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ubus.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeList50JSON(b *testing.B) {
	text, _ := json.Marshal(listReply())
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(text, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatJSONList50(b *testing.B) {
	body, _ := ubus.Encode(listReply())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ubus.FormatJSON(body, true); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPair(b *testing.B) (*ubus.Conn, *ubus.Registered) {
	br := ubustest.NewBroker(b)
	prov, cli := dial(b, br), dial(b, br)
	list := listReply()
	reg, err := prov.AddObject(&ubus.Object{Name: "nuvol", Methods: []ubus.Method{
		{Name: "status", Policy: []ubus.Arg{{"name", ubus.TypeString}}, Handler: func(_ context.Context, a map[string]any) (map[string]any, error) {
			return map[string]any{"name": a["name"], "state": "running"}, nil
		}},
		{Name: "list", Handler: func(context.Context, map[string]any) (map[string]any, error) { return list, nil }},
	}})
	if err != nil {
		b.Fatal(err)
	}
	return cli, reg
}

// A small call as `ubus call nuvol status` makes it: lookup, then invoke,
// through the test broker.
func BenchmarkCallRoundTrip(b *testing.B) {
	cli, _ := benchPair(b)
	ctx := context.Background()
	args := map[string]any{"name": "web"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cli.Call(ctx, "nuvol", "status", args); err != nil {
			b.Fatal(err)
		}
	}
}

// The same without the lookup, by object id.
func BenchmarkInvokeRoundTrip(b *testing.B) {
	cli, reg := benchPair(b)
	ctx := context.Background()
	args, _ := ubus.Encode(map[string]any{"name": "web"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cli.Invoke(ctx, reg.ID(), "status", args); err != nil {
			b.Fatal(err)
		}
	}
}

// `ubus call nuvol list` with 50 apps: encode, two hops, decode.
func BenchmarkCallList50RoundTrip(b *testing.B) {
	cli, _ := benchPair(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := cli.Call(ctx, "nuvol", "list", nil)
		if err != nil || len(r["apps"].([]any)) != 50 {
			b.Fatal(err)
		}
	}
}

// The same small call through the real ubusd, when NUVOL_REAL_UBUS names
// its install prefix (see TestRealUbusd); skipped otherwise.
func BenchmarkCallRoundTripRealUbusd(b *testing.B) {
	prefix := os.Getenv("NUVOL_REAL_UBUS")
	if prefix == "" {
		b.Skip("NUVOL_REAL_UBUS not set")
	}
	dir, err := os.MkdirTemp("", "realubus")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "ubus.sock")
	cmd := exec.Command(filepath.Join(prefix, "sbin", "ubusd"), "-s", sock)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var prov *ubus.Conn
	for i := 0; i < 100 && prov == nil; i++ {
		prov, _ = ubus.Dial(sock)
		time.Sleep(10 * time.Millisecond)
	}
	if prov == nil {
		b.Fatal("ubusd did not come up")
	}
	defer prov.Close()
	prov.AddObject(&ubus.Object{Name: "nuvol", Methods: []ubus.Method{{Name: "status", Policy: []ubus.Arg{{"name", ubus.TypeString}},
		Handler: func(_ context.Context, a map[string]any) (map[string]any, error) {
			return map[string]any{"name": a["name"], "state": "running"}, nil
		}}}})
	cli, err := ubus.Dial(sock)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	args := map[string]any{"name": "web"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cli.Call(ctx, "nuvol", "status", args); err != nil {
			b.Fatal(err)
		}
	}
}
