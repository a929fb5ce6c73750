package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nuvol-project/nuvol/src/api"
	"github.com/nuvol-project/nuvol/src/uci"
)

// repoRoot is the source tree, two levels above this package.
const repoRoot = "../../.."

func newTestServer(t *testing.T) (*Server, string) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "nuvol")
	if err := os.WriteFile(conf, []byte(defaultConfig+"\nconfig app 'web'\n\toption app 'static-web'\n\toption port '8080'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Options{Root: repoRoot, Backend: NewFake(), UCIPath: conf, Password: "pw", Hostname: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return s, conf
}

// rpc posts one JSON-RPC body and decodes the reply into out.
func rpc(t *testing.T, s *Server, body string, out any) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/ubus/?1234", strings.NewReader(body)))
	if rec.Code != 200 {
		t.Fatalf("HTTP %d for %s", rec.Code, body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		t.Fatalf("%s -> %s: %v", body, rec.Body, err)
	}
}

type reply struct {
	ID     any             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

func call(sid, object, method string, args any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "call", "params": []any{sid, object, method, args}})
	return string(b)
}

func login(t *testing.T, s *Server, user string) string {
	t.Helper()
	var r reply
	rpc(t, s, call(zeroSID, "session", "login", map[string]string{"username": user, "password": "pw"}), &r)
	var res []json.RawMessage
	json.Unmarshal(r.Result, &res)
	if len(res) != 2 {
		t.Fatalf("login %s: %s", user, r.Result)
	}
	var data struct {
		SID string `json:"ubus_rpc_session"`
	}
	json.Unmarshal(res[1], &data)
	return data.SID
}

// The ACL file grants exactly the table's split: reading methods to the read
// grant, changing methods to the write grant.
func TestACLMatchesMethodTable(t *testing.T) {
	groups, err := loadACL(filepath.Join(repoRoot, "luci-app/root/usr/share/rpcd/acl.d/luci-app-nuvol.json"))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := groups["luci-app-nuvol"]
	if !ok {
		t.Fatal("no group luci-app-nuvol")
	}
	sorted := func(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }
	if got, want := sorted(g.Read.Ubus["nuvol"]), sorted(api.ReadOnly()); !slices.Equal(got, want) {
		t.Errorf("read grant: %v, the table's reading methods: %v", got, want)
	}
	if got, want := sorted(g.Write.Ubus["nuvol"]), sorted(api.Changing()); !slices.Equal(got, want) {
		t.Errorf("write grant: %v, the table's changing methods: %v", got, want)
	}
	if !slices.Equal(g.Read.UCI, []string{"nuvol"}) || !slices.Equal(g.Write.UCI, []string{"nuvol"}) {
		t.Errorf("uci grants: read %v write %v, want [nuvol] both", g.Read.UCI, g.Write.UCI)
	}
}

// Every _() string of the views, and every menu/ACL title, is in the .pot.
func TestPotHasEveryString(t *testing.T) {
	pot, err := os.ReadFile(filepath.Join(repoRoot, "luci-app/po/templates/nuvol.pot"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^msgid "((?:[^"\\]|\\.)*)"$`).FindAllStringSubmatch(string(pot), -1) {
		ids[m[1]] = true
	}
	lit := regexp.MustCompile(`\b_\(\s*'((?:[^'\\]|\\.)*)'`)
	var files []string
	filepath.WalkDir(filepath.Join(repoRoot, "luci-app/htdocs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".js") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 6 {
		t.Fatalf("found only %d view files", len(files))
	}
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
			// JS single-quoted literal -> .pot (double-quoted C) escaping.
			s := strings.ReplaceAll(m[1], `\'`, `'`)
			s = strings.ReplaceAll(s, `"`, `\"`)
			n++
			if !ids[s] {
				t.Errorf("%s: _('%s') is not in nuvol.pot (run luci-app/po/update-pot.sh)", filepath.Base(f), m[1])
			}
		}
	}
	menu, _ := loadMenu(filepath.Join(repoRoot, "luci-app/root/usr/share/luci/menu.d/luci-app-nuvol.json"))
	for p, node := range menu {
		if !ids[node.Title] {
			t.Errorf("menu %s: title %q is not in nuvol.pot", p, node.Title)
		}
	}
	if n < 50 {
		t.Errorf("found only %d translatable strings", n)
	}
}

