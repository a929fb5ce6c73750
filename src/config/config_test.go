package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nuvol-project/nuvol/src/uci"
)

const shipped = "../../files/etc/config/nuvol"

func parse(t testing.TB, text string) *uci.File {
	t.Helper()
	f, err := uci.Parse("nuvol", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The file the package installs is exactly Default().
func TestShippedFileIsDefault(t *testing.T) {
	c, err := Load(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("shipped file gives\n%+v\nDefault() is\n%+v", c, Default())
	}
	// Every option the schema knows is documented in it.
	b, _ := os.ReadFile(shipped)
	for _, opt := range []string{"enabled", "node_name", "cloud_name", "device_name", "bind_addr", "bind_port",
		"advertise_addr", "join", "encrypt_key", "lxc_path", "socket", "log_level", "catalog", "image_server",
		"app", "publish", "port", "memory", "cpu_weight", "description", "network", "bridge"} {
		if !strings.Contains(string(b), " "+opt+" ") {
			t.Errorf("shipped file does not mention %s", opt)
		}
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	c, err := FromUCI(parse(t, ""))
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("got %+v, %v", c, err)
	}
}

func TestFromUCI(t *testing.T) {
	f := parse(t, `
config nuvol 'main'
	option enabled 'no'
	option node_name 'router7'
	option cloud_name 'guifi.net'
	option bind_port '5001'
	list join '10.1.2.3:5000'
	list join 'peer.example.net'
	list join '[fd00::1]:5000'
	option encrypt_key 'cg8StVXbQJ0gPvMd9o7yrg=='
	list catalog '/etc/nuvol/catalog.d'
	list catalog 'https://example.net/feed.json'
	option unknown_option 'kept'

config app 'web'
	option app 'static-web'
	option port '8080'
	option description 'My page'

config app 'files'
	option app 'file-share'
	option enabled 'disabled'
	option publish 'yes'
	option memory '128'
	option cpu_weight '50'
	option network 'bridge'

config something_else 'x'
	option whatever '1'
`)
	c, err := FromUCI(f)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Node.Enabled = false
	want.Node.NodeName = "router7"
	want.Node.CloudName = "guifi.net"
	want.Node.BindPort = 5001
	want.Node.Join = []string{"10.1.2.3:5000", "peer.example.net", "[fd00::1]:5000"}
	want.Node.EncryptKey = "cg8StVXbQJ0gPvMd9o7yrg=="
	want.Node.Catalogs = []string{"/etc/nuvol/catalog.d", "https://example.net/feed.json"}
	web := DefaultApp("web", "static-web")
	web.Port, web.Description = 8080, "My page"
	files := DefaultApp("files", "file-share")
	files.Enabled, files.Publish, files.Memory, files.CPUWeight = false, true, 128, 50
	files.Network, files.Bridge = NetworkBridge, DefaultBridge
	want.Apps = []App{web, files}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
	if a, ok := c.App("files"); !ok || a.Memory != 128 {
		t.Errorf("App(files) = %+v, %v", a, ok)
	}
	if c.Node.NameOrHost() != "router7" {
		t.Error("NameOrHost")
	}
	if Default().Node.NameOrHost() == "" {
		t.Error("NameOrHost without node_name")
	}
}

// Every bad option is reported, each naming its path and value.
func TestValidationCollectsAllErrors(t *testing.T) {
	f := parse(t, `
config nuvol 'main'
	option enabled 'maybe'
	option node_name 'two words'
	option cloud_name 'guifi..net'
	option device_name 'de mo'
	option bind_addr 'localhost'
	option bind_port '80a'
	option advertise_addr '10.0.0.300'
	list join '10.1.2.3:99999'
	list join 'ok.example:5000'
	option encrypt_key 'short'
	option lxc_path 'srv/lxc'
	option socket 'nuvol.sock'
	option log_level 'verbose'
	list catalog 'ftp://x'
	option image_server 'images'

config nuvol 'second'

config app 'web'
	option port '80a'
	option memory 'lots'
	option cpu_weight '0'
	option enabled 'Yes'
	option network 'nat'
	option bridge 'a/b'

config app
	option app 'x'

config app 'cfg0a1b2c'
	option app 'bad id!'

config app 'one'
	option app 'static-web'
	option port '8080'

config app 'two'
	option app 'static-web'
	option port '8080'

config app 'three'
	option app 'static-web'
	option port '5000'
	option bind_port '5000'
`)
	c, err := FromUCI(f)
	if c != nil || err == nil {
		t.Fatalf("got %+v, %v", c, err)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T is not Errors", err)
	}
	got := map[string]bool{}
	for _, e := range es {
		got[e.Error()] = true
	}
	for _, want := range []string{
		`nuvol.main.enabled: "maybe" is not a boolean (use 1 or 0)`,
		`nuvol.main.node_name: "two words" is not a node name (no spaces, at most 128 bytes)`,
		`nuvol.main.cloud_name: "guifi..net" is not a cloud name (a DNS name: letters, digits, - and .)`,
		`nuvol.main.device_name: "de mo" is not a device name (letters, digits, _ and -)`,
		`nuvol.main.bind_addr: "localhost" is not an IP address`,
		`nuvol.main.bind_port: "80a" is not a port`,
		`nuvol.main.advertise_addr: "10.0.0.300" is not an IP address`,
		`nuvol.main.join: "10.1.2.3:99999" is not a host or host:port`,
		"nuvol.main.encrypt_key: is not a base64 key of 16, 24 or 32 bytes (make one with `serf keygen`)",
		`nuvol.main.lxc_path: "srv/lxc" is not an absolute path`,
		`nuvol.main.socket: "nuvol.sock" is not an absolute path`,
		`nuvol.main.log_level: "verbose" is not a log level (debug, info, warn, error)`,
		`nuvol.main.catalog: "ftp://x" is not an absolute directory or an http(s) URL`,
		`nuvol.main.image_server: "images" is not an http(s) URL`,
		"nuvol.second: there must be only one `config nuvol` section (the first is nuvol.main)",
		`nuvol.web.app: missing: the catalog id of the app`,
		`nuvol.web.port: "80a" is not a port`,
		`nuvol.web.memory: "lots" is not a memory size in MiB (4 to 1048576)`,
		`nuvol.web.cpu_weight: "0" is not a CPU weight (1 to 10000)`,
		`nuvol.web.enabled: "Yes" is not a boolean (use 1 or 0)`,
		`nuvol.web.network: "nat" is not a network mode (host or bridge)`,
		`nuvol.web.bridge: "a/b" is not an interface name (at most 15 bytes, no spaces or /)`,
		`nuvol.@app[1]: an app section needs a name: config app 'NAME'`,
		`nuvol.cfg0a1b2c: "cfg0a1b2c" is not a valid app name: uci uses names like it for unnamed sections`,
		`nuvol.cfg0a1b2c.app: "bad id!" is not a catalog id (letters, digits, ., _ and -)`,
		`nuvol.two.port: "8080" is already used by app "one"`,
		`nuvol.three.port: "5000" is the node's bind_port (serf)`,
	} {
		if !got[want] {
			t.Errorf("missing error: %s", want)
		}
		delete(got, want)
	}
	for e := range got {
		t.Errorf("unexpected error: %s", e)
	}
	if !strings.Contains(err.Error(), `nuvol.web.port: "80a" is not a port; `) {
		t.Errorf("joined message: %s", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "nuvol")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	path := filepath.Join(dir, "nuvol")
	os.WriteFile(path, []byte("config nuvol main\n\toption bind_port '5000\n"), 0o644)
	if _, err := Load(path); err == nil || err.Error() != "nuvol:2: unterminated quote" {
		t.Errorf("parse error: %v", err)
	}
	os.WriteFile(path, []byte("config nuvol main\n\toption bind_port '80a'\n"), 0o644)
	if _, err := Load(path); err == nil || err.Error() != `nuvol.main.bind_port: "80a" is not a port` {
		t.Errorf("validation error: %v", err)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"web", "Web_2", "a", "nextcloud", "x1", strings.Repeat("a", 63), "cfg", "cfg12", "cfgxyz123"} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "we-b", "a.b", "a/b", "..", "a b", "é", strings.Repeat("a", 64), "main", "cfg0192bd", "cfg10092bd"} {
		if err := ValidName(bad); err == nil {
			t.Errorf("ValidName(%q) accepted", bad)
		}
	}
}

func TestPutAndDeleteApp(t *testing.T) {
	f := parse(t, "config nuvol 'main'\n\nconfig app 'web'\n\toption app 'static-web'\n\toption custom 'kept'\n\toption port '8080'\n")
	a := App{Name: "web", App: "static-web", Enabled: true, Publish: true, Port: 8081, Description: "it's mine"}
	if err := PutApp(f, a); err != nil {
		t.Fatal(err)
	}
	if err := PutApp(f, App{Name: "files", App: "file-share", Network: NetworkBridge}); err != nil {
		t.Fatal(err)
	}
	want := "\nconfig nuvol 'main'\n\nconfig app 'web'\n\toption app 'static-web'\n\toption custom 'kept'\n\toption port '8081'\n" +
		"\toption enabled '1'\n\toption publish '1'\n\toption memory '64'\n\toption cpu_weight '100'\n\toption description 'it'\\''s mine'\n\toption network 'host'\n" +
		"\nconfig app 'files'\n\toption app 'file-share'\n\toption enabled '0'\n\toption publish '0'\n\toption memory '64'\n\toption cpu_weight '100'\n\toption network 'bridge'\n\toption bridge 'br-lan'\n\n"
	if got := string(f.FileBytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	c, err := FromUCI(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.App("web"); got != withDefaults(a) {
		t.Errorf("read back %+v", got)
	}
	// Port 0 removes the option: the catalog's port applies.
	a.Port = 0
	if err := PutApp(f, a); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Get("web", "port"); ok {
		t.Error("port 0 kept the option")
	}
	for _, bad := range []App{
		{Name: "we-b", App: "x"},
		{Name: "main", App: "x"},
		{Name: "ok", App: ""},
		{Name: "ok", App: "x", Port: 70000},
		{Name: "ok", App: "x", Network: "nat"},
		{Name: "ok", App: "x", Description: "a\x01"},
	} {
		if err := PutApp(f, bad); err == nil {
			t.Errorf("PutApp(%+v) accepted", bad)
		}
	}
	if err := PutApp(f, App{Name: "ok", App: "x", Memory: 2}); err == nil || err.Error() != `nuvol.ok.memory: "2" is not a memory size in MiB (4 to 1048576)` {
		t.Errorf("PutApp error = %v", err)
	}
	f2 := parse(t, "config other 'taken'\n")
	if err := PutApp(f2, App{Name: "taken", App: "x"}); err == nil {
		t.Error("PutApp over a section of another type")
	}
	if !DeleteApp(f, "files") || DeleteApp(f, "files") || DeleteApp(f, "main") || DeleteApp(f, "@app[0]") {
		t.Error("DeleteApp")
	}
	if f.Section("main") == nil {
		t.Error("DeleteApp removed the node section")
	}
}

// Update + PutApp is how the daemon installs an app; the comments of the
// shipped file survive it.
func TestPutAppThroughUpdateKeepsComments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nuvol")
	b, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, b, 0o644)
	err = uci.Update(path, func(f *uci.File) error {
		return PutApp(f, DefaultApp("web", "static-web"))
	})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	if !strings.Contains(string(out), "# This node's name in the federation.") || !strings.Contains(string(out), "config app 'web'") {
		t.Errorf("got\n%s", out)
	}
	c, err := Load(path)
	if err != nil || len(c.Apps) != 1 || c.Apps[0] != DefaultApp("web", "static-web") {
		t.Errorf("got %+v, %v", c, err)
	}
}
