package catalog

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultCatalog(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	all := c.All()
	if len(all) < 6 {
		t.Fatalf("default catalog has %d apps, want at least 6", len(all))
	}
	bySource := map[string]int{}
	for _, m := range all {
		if err := m.Validate(); err != nil {
			t.Errorf("%s: %v", m.ID, err)
		}
		bySource[m.Source.Type]++
		if c.Origin(m.ID) != "embedded" {
			t.Errorf("%s: origin %q", m.ID, c.Origin(m.ID))
		}
	}
	for _, id := range []string{"static-web", "file-share", "kanban", "mosquitto", "syncthing", "radicale"} {
		if _, ok := c.Get(id); !ok {
			t.Errorf("default catalog has no %q", id)
		}
	}
	if bySource[SourceBusybox] < 2 || bySource[SourceImages] < 2 {
		t.Errorf("sources %v: want at least two busybox and two images apps", bySource)
	}
	// Cloudy service types of the paper's apps.
	if m, _ := c.Get("kanban"); m.Type != "kanban" {
		t.Errorf("kanban type %q", m.Type)
	}
	if m, _ := c.Get("mosquitto"); m.Type != "mosquitto" || m.Port != 1883 {
		t.Errorf("mosquitto: type %q port %d", m.Type, m.Port)
	}
	// Ports differ so that every default app can be installed side by side.
	ports := map[int]string{}
	for _, m := range all {
		if other, dup := ports[m.Port]; dup {
			t.Errorf("%s and %s share default port %d", m.ID, other, m.Port)
		}
		ports[m.Port] = m.ID
	}
}

func validManifest() Manifest {
	return Manifest{
		ID: "demo", Name: "Demo", Type: "web", Version: "1",
		Source: Source{Type: SourceBusybox, Applets: []string{"httpd"}},
		Port:   8080, Memory: 16,
		Init: []string{"httpd", "-f", "-p", "${ADDR}:${PORT}"},
	}
}

func TestManifestErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m *Manifest)
		err   error
		field string
	}{
		{"no id", func(m *Manifest) { m.ID = "" }, ErrMissing, "manifest.id"},
		{"bad id", func(m *Manifest) { m.ID = "Web App" }, ErrBadValue, "manifest.id"},
		{"no name", func(m *Manifest) { m.Name = " " }, ErrMissing, "demo.name"},
		{"no type", func(m *Manifest) { m.Type = "" }, ErrMissing, "demo.type"},
		{"bad type", func(m *Manifest) { m.Type = "a b" }, ErrBadValue, "demo.type"},
		{"no version", func(m *Manifest) { m.Version = "" }, ErrMissing, "demo.version"},
		{"bad arch", func(m *Manifest) { m.Arch = []string{"x86_64"} }, ErrUnknownArch, "demo.arch[0]"},
		{"no source", func(m *Manifest) { m.Source = Source{} }, ErrMissing, "demo.source.type"},
		{"bad source", func(m *Manifest) { m.Source = Source{Type: "docker"} }, ErrBadSource, "demo.source.type"},
		{"tarball no url", func(m *Manifest) { m.Source = Source{Type: SourceTarball} }, ErrMissing, "demo.source.url"},
		{"tarball ftp", func(m *Manifest) {
			m.Source = Source{Type: SourceTarball, URL: "ftp://x/a.tar.gz", SHA256: strings.Repeat("a", 64)}
		}, ErrBadSource, "demo.source.url"},
		{"tarball zip", func(m *Manifest) {
			m.Source = Source{Type: SourceTarball, URL: "https://x/a.zip", SHA256: strings.Repeat("a", 64)}
		}, ErrBadSource, "demo.source.url"},
		{"tarball no sha", func(m *Manifest) { m.Source = Source{Type: SourceTarball, URL: "https://x/a.tar.gz"} }, ErrMissing, "demo.source.sha256"},
		{"tarball bad sha", func(m *Manifest) {
			m.Source = Source{Type: SourceTarball, URL: "https://x/a.tar.gz", SHA256: strings.Repeat("A", 64)}
		}, ErrBadValue, "demo.source.sha256"},
		{"images no dist", func(m *Manifest) { m.Source = Source{Type: SourceImages, Release: "3.22"} }, ErrMissing, "demo.source.dist"},
		{"images bad release", func(m *Manifest) { m.Source = Source{Type: SourceImages, Dist: "alpine", Release: "3;22"} }, ErrBadValue, "demo.source.release"},
		{"busybox with url", func(m *Manifest) { m.Source.URL = "https://x" }, ErrBadSource, "demo.source"},
		{"bad applet", func(m *Manifest) { m.Source.Applets = []string{"../sh"} }, ErrBadValue, "demo.source.applets[0]"},
		{"fallback not an applet", func(m *Manifest) { m.Source.Fallback = map[string]string{"ftpd": "/usr/sbin/ftpd"} }, ErrBadValue, "demo.source.fallback"},
		{"fallback relative", func(m *Manifest) { m.Source.Fallback = map[string]string{"httpd": "uhttpd"} }, ErrUnsafePath, "demo.source.fallback"},
		{"tarball with applets", func(m *Manifest) {
			m.Source = Source{Type: SourceTarball, URL: "https://x/a.tar.gz", SHA256: strings.Repeat("a", 64), Applets: []string{"sh"}}
		}, ErrBadSource, "demo.source"},
		{"port 0", func(m *Manifest) { m.Port = 0 }, ErrBadValue, "demo.port"},
		{"port big", func(m *Manifest) { m.Port = 70000 }, ErrBadValue, "demo.port"},
		{"memory", func(m *Manifest) { m.Memory = 1 }, ErrBadValue, "demo.memory"},
		{"no init", func(m *Manifest) { m.Init = nil }, ErrMissing, "demo.init"},
		{"unknown var", func(m *Manifest) { m.Init = []string{"x", "${HOME}"} }, ErrUnknownVar, "demo.init"},
		{"bad env", func(m *Manifest) { m.Env = []string{"1X=2"} }, ErrBadValue, "demo.env[0]"},
		{"env var", func(m *Manifest) { m.Env = []string{"X=${USER}"} }, ErrUnknownVar, "demo.env[0]"},
		{"empty setup", func(m *Manifest) { m.Setup = [][]string{{}} }, ErrMissing, "demo.setup[0]"},
		{"file outside", func(m *Manifest) { m.Files = map[string]string{"/srv/../../etc/x": ""} }, ErrUnsafePath, "demo.files"},
		{"file relative", func(m *Manifest) { m.Files = map[string]string{"srv/x": ""} }, ErrUnsafePath, "demo.files"},
		{"health port", func(m *Manifest) { m.Health.Port = -1 }, ErrBadValue, "demo.health.port"},
		{"health timeout", func(m *Manifest) { m.Health.Timeout = 99999 }, ErrBadValue, "demo.health.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validManifest()
			tt.edit(&m)
			err := m.Validate()
			if !errors.Is(err, tt.err) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Errorf("err %q does not start with %q", err, tt.field)
			}
		})
	}
	m := validManifest()
	if err := m.Validate(); err != nil {
		t.Fatalf("valid manifest: %v", err)
	}
}