// The views are under the menu's paths, the menu sits under Services.
func TestMenuPointsAtViews(t *testing.T) {
	menu, err := loadMenu(filepath.Join(repoRoot, "luci-app/root/usr/share/luci/menu.d/luci-app-nuvol.json"))
	if err != nil {
		t.Fatal(err)
	}
	views := 0
	for p, n := range menu {
		if !strings.HasPrefix(p, "admin/services/nuvol") {
			t.Errorf("menu entry %s is not under admin/services", p)
		}
		if !slices.Equal(n.Depends.ACL, []string{"luci-app-nuvol"}) {
			t.Errorf("menu entry %s depends on ACL %v", p, n.Depends.ACL)
		}
		if n.Action.Type == "view" {
			views++
			f := filepath.Join(repoRoot, "luci-app/htdocs/luci-static/resources/view", n.Action.Path+".js")
			if _, err := os.Stat(f); err != nil {
				t.Errorf("menu entry %s: %v", p, err)
			}
		}
	}
	if views != 5 {
		t.Errorf("%d views in the menu, want 5", views)
	}
}

func TestUbusBatchOrderAndIDs(t *testing.T) {
	s, _ := newTestServer(t)
	sid := login(t, s, "root")
	body := `[` + strings.Join([]string{
		`{"jsonrpc":"2.0","id":"a","method":"call","params":["` + sid + `","nuvol","catalog",{}]}`,
		`{"jsonrpc":"2.0","id":7,"method":"call","params":["` + sid + `","nuvol","status",{}]}`,
		`{"jsonrpc":"2.0","method":"call","params":["` + sid + `","nuvol","list",{}]}`,
	}, ",") + `]`
	var reps []reply
	rpc(t, s, body, &reps)
	if len(reps) != 3 {
		t.Fatalf("%d replies", len(reps))
	}
	if reps[0].ID != "a" || reps[1].ID != float64(7) || reps[2].ID != nil {
		t.Errorf("ids %v %v %v", reps[0].ID, reps[1].ID, reps[2].ID)
	}
	if !bytes.Contains(reps[0].Result, []byte(`"apps"`)) || !bytes.Contains(reps[1].Result, []byte(`"node"`)) {
		t.Errorf("replies out of order: %s / %s", reps[0].Result, reps[1].Result)
	}
}

func TestUbusReplies(t *testing.T) {
	s, _ := newTestServer(t)
	root := login(t, s, "root")
	viewer := login(t, s, "viewer")
	tests := []struct {
		name, body string
		result     string // exact JSON of result, or ""
		code       int    // JSON-RPC error code, or 0
	}{
		{"probe", `{"jsonrpc":"2.0","id":"init","method":"list"}`, `["luci","nuvol","session","uci"]`, 0},
		{"signature", `{"jsonrpc":"2.0","id":1,"method":"list","params":["nuvol"]}`, "", 0},
		{"unknown sid", call(strings.Repeat("1", 32), "nuvol", "list", map[string]any{}), "", -32002},
		{"anonymous", call(zeroSID, "nuvol", "list", map[string]any{}), "", -32002},
		{"anonymous features", call(zeroSID, "luci", "getFeatures", map[string]any{}), `[0,{}]`, 0},
		{"viewer reads", call(viewer, "session", "access", map[string]string{"scope": "ubus", "object": "nuvol", "function": "list"}), `[0,{"access":true}]`, 0},
		{"viewer cannot install", call(viewer, "nuvol", "install", map[string]string{"app": "static-web"}), "", -32002},
		{"viewer uci read", call(viewer, "session", "access", map[string]string{"scope": "uci", "object": "nuvol", "function": "read"}), `[0,{"access":true}]`, 0},
		{"viewer uci write", call(viewer, "uci", "set", map[string]any{"config": "nuvol", "section": "main", "values": map[string]string{"cloud_name": "x"}}), `[6]`, 0},
		{"root uci other config", call(root, "uci", "get", map[string]string{"config": "network"}), `[6]`, 0},
		{"error in words", call(root, "nuvol", "start", map[string]string{"name": "nope"}), "", 0},
		{"reserved arg", call(root, "nuvol", "list", map[string]string{"ubus_rpc_session": "x"}), "", -32602},
		{"no such object", call(root, "network", "status", map[string]any{}), "", -32002},
		{"short params", `{"jsonrpc":"2.0","id":1,"method":"call","params":["x","y"]}`, "", -32700},
		{"bad method", `{"jsonrpc":"2.0","id":1,"method":"frob"}`, "", -32601},
		{"not json", `{"jsonrpc":`, "", -32700},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r reply
			rpc(t, s, tc.body, &r)
			if tc.code != 0 {
				if r.Error == nil || r.Error.Code != tc.code {
					t.Fatalf("got %s / %+v, want error %d", r.Result, r.Error, tc.code)
				}
				return
			}
			if r.Error != nil {
				t.Fatalf("error %+v", r.Error)
			}
			if tc.result != "" && string(r.Result) != tc.result {
				t.Errorf("result %s, want %s", r.Result, tc.result)
			}
			if tc.name == "error in words" && !bytes.HasPrefix(r.Result, []byte(`[4,{"error":"`)) {
				t.Errorf("result %s, want [4,{error:...}]", r.Result)
			}
		})
	}
}

