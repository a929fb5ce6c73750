package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	read := []string{"catalog", "list", "logs", "nodes", "search", "status"}
	change := []string{"install", "publish", "remove", "restart", "start", "stop", "unpublish"}
	if got := ReadOnly(); !reflect.DeepEqual(got, read) {
		t.Errorf("ReadOnly() = %v, want %v", got, read)
	}
	if got := Changing(); !reflect.DeepEqual(got, change) {
		t.Errorf("Changing() = %v, want %v", got, change)
	}
	for _, m := range Spec() {
		if m.Handler == nil {
			t.Errorf("%s has no handler", m.Name)
		}
	}
}

func TestArgumentChecks(t *testing.T) {
	tests := []struct {
		method string
		args   map[string]any
		code   Status // 0: success
		want   string // substring of the message, or of the fake's calls
	}{
		{"install", map[string]any{}, StatusInvalidArgument, `"app" is required`},
		{"install", map[string]any{"app": ""}, StatusInvalidArgument, `"app" is required`},
		{"install", map[string]any{"app": 5}, StatusInvalidArgument, `want string, got 5`},
		{"install", map[string]any{"app": "static-web", "port": "80a"}, StatusInvalidArgument, `"port": want integer, got "80a"`},
		{"install", map[string]any{"app": "static-web", "port": 80.5}, StatusInvalidArgument, `want integer, got 80.5`},
		{"install", map[string]any{"app": "static-web", "port": int64(1) << 40}, StatusInvalidArgument, `want integer`},
		{"install", map[string]any{"app": "static-web", "port": 70000}, StatusInvalidArgument, `70000 is not a port`},
		{"install", map[string]any{"app": "static-web", "memory": 1}, StatusInvalidArgument, `not a sane memory`},
		{"install", map[string]any{"app": "static-web", "name": "my web"}, StatusInvalidArgument, `"my web" is not a valid name`},
		{"install", map[string]any{"app": "static-web", "name": "../x"}, StatusInvalidArgument, `not a valid name`},
		{"install", map[string]any{"app": "nope"}, StatusNotFound, `no app "nope" in the catalog`},
		{"install", map[string]any{"app": "static-web", "name": "web"}, StatusInvalidArgument, `"web" is already installed`},
		{"install", map[string]any{"app": "static-web", "port": 8080}, StatusInvalidArgument, `port 8080 is already used by app "web"`},
		// Accepted spellings: JSON numbers, ubus int32, numeric strings; unknown keys ignored.
		{"install", map[string]any{"app": "static-web", "port": 8081.0, "ubus_rpc_session": "abc"}, 0, "install static-web static_web 8081 0"},
		{"install", map[string]any{"app": "static-web", "name": "w2", "port": int32(8082), "memory": "32"}, 0, "install static-web w2 8082 32"},
		{"install", map[string]any{"app": "static-web", "name": "w3", "port": json.Number("8083")}, 0, "install static-web w3 8083 0"},
		{"start", map[string]any{}, StatusInvalidArgument, `"name" is required`},
		{"start", map[string]any{"name": true}, StatusInvalidArgument, `want string, got true`},
		{"start", map[string]any{"name": "ghost"}, StatusNotFound, `no installed app "ghost"`},
		{"start", map[string]any{"name": "web", "ubus_rpc_session": "x"}, 0, "start web"},
		{"logs", map[string]any{"name": "web", "lines": 0}, StatusInvalidArgument, "0 is not a line count"},
		{"logs", map[string]any{"name": "web", "lines": []any{1}}, StatusInvalidArgument, "want integer, got an array [1]"},
		{"search", map[string]any{"type": map[string]any{}}, StatusInvalidArgument, "want string, got an object"},
		{"frobnicate", nil, StatusMethodNotFound, `no method "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.method, tt.args), func(t *testing.T) {
			tab, apps, _, _ := newFake()
			_, err := tab.Call(context.Background(), tt.method, tt.args)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if calls := strings.Join(apps.Calls(), "; "); !strings.Contains(calls, tt.want) {
					t.Fatalf("calls %q, want %q", calls, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code || !strings.Contains(e.Message, tt.want) {
				t.Fatalf("error %#v, want %s containing %q", err, tt.code, tt.want)
			}
			// Nothing that changes anything ran.
			if calls := apps.Calls(); len(calls) != 0 {
				t.Fatalf("a refused call reached the app manager: %v", calls)
			}
		})
	}
}

func TestResults(t *testing.T) {
	tab, _, com, events := newFake()
	ctx := context.Background()
	call := func(m string, args map[string]any) map[string]any {
		t.Helper()
		r, err := tab.Call(ctx, m, args)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		return r
	}
	st := call("status", nil)
	if st["node"] != "n1" || st["version"] != "1.2.3" || st["members"] != 1 ||
		!reflect.DeepEqual(st["apps"], map[string]any{"installed": 1, "running": 1, "published": 0}) {
		t.Errorf("status = %v", st)
	}
	if nf := st["not_fitted"].([]any); len(nf) != 1 || nf[0].(map[string]any)["name"] != "big" {
		t.Errorf("status not_fitted = %v", st["not_fitted"])
	}
	cat := call("catalog", nil)["apps"].([]any)
	if len(cat) != 2 || cat[0].(map[string]any)["installed"] != true || cat[1].(map[string]any)["installed"] != false {
		t.Errorf("catalog = %v", cat)
	}
	r := call("publish", map[string]any{"name": "web"})
	if r["name"] != "web" || r["state"] != "running" {
		t.Errorf("publish = %v", r)
	}
	l := call("list", nil)["apps"].([]any)
	if a := l[0].(map[string]any); a["publish"] != true || a["published"] != true || a["port"] != 8080 {
		t.Errorf("list = %v", l)
	}
	r = call("stop", map[string]any{"name": "web"})
	if r["state"] != "stopped" {
		t.Errorf("stop = %v", r)
	}
	s := call("search", map[string]any{"type": "static-web", "text": "page"})
	if com.lastQ != (Query{Type: "static-web", Text: "page"}) {
		t.Errorf("search query = %+v", com.lastQ)
	}
	if svc := s["services"].([]any)[0].(map[string]any); svc["software"] != "nuvol" || svc["port"] != 8080 || svc["node_status"] != "alive" {
		t.Errorf("search = %v", s)
	}
	n := call("nodes", nil)
	if m := n["members"].([]any); len(m) != 2 || m[1].(map[string]any)["software"] != "cloudy" {
		t.Errorf("nodes = %v", n)
	}
	lg := call("logs", map[string]any{"name": "web", "lines": 2})
	if lines := lg["lines"].([]any); len(lines) != 2 {
		t.Errorf("logs = %v", lg)
	}
	r = call("install", map[string]any{"app": "static-web"})
	if r["name"] != "static_web" || r["port"] != 8080 {
		t.Errorf("install = %v", r)
	}
	r = call("remove", map[string]any{"name": "web"})
	if r["state"] != "removed" {
		t.Errorf("remove = %v", r)
	}
	want := []string{"nuvol.app web running", "nuvol.app web stopped", "nuvol.app static_web running", "nuvol.app web removed"}
	if !reflect.DeepEqual(*events, want) {
		t.Errorf("events %q, want %q", *events, want)
	}
}

// A result must survive JSON unchanged in shape, since the control socket
// and LuCI's /ubus both carry it as JSON.
func TestResultsAreJSON(t *testing.T) {
	tab, _, _, _ := newFake()
	for _, m := range ReadOnly() {
		args := map[string]any{"name": "web"}
		r, err := tab.Call(context.Background(), m, args)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	deadline, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	tests := []struct {
		err  error
		code Status
	}{
		{fmt.Errorf("wrapped: %w", Errorf(StatusNotFound, "gone")), StatusNotFound},
		{errors.New("disk full"), StatusUnknownError},
		{fmt.Errorf("x: %w", deadline.Err()), StatusTimeout},
		{statusErr(6), StatusPermissionDenied},
	}
	for _, tt := range tests {
		tab, apps, _, _ := newFake()
		apps.fail = tt.err
		_, err := tab.Call(context.Background(), "stop", map[string]any{"name": "web"})
		var e *Error
		if !errors.As(err, &e) || e.Code != tt.code || !strings.Contains(e.Message, tt.err.Error()) || !strings.HasPrefix(e.Message, "stop web: ") {
			t.Errorf("%v -> %#v, want code %s", tt.err, err, tt.code)
		}
	}
	if !errors.Is(Errorf(StatusNotFound, "x"), ErrNotFound) || errors.Is(Errorf(StatusNotFound, "x"), ErrTimeout) {
		t.Error("errors.Is on codes")
	}
}

type statusErr int

func (s statusErr) Error() string   { return fmt.Sprintf("status %d", int(s)) }
func (s statusErr) UbusStatus() int { return int(s) }