func TestParseManifestStrict(t *testing.T) {
	good, _ := json.Marshal(validManifest())
	if _, err := ParseManifest(good); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		`{"id":"demo","sha265":"x"}`, // typo must not pass silently
		`{"id":"demo"} {}`,
		`[]`,
		`{"id":"demo","port":"80"}`,
	} {
		if _, err := ParseManifest([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", in, err)
		}
	}
}

func TestExpand(t *testing.T) {
	v := Vars{Port: 9000, Name: "web", Memory: 32}
	got := v.ExpandAll([]string{"-p", "${ADDR}:${PORT}", "${NAME}-${MEMORY}", "$PORT", "${PORT"})
	want := []string{"-p", "0.0.0.0:9000", "web-32", "$PORT", "${PORT"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	v.Addr = "127.0.0.1"
	if got := v.Expand("${ADDR}"); got != "127.0.0.1" {
		t.Errorf("addr %q", got)
	}
}

func TestLoadExtraCatalogs(t *testing.T) {
	dir := t.TempDir()
	own := validManifest()
	own.ID = "own-app"
	data, _ := json.Marshal(own)
	os.WriteFile(filepath.Join(dir, "own.json"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"id":"broken","port":0}`), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte(`not a manifest`), 0o644)

	// A feed that pins another version of a default app.
	pinned := validManifest()
	pinned.ID = "static-web"
	pinned.Version = "9.9"
	feedApp := validManifest()
	feedApp.ID = "feed-app"
	feed, _ := json.Marshal([]Manifest{pinned, feedApp})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/feed.json":
			w.Write(feed)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	c, err := Load([]string{dir, srv.URL + "/feed.json", srv.URL + "/missing.json", filepath.Join(dir, "nope")})
	if c == nil {
		t.Fatal("nil catalog")
	}
	for _, want := range []string{"broken.json", "broken.name", "missing.json: HTTP 404", "nope"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	for _, id := range []string{"own-app", "feed-app", "kanban"} {
		if _, ok := c.Get(id); !ok {
			t.Errorf("no %s", id)
		}
	}
	if m, _ := c.Get("static-web"); m.Version != "9.9" {
		t.Errorf("feed did not replace static-web: version %q", m.Version)
	}
	if c.Origin("feed-app") != srv.URL+"/feed.json" || c.Origin("own-app") != filepath.Join(dir, "own.json") {
		t.Errorf("origins %q %q", c.Origin("feed-app"), c.Origin("own-app"))
	}
	if _, ok := c.Get("broken"); ok {
		t.Error("broken manifest loaded")
	}
	// A single-manifest file works as a catalog too.
	c, err = Load([]string{filepath.Join(dir, "own.json")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("own-app"); !ok {
		t.Error("file catalog not loaded")
	}
}

func FuzzManifest(f *testing.F) {
	entries, _ := embedded.ReadDir("apps")
	for _, e := range entries {
		data, _ := embedded.ReadFile("apps/" + e.Name())
		f.Add(data)
	}
	f.Add([]byte(`{"id":"x","name":"x","type":"t","version":"1","source":{"type":"tarball","url":"https://a/b.tar.xz","sha256":"` + strings.Repeat("0", 64) + `"},"port":1,"memory":4,"init":["a"]}`))
	f.Add([]byte(`{"id":"x","init":["${PORT}","${"],"files":{"/a/../b":""}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		// A valid manifest survives a round trip unchanged.
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		out2, _ := json.Marshal(m2)
		if string(out) != string(out2) {
			t.Fatalf("round trip changed %s into %s", out, out2)
		}
	})
}
