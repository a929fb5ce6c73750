package ubus_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/ubus"
)

// TestRealUbusd runs this package against the real ubusd and ubus CLI when
// NUVOL_REAL_UBUS names an install prefix holding sbin/ubusd and bin/ubus
// (built from openwrt/ubus; see testdata/README.md). CI skips it: the
// golden tests replay what it checks. NUVOL_REAL_UBUS_SERVER may name the
// ubus-example-server binary, to call a C object from Go.
func TestRealUbusd(t *testing.T) {
	prefix := os.Getenv("NUVOL_REAL_UBUS")
	if prefix == "" {
		t.Skip("NUVOL_REAL_UBUS not set (an install prefix of the real ubusd and ubus)")
	}
	dir, err := os.MkdirTemp("", "realubus")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "ubus.sock")
	ubusd := startUbusd(t, prefix, sock)
	defer func() { ubusd.Process.Kill(); ubusd.Wait() }()

	cli := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(prefix, "bin", "ubus"), append([]string{"-s", sock}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Run()
		return out.String(), cmd.ProcessState.ExitCode()
	}

	cl := ubus.NewClient(sock, t.Logf)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	reg, err := cl.AddObject(goldenObject())
	if err != nil {
		t.Fatal(err)
	}
	golden := func(name string, id uint32) string {
		b, err := os.ReadFile(filepath.Join("testdata", "cli", name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if id != 0 {
			s = regexp.MustCompile(`@[0-9a-f]{8}`).ReplaceAllString(s, fmt.Sprintf("@%08x", id))
		}
		return s
	}
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", what, got, want)
		}
	}

	out, _ := cli("-v", "list", "nuvol")
	check("ubus -v list nuvol", out, golden("list-v-nuvol.txt", reg.ID()))
	echo := golden("call-echo.json", 0)
	out, _ = cli("call", "nuvol", "echo", echo)
	check("ubus call nuvol echo", out, golden("call-echo.txt", 0))
	out, _ = cli("-S", "call", "nuvol", "echo", echo)
	check("ubus -S call nuvol echo", out, golden("call-echo-S.txt", 0))
	out, _ = cli("call", "nuvol", "install", `{"app":"web","port":8080}`)
	check("ubus call nuvol install", out, golden("call-install.txt", 0))
	out, code := cli("call", "nuvol", "install", `{"app":"nope"}`)
	check("ubus call nuvol install nope", out+fmt.Sprintf("exit %d\n", code), golden("call-install-notfound.txt", 0))
	out, code = cli("call", "nuvol", "zzz")
	check("ubus call nuvol zzz", out+fmt.Sprintf("exit %d\n", code), golden("call-zzz.txt", 0))

	// ubus listen sees our event.
	lis := startCLI(t, prefix, sock, "listen", "demo.*")
	line := lis.waitLine(t, func() {
		cl.Send("demo.go", map[string]any{"a": []any{1, 2}, "b": false, "c": 2.25, "z": nil, "big": int64(-5000000000), "s": "x"})
	})
	check("ubus listen", line+"\n", golden("listen-demo.txt", 0))
	lis.stop()

	// ubus send reaches our listener.
	got := make(chan string, 10)
	cl.Listen("cli.*", func(ev string, d map[string]any) { got <- ev + " " + fmt.Sprint(d) })
	time.Sleep(100 * time.Millisecond)
	if out, code := cli("send", "cli.x", `{"k":"v","n":42,"f":1e2}`); code != 0 {
		t.Fatalf("ubus send: %s %d", out, code)
	}
	select {
	case s := <-got:
		check("event from ubus send", s, "cli.x map[f:100 k:v n:42]")
	case <-time.After(5 * time.Second):
		t.Error("no event from ubus send")
	}

	// ubus subscribe gets our notifications.
	sub := startCLI(t, prefix, sock, "subscribe", "nuvol")
	line = sub.waitLine(t, func() { reg.Notify("tick", map[string]any{"n": 1}) })
	check("ubus subscribe", line, `{ "tick": {"n":1} }`)
	sub.stop()

	// ubusd's own ACL object, in C.
	conn := cl.Conn()
	data, err := conn.Invoke(ctx, ubus.ObjACL, "query", nil)
	if err != nil || len(data) != 1 {
		t.Fatalf("acl query: %v", err)
	}
	s, _ := ubus.FormatJSON(data[0], false)
	check("acl query", s, `{"seq":0,"acl":[]}`)

	if srv := os.Getenv("NUVOL_REAL_UBUS_SERVER"); srv != "" {
		cmd := exec.Command(srv, "-s", sock)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		var r map[string]any
		for i := 0; i < 50; i++ {
			if r, err = cl.Call(ctx, "test", "hello", map[string]any{"id": 1, "msg": "hi"}); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		check("call test hello (C object)", fmt.Sprint(r, err), "map[message:test received a message: hi] <nil>")
		// The C server passes a pipe fd with each hello STATUS; this
		// package does not take fds, and the kernel must close them.
		before := openFDs(t)
		for i := 0; i < 3; i++ {
			if _, err := cl.Call(ctx, "test", "hello", map[string]any{"id": i, "msg": "x"}); err != nil {
				t.Fatal(err)
			}
		}
		if after := openFDs(t); after > before+1 {
			t.Errorf("open fds %d -> %d after 3 calls that carried an fd", before, after)
		}
	}

	// Many calls in flight through the real ubusd, one slow call pending.
	caller, err := ubus.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	slow := make(chan error, 1)
	go func() { _, err := caller.Call(ctx, "nuvol", "slow", nil); slow <- err }()
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		go func(i int) {
			r, err := caller.Call(ctx, "nuvol", "install", map[string]any{"app": fmt.Sprint("a", i), "port": i})
			if err == nil && (r["name"] != fmt.Sprint("a", i) || r["port"] != int32(i)) {
				err = fmt.Errorf("call %d: got %v", i, r)
			}
			errs <- err
		}(i)
	}
	for i := 0; i < 200; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-slow:
		t.Error("the slow call ended before the 200 fast ones")
	default:
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}

	// ubusd restarts: the Client comes back and re-adds nuvol.
	ubusd.Process.Kill()
	ubusd.Wait()
	ubusd = startUbusd(t, prefix, sock)
	var id uint32
	for i := 0; i < 100; i++ {
		out, _ = cli("-v", "list", "nuvol")
		if strings.HasPrefix(out, "'nuvol'") && reg.ID() != 0 {
			id = reg.ID()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	check("ubus -v list nuvol after restart", out, golden("list-v-nuvol.txt", id))
	out, _ = cli("call", "nuvol", "install", `{"app":"web","port":8080}`)
	check("call after restart", out, golden("call-install.txt", 0))
}

func startUbusd(t *testing.T, prefix, sock string) *exec.Cmd {
	t.Helper()
	os.Remove(sock)
	cmd := exec.Command(filepath.Join(prefix, "sbin", "ubusd"), "-s", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			return cmd
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("ubusd did not create its socket")
	return nil
}

type cliProc struct {
	cmd   *exec.Cmd
	lines chan string
}

func startCLI(t *testing.T, prefix, sock string, args ...string) *cliProc {
	t.Helper()
	cmd := exec.Command(filepath.Join(prefix, "bin", "ubus"), append([]string{"-s", sock}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &cliProc{cmd: cmd, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	return p
}

// waitLine repeats poke (the CLI may not have registered yet) until the
// CLI prints a line.
func (p *cliProc) waitLine(t *testing.T, poke func()) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		poke()
		select {
		case l := <-p.lines:
			return l
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatal("the CLI printed nothing")
	return ""
}

func (p *cliProc) stop() { p.cmd.Process.Kill(); p.cmd.Wait() }

// goldenObject is the object testdata/cli was recorded against.
func goldenObject() *ubus.Object {
	return &ubus.Object{Name: "nuvol", Methods: []ubus.Method{
		{Name: "status", Handler: func(ctx context.Context, a map[string]any) (map[string]any, error) {
			return map[string]any{"node": "demo", "apps": map[string]any{"installed": 2, "running": 1}, "enabled": true, "ratio": 1.5, "list": []any{1, "two", nil}}, nil
		}},
		{Name: "install", Policy: []ubus.Arg{{"app", ubus.TypeString}, {"name", ubus.TypeString}, {"port", ubus.TypeInt32}, {"memory", ubus.TypeInt32}},
			Handler: func(ctx context.Context, a map[string]any) (map[string]any, error) {
				if a["app"] == nil {
					return nil, ubus.ErrInvalidArgument
				}
				if a["app"] == "nope" {
					return map[string]any{"error": "no app \"nope\""}, fmt.Errorf("install: %w", ubus.ErrNotFound)
				}
				cl, _ := ubus.CallerFrom(ctx)
				return map[string]any{"name": a["app"], "port": a["port"], "user": cl.User}, nil
			}},
		{Name: "echo", Policy: []ubus.Arg{{"b", ubus.TypeBool}, {"t", ubus.TypeTable}, {"a", ubus.TypeArray}, {"d", ubus.TypeDouble}, {"i64", ubus.TypeInt64}, {"i16", ubus.TypeInt16}, {"u", ubus.TypeUnspec}},
			Handler: func(ctx context.Context, a map[string]any) (map[string]any, error) { return a, nil }},
		{Name: "slow", Handler: func(ctx context.Context, a map[string]any) (map[string]any, error) {
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
			}
			return map[string]any{}, nil
		}},
	}}
}

func openFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(es)
}
