package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/nuvol-project/nuvol/src/api"
)

// cliApps is a minimal in-memory api.Apps for the CLI tests.
type cliApps struct {
	mu   sync.Mutex
	apps []api.App
	last api.InstallRequest
}

func (f *cliApps) Install(_ context.Context, r api.InstallRequest) (api.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = r
	a := api.App{Name: r.Name, App: r.App, State: "running", Port: r.Port, Memory: r.Memory}
	f.apps = append(f.apps, a)
	return a, nil
}
func (f *cliApps) Remove(context.Context, string) error { return nil }
func (f *cliApps) Start(context.Context, string) error  { return nil }
func (f *cliApps) Stop(_ context.Context, n string) error {
	return fmt.Errorf("lxc-stop %s: %w", n, api.Errorf(api.StatusTimeout, "timed out"))
}
func (f *cliApps) Restart(context.Context, string) error          { return nil }
func (f *cliApps) SetPublish(context.Context, string, bool) error { return nil }
func (f *cliApps) Logs(context.Context, string, int) ([]string, error) {
	return []string{"a", "b"}, nil
}
func (f *cliApps) List(context.Context) ([]api.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.App(nil), f.apps...), nil
}

type cliCatalog struct{}

func (cliCatalog) Apps() []api.CatalogApp {
	return []api.CatalogApp{{ID: "static-web", Name: "Static web", Port: 8080, Memory: 16, Description: "A web page"}}
}

type cliCommunity struct{}

func (cliCommunity) Search(api.Query) []api.Service {
	return []api.Service{{Type: "web", Description: "evil\x1b[2Jpage", Host: "n.guifi.local", Address: "10.0.0.2", Port: 80, Node: "n", Nuvol: false}}
}
func (cliCommunity) Members() []api.Member      { return nil }
func (cliCommunity) NotFitted() []api.NotFitted { return nil }

func fakeDaemon(t *testing.T) (string, *cliApps) {
	t.Helper()
	apps := &cliApps{apps: []api.App{{Name: "web", App: "static-web", State: "running", Enabled: true, Port: 8080, Memory: 64, MemoryUsed: 3 << 20, Address: "127.0.0.1", Published: true}}}
	path := filepath.Join(t.TempDir(), "nuvol.sock")
	ln, err := api.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &api.Server{Table: api.New(api.Backend{Apps: apps, Catalog: cliCatalog{}, Community: cliCommunity{}, Version: "test"})}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close(); ln.Close() })
	return path, apps
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		name string
	}{
		{[]string{"static-web", "--name", "web"}, []string{"static-web"}, "web"},
		{[]string{"--name", "web", "static-web"}, []string{"static-web"}, "web"},
		{[]string{"--name=web", "a", "b"}, []string{"a", "b"}, "web"},
		{[]string{"a", "--", "--name", "x"}, []string{"a", "--name", "x"}, ""},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		name := fs.String("name", "", "")
		pos, err := parseInterleaved(fs, tt.args)
		if err != nil || !reflect.DeepEqual(pos, tt.pos) || *name != tt.name {
			t.Errorf("%q: pos %q name %q err %v", tt.args, pos, *name, err)
		}
	}
}

func TestCLI(t *testing.T) {
	sock, apps := fakeDaemon(t)
	t.Setenv("NUVOL_SOCKET", sock)
	tests := []struct {
		args      []string
		code      int
		out, errs string
	}{
		{[]string{"ls"}, 0, "web   static-web  running  8080  3.0M/64M  yes        http://127.0.0.1:8080/", ""},
		{[]string{"install", "static-web", "--port", "9000", "--name", "w2"}, 0, "w2: running, port 9000\n", ""},
		{[]string{"--port", "9001", "install", "static-web"}, 2, "", "flag provided but not defined: -port"},
		{[]string{"install", "--memory", "32", "static-web", "--name", "w3", "--port=9002"}, 0, "w3: running, port 9002", ""},
		{[]string{"install", "nope"}, 1, "", `nuvol install: no app "nope" in the catalog`},
		{[]string{"start", "ghost"}, 1, "", `no installed app "ghost" (see ` + "`nuvol ls`)"},
		{[]string{"stop", "web"}, 1, "", "stop web: lxc-stop web: timed out (the daemon may still be working"},
		{[]string{"start"}, 2, "", "want NAME, got 0"},
		{[]string{"start", "a", "b"}, 2, "", "want NAME, got 2"},
		{[]string{"search", "web", "--text", "x"}, 0, `evil\x1b[2Jpage`, ""},
		{[]string{"logs", "web", "--lines", "2"}, 0, "a\nb\n", ""},
		{[]string{"catalog"}, 0, "static-web", ""},
		{[]string{"version"}, 0, "nuvol dev\n", ""},
		{[]string{"--socket", "/nonexistent/x.sock", "ls"}, 1, "", "cannot reach the nuvol daemon at /nonexistent/x.sock: is it running?"},
		{[]string{"ls", "--socket", "/nonexistent/x.sock"}, 1, "", "cannot reach the nuvol daemon at /nonexistent/x.sock"},
		{[]string{"frob"}, 2, "", `unknown command "frob"`},
		{[]string{}, 2, "", "usage:"},
	}
	for _, tt := range tests {
		code, out, errs := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errs, tt.errs) {
			t.Errorf("nuvol %q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out, errs, tt.code, tt.out, tt.errs)
		}
		if code != 0 && out != "" {
			t.Errorf("nuvol %q failed but wrote to stdout: %q", tt.args, out)
		}
	}
	if apps.last != (api.InstallRequest{App: "static-web", Name: "w3", Port: 9002, Memory: 32}) {
		t.Errorf("install request %+v", apps.last)
	}
}

func TestCLIJSON(t *testing.T) {
	sock, _ := fakeDaemon(t)
	code, out, _ := runCLI("ls", "--json", "--socket", sock)
	if code != 0 {
		t.Fatal(code)
	}
	var r struct {
		Apps []map[string]any `json:"apps"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Apps) != 1 || r.Apps[0]["port"] != float64(8080) {
		t.Errorf("json %q: %v", out, err)
	}
}

// FuzzPrinters: whatever JSON a daemon (or a peer, through search) sends,
// printing it neither panics nor lets a control character through.
func FuzzPrinters(f *testing.F) {
	for _, s := range []string{
		`{"apps":[{"name":"web","port":8080,"memory_used":3145728,"state":"running","address":"1.2.3.4","orphan":true,"error":"x"}]}`,
		`{"services":[{"type":"web","description":"a_b\u001b[2J","port":"80"},{"port":1e99},null,5]}`,
		`{"members":[{"name":[],"port":{}}],"not_fitted":[{"name":"a"},"x"]}`,
		`{"apps":{"installed":"many"},"lines":["a",1,null]}`,
		`{"name":"w","state":null,"port":-1}`,
	} {
		f.Add([]byte(s))
	}
	printers := []func(io.Writer, map[string]any){printStatus, printCatalog, printList, printState, printSearch, printNodes, printLogs}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if dec.Decode(&r) != nil {
			return
		}
		for _, p := range printers {
			var out bytes.Buffer
			p(&out, r)
			for _, c := range out.String() {
				if c != '\n' && isControl(c) {
					t.Fatalf("control character %q in output %q", c, out.String())
				}
			}
		}
	})
}
