package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statLine is a /proc/PID/stat line of process pid in state st that
// started at start (field 22).
func statLine(pid, st, start string) string {
	// fields 1-21, then starttime, then a few more
	return pid + " (sh (x) y) " + st + " 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " + start + " 1000 100 18446744073709551615\n"
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line  string
		start uint64
		ok    bool
	}{
		{statLine("42", "S", "12345"), 12345, true},
		{statLine("42", "R", "7"), 7, true},
		{statLine("42", "Z", "12345"), 0, false},
		{statLine("42", "X", "12345"), 0, false},
		{"42 (sh) S 1 2 3", 0, false},
		{"garbage", 0, false},
		{statLine("42", "S", "notanumber"), 0, false},
	} {
		start, ok := parseStat([]byte(tc.line))
		if start != tc.start || ok != tc.ok {
			t.Errorf("parseStat(%q) = %d, %v; want %d, %v", tc.line, start, ok, tc.start, tc.ok)
		}
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLive checks when a remembered init may answer for lxc-info: only
// while the same process (PID and start time) lives in a cgroup that is
// neither frozen nor freezing.
func TestLive(t *testing.T) {
	const v1cg = "6:freezer:/lxc.payload.web\n4:memory:/lxc.payload.web\n"
	const v2cg = "0::/lxc.payload.web\n"
	for _, tc := range []struct {
		name    string
		version int
		files   map[string]string // under a root holding proc/ and cgroup/
		want    bool
		kept    bool // entry still remembered afterwards
	}{
		{"v1 thawed", 1, map[string]string{
			"proc/42/stat": statLine("42", "S", "1000"), "proc/42/cgroup": v1cg,
			"cgroup/freezer/lxc.payload.web/freezer.state": "THAWED\n",
		}, true, true},
		{"start time differs: PID reused", 1, map[string]string{
			"proc/42/stat": statLine("42", "S", "2000"), "proc/42/cgroup": v1cg,
			"cgroup/freezer/lxc.payload.web/freezer.state": "THAWED\n",
		}, false, false},
		{"process gone", 1, map[string]string{
			"cgroup/freezer/lxc.payload.web/freezer.state": "THAWED\n",
		}, false, false},
		{"zombie", 1, map[string]string{
			"proc/42/stat": statLine("42", "Z", "1000"), "proc/42/cgroup": v1cg,
			"cgroup/freezer/lxc.payload.web/freezer.state": "THAWED\n",
		}, false, false},
		{"v1 frozen", 1, map[string]string{
			"proc/42/stat": statLine("42", "S", "1000"), "proc/42/cgroup": v1cg,
			"cgroup/freezer/lxc.payload.web/freezer.state": "FROZEN\n",
		}, false, true},
		{"v1 freezing", 1, map[string]string{
			"proc/42/stat": statLine("42", "S", "1000"), "proc/42/cgroup": v1cg,
			"cgroup/freezer/lxc.payload.web/freezer.state": "FREEZING\n",
		}, false, true},
		{"v1 no freezer controller", 1, map[string]string{
			"proc/42/stat": statLine("42", "S", "1000"), "proc/42/cgroup": "4:memory:/lxc.payload.web\n",
		}, false, true},
		{"v1 freezer.state unreadable", 1, map[string]string{
			"proc/42/stat": statLine("42", "S", "1000"), "proc/42/cgroup": v1cg,
		}, false, true},
		{"v2 thawed", 2, map[string]string{
			"proc/42/stat": statLine("42", "S", "1000"), "proc/42/cgroup": v2cg,
			"cgroup/lxc.payload.web/cgroup.events": "populated 1\nfrozen 0\n",
			"cgroup/lxc.payload.web/cgroup.freeze": "0\n",
		}, true, true},
		{"v2 frozen", 2, map[string]string{
			"proc/42/stat": statLine("42", "S", "1000"), "proc/42/cgroup": v2cg,
			"cgroup/lxc.payload.web/cgroup.events": "populated 1\nfrozen 1\n",
			"cgroup/lxc.payload.web/cgroup.freeze": "1\n",
		}, false, true},
		{"v2 freezing", 2, map[string]string{
			"proc/42/stat": statLine("42", "S", "1000"), "proc/42/cgroup": v2cg,
			"cgroup/lxc.payload.web/cgroup.events": "populated 1\nfrozen 0\n",
			"cgroup/lxc.payload.web/cgroup.freeze": "1\n",
		}, false, true},
		{"v2 parent freezing", 2, map[string]string{
			"proc/42/stat": statLine("42", "S", "1000"), "proc/42/cgroup": "0::/lxc.payload.web/init\n",
			"cgroup/lxc.payload.web/init/cgroup.events": "populated 1\nfrozen 0\n",
			"cgroup/lxc.payload.web/init/cgroup.freeze": "0\n",
			"cgroup/lxc.payload.web/cgroup.freeze":      "1\n",
		}, false, true},
		{"v2 no cgroup.events", 2, map[string]string{
			"proc/42/stat": statLine("42", "S", "1000"), "proc/42/cgroup": v2cg,
		}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tc.files)
			var r running
			r.set("web", initProc{pid: 42, start: 1000})
			p, ok := r.live("web", filepath.Join(root, "proc"), filepath.Join(root, "cgroup"), tc.version)
			if ok != tc.want || (ok && p.pid != 42) {
				t.Errorf("live = %+v, %v; want %v", p, ok, tc.want)
			}
			if _, kept := r.get("web"); kept != tc.kept {
				t.Errorf("entry kept = %v, want %v", kept, tc.kept)
			}
			if _, ok := r.live("other", filepath.Join(root, "proc"), filepath.Join(root, "cgroup"), tc.version); ok {
				t.Error("live for a container never remembered")
			}
		})
	}
}

