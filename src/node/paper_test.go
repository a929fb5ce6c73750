package node

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/nuvol-project/nuvol/src/catalog"
	"github.com/nuvol-project/nuvol/src/config"
	"github.com/nuvol-project/nuvol/src/runtime/runtimetest"
	"github.com/nuvol-project/nuvol/src/uci"
)

// fakeApk stands in for Alpine's apk in the offline test image: it logs
// its arguments and, for mosquitto, installs a stand-in broker that
// listens where /etc/mosquitto/nuvol.conf says (busybox httpd is enough
// for a TCP health check).
const fakeApk = `#!/bin/sh
echo "apk $*" >> /var/log/apk.log
for p in "$@"; do
	case "$p" in
	mosquitto)
		mkdir -p /etc/mosquitto /usr/sbin
		printf '#!/bin/sh\nset -- $(grep "^listener" /etc/mosquitto/nuvol.conf)\nexec httpd -f -p "$3:$2" -h /tmp\n' > /usr/sbin/mosquitto
		chmod 755 /usr/sbin/mosquitto;;
	esac
done
`

// imageServer serves an LXC image index and one "alpine" image: a busybox
// rootfs with the fake apk, built here from busybox-static.
func imageServer(t *testing.T) *httptest.Server {
	dir := filepath.Join(t.TempDir(), "rootfs")
	os.Mkdir(dir, 0o755)
	if err := catalog.BuildBusyboxRootfs(dir, runtimetest.HostBusybox, nil); err != nil {
		t.Fatal(err)
	}
	if err := catalog.WriteFile(dir, "/sbin/apk", []byte(fakeApk), 0o755); err != nil {
		t.Fatal(err)
	}
	// Tests stay on loopback: in this image github.com is 127.0.0.1, where
	// nothing answers on 443.
	if err := catalog.WriteFile(dir, "/etc/hosts", []byte("127.0.0.1 localhost github.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plain, err := exec.Command("tar", "-C", dir, "-cf", "-", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	var txz bytes.Buffer
	w, _ := xz.NewWriter(&txz)
	w.Write(plain)
	w.Close()
	arch := catalog.HostArch()
	path := "/images/alpine/3.22/" + arch + "/default/20261120_13:00/"
	index := "alpine;3.21;" + arch + ";default;20261101_13:00;/images/alpine/3.21/" + arch + "/default/20261101_13:00/\n" +
		"alpine;3.22;" + arch + ";default;20261120_13:00;" + path + "\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/meta/1.0/index-system":
			w.Write([]byte(index))
		case path + "rootfs.tar.xz":
			w.Write(txz.Bytes())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The paper's two apps come from Alpine images and need the internet to
// really install. Here their real manifests go through the whole install
// path against a local image server: index, download, unpack, setup
// commands inside the container, start, health check.
func TestInstallPaperAppsOffline(t *testing.T) {
	runtimetest.Skip(t)
	srv := imageServer(t)
	e := newEnv(t, nil)
	ctx := context.Background()
	// The image server comes from /etc/config/nuvol, as on a router.
	if err := uci.Update(e.cfgPath, func(f *uci.File) error {
		if _, err := f.AddSection(config.TypeNode, config.MainSection); err != nil {
			return err
		}
		return f.Set(config.MainSection, "image_server", srv.URL)
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("mosquitto", func(t *testing.T) {
		m, _ := e.node.catalog().Get("mosquitto")
		if !m.RunsOn(catalog.HostArch()) {
			t.Skipf("mosquitto does not run on %s", catalog.HostArch())
		}
		name, port := e.name("mqtt"), freePort(t)
		st, err := e.node.Install(ctx, InstallRequest{App: "mosquitto", Name: name, Port: port})
		if err != nil {
			t.Fatal(err)
		}
		if st.Type != "mosquitto" || st.State != "running" {
			t.Errorf("status %+v", st)
		}
		rootfs := filepath.Join(e.lxcPath, name, "rootfs")
		log, _ := os.ReadFile(filepath.Join(rootfs, "var/log/apk.log"))
		if string(log) != "apk add --no-cache mosquitto\n" {
			t.Errorf("apk ran as %q", log)
		}
		conf, _ := os.ReadFile(filepath.Join(rootfs, "etc/mosquitto/nuvol.conf"))
		if want := "listener " + itoa(port) + " 127.0.0.1\nallow_anonymous true\n"; string(conf) != want {
			t.Errorf("mosquitto config %q, want %q", conf, want)
		}
		if err := e.node.SetPublish(ctx, name, true); err != nil {
			t.Fatal(err)
		}
		if got := e.pub.last(); len(got) != 1 || got[0].Type != "mosquitto" || got[0].Port != port {
			t.Errorf("published %+v", got)
		}
		if err := e.node.Remove(ctx, name); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("kanban", func(t *testing.T) {
		if m, _ := e.node.catalog().Get("kanban"); !m.RunsOn(catalog.HostArch()) {
			t.Skipf("kanban does not run on %s", catalog.HostArch())
		}
		// The fake apk "installs" php; the Kanboard download from GitHub
		// cannot work offline, and the install must say so and undo.
		name := e.name("kanban")
		_, err := e.node.Install(ctx, InstallRequest{App: "kanban", Name: name, Port: freePort(t)})
		if err == nil || !strings.Contains(err.Error(), "setup command 2") || !strings.Contains(err.Error(), "github.com/kanboard") || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("err = %v", err)
		}
		t.Logf("kanban offline: %v", err)
		e.assertClean(name)
	})
}
