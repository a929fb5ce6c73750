package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func startServer(t *testing.T, tab *Table) (string, *Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nuvol.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Table: tab, Logf: t.Logf}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close(); ln.Close() })
	return path, s
}

func TestSocketMode(t *testing.T) {
	tab, _, _, _ := newFake()
	path, s := startServer(t, tab)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want socket 0600", fi.Mode())
	}
	// A second daemon on the same path is refused while the first lives.
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "another nuvol daemon") {
		t.Errorf("second Listen: %v", err)
	}
	s.Close()
	time.Sleep(10 * time.Millisecond) // Serve may not have registered ln yet
	s.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nuvol.sock")
	// A socket file nobody listens on, as kill -9 leaves it.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln2.Close()
	os.WriteFile(path, []byte("x"), 0o644)
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
}

func TestClientCalls(t *testing.T) {
	tab, _, _, _ := newFake()
	path, _ := startServer(t, tab)
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	r, err := c.Call(ctx, "list", nil)
	if err != nil {
		t.Fatal(err)
	}
	apps := r["apps"].([]any)
	if len(apps) != 1 || apps[0].(map[string]any)["port"] != json.Number("8080") {
		t.Errorf("list = %v", r)
	}
	_, err = c.Call(ctx, "start", map[string]any{"name": "ghost"})
	var e *Error
	if !errors.As(err, &e) || e.Code != StatusNotFound || !strings.Contains(e.Message, `"ghost"`) {
		t.Errorf("start ghost: %#v", err)
	}
	// The connection is still good after an error.
	if _, err := c.Call(ctx, "install", map[string]any{"app": "static-web", "name": "w2", "port": 9000}); err != nil {
		t.Errorf("install: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.sock")
	_, err := Dial(path)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "is it running? (/etc/init.d/nuvol start") {
		t.Errorf("Dial missing socket: %v", err)
	}
}

// The raw protocol, as a script or LuCI's test endpoint would speak it:
// pipelined requests are answered in order, bad lines get an error line and
// the connection goes on.
func TestWireProtocol(t *testing.T) {
	tab, _, _, _ := newFake()
	path, _ := startServer(t, tab)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in := strings.Join([]string{
		`{"method":"status","id":1}`,
		`not json`,
		``,
		`{"args":{}}`,
		`{"method":"nope","id":"x"}`,
		`{"method":"start","args":{"name":"web","ubus_rpc_session":"00000000"},"id":[2]}`,
		`{"method":"install","args":{"app":"static-web","port":"http"}}`,
	}, "\n") + "\n"
	if _, err := c.Write([]byte(in)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	want := []string{
		`"id":1`,
		`{"error":{"code":12,"status":"PARSE_ERROR"`,
		`{"error":{"code":1,"status":"INVALID_COMMAND"`,
		`{"error":{"code":3,"status":"METHOD_NOT_FOUND","message":"no method \"nope\"`,
		`{"result":{"name":"web","state":"running"},"id":[2]}`,
		`{"error":{"code":2,"status":"INVALID_ARGUMENT","message":"install: argument \"port\": want integer, got \"http\""}}`,
	}
	for i, w := range want {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if !strings.Contains(line, w) {
			t.Errorf("reply %d = %s, want %s", i, line, w)
		}
	}
}

func TestManyClients(t *testing.T) {
	tab, _, _, _ := newFake()
	path, _ := startServer(t, tab)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := 0; j < 20; j++ {
				if _, err := c.Call(context.Background(), "list", nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLongLine(t *testing.T) {
	tab, _, _, _ := newFake()
	path, _ := startServer(t, tab)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Write([]byte(`{"method":"` + strings.Repeat("a", MaxLine+10) + "\"}\n"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.Contains(line, "request longer than") {
		t.Errorf("reply %q", line)
	}
}

func TestCallTimeout(t *testing.T) {
	// A server that never answers.
	path := filepath.Join(t.TempDir(), "mute.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(5 * time.Second)
		}
	}()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Call(ctx, "list", nil)
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("err %v, want TIMEOUT", err)
	}
}

// FuzzRequestLine: no request line makes the server panic or answer
// anything but one JSON reply.
func FuzzRequestLine(f *testing.F) {
	for _, s := range []string{
		`{"method":"status"}`, `{"method":"install","args":{"app":"static-web","port":1e400}}`,
		`{"method":"logs","args":{"name":"web","lines":"-1"}}`, `{"method":"start","args":null}`,
		`{"method":1}`, `[]`, `{"method":"search","args":{"type":[{}]}}`, "\x00", `{"id":{"a":1}}`,
		`{"method":"install","args":{"app":"static-web","name":"w","memory":9e18}}`,
	} {
		f.Add([]byte(s))
	}
	tab, _, _, _ := newFake()
	s := &Server{Table: tab}
	f.Fuzz(func(t *testing.T, line []byte) {
		resp := s.handle(context.Background(), line)
		b, err := json.Marshal(resp)
		if err != nil {
			t.Fatalf("reply does not encode: %v", err)
		}
		if (resp.Error == nil) == (resp.Result == nil) {
			t.Fatalf("reply %s has neither or both of result and error", b)
		}
		_ = fmt.Sprint(resp)
	})
}

// BenchmarkSocketList is one `list` round trip over the control socket
// (fake backend: the transport and JSON cost alone).
func BenchmarkSocketList(b *testing.B) {
	tab, apps, _, _ := newFake()
	for i := 0; i < 2; i++ {
		apps.apps = append(apps.apps, App{Name: fmt.Sprintf("app%d", i), App: "static-web", State: "running", Port: 9000 + i})
	}
	path := filepath.Join(b.TempDir(), "s.sock")
	ln, err := Listen(path)
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Table: tab}
	go s.Serve(ln)
	defer func() { s.Close(); ln.Close() }()
	c, err := Dial(path)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Call(ctx, "list", nil); err != nil {
			b.Fatal(err)
		}
	}
}