// fakeTools returns an LXCTools whose lxc-* programs are shell scripts
// that log their calls to calls and whose lxc-info prints info. Its one
// container is "web".
func fakeTools(t *testing.T, info string) (r *LXCTools, calls string) {
	t.Helper()
	r, err := NewLXCTools(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, r.Path(), map[string]string{"web/config": "lxc.uts.name = web\n"})
	bin := t.TempDir()
	calls = filepath.Join(bin, "calls")
	for _, prog := range []string{"lxc-start", "lxc-stop", "lxc-destroy", "lxc-freeze", "lxc-unfreeze", "lxc-info"} {
		script := "#!/bin/sh\necho " + prog + " >> " + calls + "\n"
		if prog == "lxc-info" {
			script += "cat <<'EOF'\n" + info + "EOF\n"
		}
		if err := os.WriteFile(filepath.Join(bin, prog), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.Bin = bin
	return r, calls
}

func countCalls(t *testing.T, calls, prog string) int {
	t.Helper()
	data, err := os.ReadFile(calls)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if l == prog {
			n++
		}
	}
	return n
}

// TestOperationsForget checks that every operation that changes a
// container's state drops its remembered init, so that the next Info asks
// lxc-info.
func TestOperationsForget(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		op   func(r *LXCTools) error
	}{
		{"Start", func(r *LXCTools) error { return r.Start(ctx, "web") }},
		{"Stop", func(r *LXCTools) error { return r.Stop(ctx, "web", time.Second) }},
		{"Restart", func(r *LXCTools) error { return r.Restart(ctx, "web", time.Second) }},
		{"Destroy", func(r *LXCTools) error { return r.Destroy(ctx, "web") }},
		{"Freeze", func(r *LXCTools) error { return r.Freeze(ctx, "web") }},
		{"Unfreeze", func(r *LXCTools) error { return r.Unfreeze(ctx, "web") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := fakeTools(t, "State: STOPPED\n")
			r.seen.set("web", initProc{pid: 42, start: 1000})
			if err := tc.op(r); err != nil {
				t.Fatal(err)
			}
			if p, ok := r.seen.get("web"); ok {
				t.Errorf("still remembered after %s: %+v", tc.name, p)
			}
		})
	}
}

// TestInfoFallsBack checks that Info and State ask lxc-info, and believe
// it, when the remembered init is not that process any more.
func TestInfoFallsBack(t *testing.T) {
	ctx := context.Background()
	// This test's own process stands in for an init whose PID was reused:
	// alive, but started at another time.
	self := os.Getpid()
	start, ok := procStart(procRoot, self)
	if !ok {
		t.Skip("no /proc")
	}
	r, calls := fakeTools(t, "State:          STOPPED\n")
	r.seen.set("web", initProc{pid: self, start: start + 1})
	in, err := r.Info(ctx, "web")
	if err != nil || in.State != StateStopped || in.PID != 0 {
		t.Errorf("Info = %+v, %v; want stopped", in, err)
	}
	if n := countCalls(t, calls, "lxc-info"); n != 1 {
		t.Errorf("lxc-info ran %d times, want 1", n)
	}
	if _, ok := r.seen.get("web"); ok {
		t.Error("a stopped container's init is still remembered")
	}
	r.seen.set("web", initProc{pid: self, start: start + 1})
	if st, err := r.State(ctx, "web"); err != nil || st != StateStopped {
		t.Errorf("State = %q, %v; want stopped", st, err)
	}
	if n := countCalls(t, calls, "lxc-info"); n != 2 {
		t.Errorf("lxc-info ran %d times, want 2", n)
	}
}

// TestInfoRemembers checks what Info keeps of lxc-info's answers: the init
// of a running container (PID and start time), nothing of any other.
func TestInfoRemembers(t *testing.T) {
	ctx := context.Background()
	self := os.Getpid()
	start, ok := procStart(procRoot, self)
	if !ok {
		t.Skip("no /proc")
	}
	pid := strconv.Itoa(self)
	for _, tc := range []struct {
		info string
		want bool
	}{
		{"State: RUNNING\nPID: " + pid + "\nIP: 10.0.0.2\n", true},
		{"State: FROZEN\nPID: " + pid + "\n", false},
		{"State: STARTING\nPID: " + pid + "\n", false},
		{"State: STOPPED\n", false},
		{"State: RUNNING\nPID: 0\n", false},
	} {
		r, _ := fakeTools(t, tc.info)
		if _, err := r.Info(ctx, "web"); err != nil {
			t.Fatalf("%q: %v", tc.info, err)
		}
		p, ok := r.seen.get("web")
		if ok != tc.want || (ok && (p.pid != self || p.start != start)) {
			t.Errorf("lxc-info said %q: remembered %+v, %v; want %v", tc.info, p, ok, tc.want)
		}
	}
}