// uci set/add/delete only stage; reads see the staging; commit writes the
// file with the uci package, keeping sections the harness did not touch.
func TestUCIStagingAndCommit(t *testing.T) {
	s, conf := newTestServer(t)
	sid := login(t, s, "root")
	do := func(method string, args map[string]any) string {
		var r reply
		rpc(t, s, call(sid, "uci", method, args), &r)
		if r.Error != nil {
			t.Fatalf("uci %s: %+v", method, r.Error)
		}
		return string(r.Result)
	}
	if got := do("set", map[string]any{"config": "nuvol", "section": "main", "values": map[string]any{"cloud_name": "test", "join": []string{"10.0.0.1:5000", "10.0.0.2:5000"}}}); got != "[0]" {
		t.Fatalf("set: %s", got)
	}
	do("delete", map[string]any{"config": "nuvol", "section": "main", "option": "lxc_path"})
	if got := do("add", map[string]any{"config": "nuvol", "type": "app", "name": "extra", "values": map[string]any{"port": "81"}}); got != `[0,{"section":"extra"}]` {
		t.Fatalf("add: %s", got)
	}
	before, _ := os.ReadFile(conf)
	if bytes.Contains(before, []byte("test")) {
		t.Fatal("set wrote the file before commit")
	}
	got := do("get", map[string]any{"config": "nuvol"})
	for _, want := range []string{`"cloud_name":"test"`, `"join":["10.0.0.1:5000","10.0.0.2:5000"]`, `"extra":{`, `".type":"app"`} {
		if !strings.Contains(got, want) {
			t.Errorf("staged get lacks %s: %s", want, got)
		}
	}
	if strings.Contains(got, "lxc_path") {
		t.Errorf("deleted option still read: %s", got)
	}
	if ch := do("changes", map[string]any{"config": "nuvol"}); !strings.Contains(ch, `["set","main","cloud_name","test"]`) {
		t.Errorf("changes: %s", ch)
	}
	if got := do("set", map[string]any{"config": "nuvol", "section": "nosuch", "values": map[string]any{"a": "b"}}); got != "[4]" {
		t.Errorf("set on a missing section: %s", got)
	}
	do("commit", map[string]any{"config": "nuvol"})
	f, err := uci.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Get("main", "cloud_name"); v != "test" {
		t.Errorf("cloud_name %q after commit", v)
	}
	if l := f.GetList("main", "join"); !slices.Equal(l, []string{"10.0.0.1:5000", "10.0.0.2:5000"}) {
		t.Errorf("join %v", l)
	}
	if _, ok := f.Get("main", "lxc_path"); ok {
		t.Error("lxc_path survived its delete")
	}
	if v, _ := f.Get("web", "port"); v != "8080" {
		t.Errorf("untouched app section lost: port %q", v)
	}
	if v, _ := f.Get("extra", "port"); v != "81" {
		t.Errorf("added section: port %q", v)
	}
	if ch := do("changes", map[string]any{"config": "nuvol"}); ch != `[0,{"changes":[]}]` {
		t.Errorf("changes after commit: %s", ch)
	}
}

