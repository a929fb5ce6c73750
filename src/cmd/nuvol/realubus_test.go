package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRealUbusd runs the daemon on the real ubusd and drives it with the
// real ubus CLI, when NUVOL_REAL_UBUS names an install prefix holding
// sbin/ubusd and bin/ubus (built from openwrt/ubus, outside this repo; see
// src/ubus/testdata/README.md). CI skips it; the ubustest broker tests
// cover the same paths.
func TestRealUbusd(t *testing.T) {
	prefix := os.Getenv("NUVOL_REAL_UBUS")
	if prefix == "" {
		t.Skip("NUVOL_REAL_UBUS not set (an install prefix of the real ubusd and ubus)")
	}
	env := os.Environ()
	if _, err := os.Stat(filepath.Join(prefix, "lib")); err == nil {
		env = append(env, "LD_LIBRARY_PATH="+filepath.Join(prefix, "lib"))
	}
	dir, err := os.MkdirTemp("", "nv-realubus")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "ubus.sock")
	ubusd := exec.Command(filepath.Join(prefix, "sbin", "ubusd"), "-s", sock)
	ubusd.Env = env
	ubusd.SysProcAttr = daemonAttr
	if err := ubusd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ubusd.Process.Kill(); ubusd.Wait() }()

	n := newNode(t, nodeOpts{name: "real", serfPort: freePort(t)})
	n.spawn("--ubus", sock)

	ubus := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(prefix, "bin", "ubus"), append([]string{"-s", sock}, args...)...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Run()
		return out.String(), cmd.ProcessState.ExitCode()
	}
	var list string
	eventually(t, 20*time.Second, "nuvol on the real ubusd", func() error {
		out, code := ubus("-v", "list", "nuvol")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, out)
		}
		list = out
		return nil
	})
	want := `'nuvol' @ID
	"status":{}
	"catalog":{}
	"list":{}
	"install":{"app":"String","name":"String","port":"Integer","memory":"Integer"}
	"remove":{"name":"String"}
	"start":{"name":"String"}
	"stop":{"name":"String"}
	"restart":{"name":"String"}
	"publish":{"name":"String"}
	"unpublish":{"name":"String"}
	"search":{"type":"String","host":"String","text":"String"}
	"nodes":{}
	"logs":{"name":"String","lines":"Integer"}
`
	if got := regexp.MustCompile(`@[0-9a-f]{8}`).ReplaceAllString(list, "@ID"); got != want {
		t.Errorf("ubus -v list nuvol:\n%s\nwant:\n%s", got, want)
	}
	out, code := ubus("call", "nuvol", "status", `{"ubus_rpc_session":"x"}`)
	if code != 0 || !strings.Contains(out, "\t\"node\": \"real\",\n") {
		t.Errorf("ubus call nuvol status: %d\n%s", code, out)
	}
	out, code = ubus("call", "nuvol", "start", `{"name":"ghost"}`)
	if code == 0 || !strings.Contains(out, `"error": "no installed app \"ghost\"`) || !strings.Contains(out, "(Not found)") {
		t.Errorf("ubus call nuvol start ghost: %d\n%s", code, out)
	}
	out, code = ubus("call", "nuvol", "install", `{"app":"static-web","port":70000}`)
	if code == 0 || !strings.Contains(out, "70000 is not a port") || !strings.Contains(out, "(Invalid argument)") {
		t.Errorf("ubus call nuvol install port 70000: %d\n%s", code, out)
	}
}