// The pages: a login form first, then the view shell with the session in
// env, firstchild redirects, and Save & Apply's CGI commit.
func TestPagesAndApply(t *testing.T) {
	s, conf := newTestServer(t)
	ts := httptest.NewServer(s)
	defer ts.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	res, err := c.Get(ts.URL + "/cgi-bin/luci/admin/services/nuvol")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 403 || !bytes.Contains(body, []byte("luci_password")) {
		t.Fatalf("without a session: %d %s", res.StatusCode, body)
	}
	res, err = c.PostForm(ts.URL+"/cgi-bin/luci/admin/services/nuvol", url.Values{"luci_username": {"root"}, "luci_password": {"pw"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasSuffix(res.Request.URL.Path, "/nuvol/apps") {
		t.Fatalf("after login: %d at %s", res.StatusCode, res.Request.URL)
	}
	for _, want := range []string{`"sessionid":"`, `instantiateView("nuvol/apps")`, `/luci-static/resources/luci.js`, `tabmenu-item-settings`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("page lacks %s", want)
		}
	}
	m := regexp.MustCompile(`"sessionid":"([0-9a-f]+)","token":"([0-9a-f]+)"`).FindSubmatch(body)
	if m == nil {
		m = regexp.MustCompile(`"sessionid":"([0-9a-f]+)"`).FindSubmatch(body)
	}
	sid := string(m[1])
	tok := regexp.MustCompile(`"token":"([0-9a-f]+)"`).FindSubmatch(body)
	var r reply
	rpc(t, s, call(sid, "uci", "set", map[string]any{"config": "nuvol", "section": "main", "values": map[string]any{"cloud_name": "applied"}}), &r)
	res, err = c.PostForm(ts.URL+"/cgi-bin/luci/admin/uci/apply_unchecked", url.Values{"sid": {sid}, "token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("apply with a wrong token: %d", res.StatusCode)
	}
	res, err = c.PostForm(ts.URL+"/cgi-bin/luci/admin/uci/apply_unchecked", url.Values{"sid": {sid}, "token": {string(tok[1])}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 {
		t.Errorf("apply_unchecked: %d", res.StatusCode)
	}
	if b, _ := os.ReadFile(conf); !bytes.Contains(b, []byte("option cloud_name 'applied'")) {
		t.Errorf("apply did not commit:\n%s", b)
	}
}

// The JSON-RPC endpoint takes any bytes without panicking.
func FuzzUbusRequest(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"list"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"call","params":["00000000000000000000000000000000","session","login",{"username":"root","password":"pw"}]}]`,
		`{"jsonrpc":"2.0","id":1,"method":"call","params":[1,2,3,4]}`,
		`{"jsonrpc":"2.0","id":1,"method":"call","params":["x","uci","get",null]}`,
		`[]`, `null`, `"x"`, `{`,
	} {
		f.Add([]byte(seed))
	}
	s, err := NewServer(Options{Root: repoRoot, Backend: NewFake(), UCIPath: filepath.Join(f.TempDir(), "nuvol"), Password: "pw"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("POST", "/ubus", bytes.NewReader(body)))
		if rec.Code != 200 || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("HTTP %d, body %q", rec.Code, rec.Body)
		}
	})
}

// BenchmarkUbusBatch is what one poll of the My apps and Apps pages costs the
// endpoint: one POST with a batch of list, catalog and status, against the
// in-memory table (the daemon's own work is measured in src/api and
// src/cmd/nuvol).
func BenchmarkUbusBatch(b *testing.B) {
	conf := filepath.Join(b.TempDir(), "nuvol")
	os.WriteFile(conf, []byte(defaultConfig), 0o644)
	s, err := NewServer(Options{Root: repoRoot, Backend: NewFake(), UCIPath: conf, Password: "pw"})
	if err != nil {
		b.Fatal(err)
	}
	sess := s.login("root", "pw")
	body := `[` + call(sess.id, "nuvol", "list", map[string]any{}) + `,` +
		call(sess.id, "nuvol", "catalog", map[string]any{}) + `,` +
		call(sess.id, "nuvol", "status", map[string]any{}) + `]`
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("POST", "/ubus/", strings.NewReader(body)))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkUCIGet is the Settings page's load: `uci get {config: nuvol}`
// on a file with the main section and 20 apps, read with src/uci.
func BenchmarkUCIGet(b *testing.B) {
	conf := filepath.Join(b.TempDir(), "nuvol")
	var sb strings.Builder
	sb.WriteString(defaultConfig)
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&sb, "\nconfig app 'app%c'\n\toption app 'static-web'\n\toption port '%d'\n", 'a'+i, 8010+i)
	}
	os.WriteFile(conf, []byte(sb.String()), 0o644)
	s, err := NewServer(Options{Root: repoRoot, Backend: NewFake(), UCIPath: conf, Password: "pw"})
	if err != nil {
		b.Fatal(err)
	}
	sess := s.login("root", "pw")
	body := call(sess.id, "uci", "get", map[string]any{"config": "nuvol"})
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("POST", "/ubus/", strings.NewReader(body)))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"appt"`) {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
