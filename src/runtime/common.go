package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// base holds what both backends do the same way: the files under lxc_path.
type base struct {
	path string
}

func newBase(lxcPath string) (base, error) {
	p, err := filepath.Abs(lxcPath)
	if err != nil {
		return base{}, fmt.Errorf("runtime: lxc_path %q: %v", lxcPath, err)
	}
	if strings.ContainsAny(p, " \t\n") {
		return base{}, fmt.Errorf("runtime: lxc_path %q: LXC configs cannot hold paths with spaces", p)
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return base{}, fmt.Errorf("runtime: lxc_path: %v", err)
	}
	return base{path: p}, nil
}

func (b base) Path() string { return b.path }

func (b base) home(name string) string { return filepath.Join(b.path, name) }

// check returns an error wrapping ErrNotFound unless name is a container
// under lxc_path. The config file is what makes a directory a container,
// for LXC as for nuvol.
func (b base) check(name string) error {
	if ValidName(name) != nil {
		return fmt.Errorf("runtime: container %q: %w", name, ErrNotFound)
	}
	fi, err := os.Stat(filepath.Join(b.home(name), "config"))
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("runtime: container %q in %s: %w", name, b.path, ErrNotFound)
	}
	return nil
}

func (b base) create(dir string, spec Spec) error {
	fi, err := os.Stat(filepath.Join(dir, "rootfs"))
	if err != nil {
		return fmt.Errorf("runtime: create %s: %v", spec.Name, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("runtime: create %s: %s/rootfs is not a directory", spec.Name, dir)
	}
	_, err = os.Lstat(filepath.Join(dir, "rootfs", "bin", "sh"))
	shell := err == nil
	spec.Mounts = append([]Mount(nil), spec.Mounts...)
	for i, m := range spec.Mounts {
		if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
			spec.Mounts[i].File = true
		}
	}
	cfg, err := BuildConfig(spec, b.home(spec.Name), CgroupVersion(), shell)
	if err != nil {
		return fmt.Errorf("runtime: create: %v", err)
	}
	if len(spec.Init) > 0 && shell {
		// Bridge mode without a fixed address asks the LAN's DHCP server.
		dhcpHost := ""
		if spec.Network.Mode == NetworkBridge && spec.Network.Address == "" {
			dhcpHost = cfg.Get("lxc.uts.name")
			if err := writeFile(filepath.Join(dir, "rootfs", dhcpScriptName), []byte(dhcpScript), 0o755); err != nil {
				return fmt.Errorf("runtime: create %s: %v", spec.Name, err)
			}
		}
		if err := writeFile(filepath.Join(dir, "rootfs", initName), []byte(initScript(spec.Init, dhcpHost)), 0o755); err != nil {
			return fmt.Errorf("runtime: create %s: %v", spec.Name, err)
		}
	}
	if err := writeFile(filepath.Join(dir, "config"), cfg.Bytes(), 0o644); err != nil {
		return fmt.Errorf("runtime: create %s: %v", spec.Name, err)
	}
	return nil
}

// writeFile replaces path atomically, so a crash never leaves half a config.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".nuvol-tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (b base) list() ([]string, error) {
	ents, err := os.ReadDir(b.path)
	if err != nil {
		return nil, fmt.Errorf("runtime: list: %v", err)
	}
	names := []string{}
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || strings.HasPrefix(n, ".") || b.check(n) != nil {
			continue
		}
		names = append(names, n)
	}
	return names, nil
}

// log returns the last lines of the console log, reading the rotated file
// first when the current one has fewer lines than asked.
func (b base) log(name string, lines int) ([]string, error) {
	if err := b.check(name); err != nil {
		return nil, err
	}
	path := filepath.Join(b.home(name), consoleLogName)
	if cfg, err := LoadConfig(filepath.Join(b.home(name), "config")); err == nil {
		if p := cfg.Get("lxc.console.logfile"); p != "" {
			path = p
		}
	}
	var out []string
	for _, p := range []string{path + ".1", path} {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("runtime: log of %s: %v", name, err)
		}
		out = append(out, splitLines(data)...)
	}
	if lines > 0 && len(out) > lines {
		out = out[len(out)-lines:]
	}
	return out, nil
}

// splitLines splits console output, which comes through a pty and so ends
// lines with "\r\n".
func splitLines(data []byte) []string {
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) == 0 {
		return nil
	}
	return strings.Split(string(data), "\n")
}

// lxcState folds LXC's state names into State.
func lxcState(s string) (State, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "STOPPED":
		return StateStopped, nil
	case "STARTING":
		return StateStarting, nil
	case "RUNNING", "THAWED":
		return StateRunning, nil
	case "STOPPING", "ABORTING":
		return StateStopping, nil
	case "FROZEN", "FREEZING":
		return StateFrozen, nil
	}
	return "", fmt.Errorf("runtime: unknown LXC state %q", s)
}

// startError explains a failed start with the errors LXC logged for it
// (lxc.log from offset logAt on): the first ones name the cause, e.g. a
// missing bridge; the last ones only say that the start failed.
func startError(name, home string, logAt int64, err error) error {
	removeMonitorCgroups(name)
	var why []string
	if f, e := os.Open(filepath.Join(home, lxcLogName)); e == nil {
		f.Seek(logAt, 0)
		data, _ := io.ReadAll(io.LimitReader(f, 1<<20))
		f.Close()
		for _, l := range splitLines(data) {
			if strings.Contains(l, " ERROR ") && len(why) < 3 {
				why = append(why, logMessage(l))
			}
		}
	}
	if len(why) == 0 {
		return fmt.Errorf("runtime: start %s: %v (see %s)", name, err, filepath.Join(home, lxcLogName))
	}
	return fmt.Errorf("runtime: start %s: %s", name, strings.Join(why, "; "))
}

// logMessage cuts an lxc.log line
//
//	lxc-start web 20260101.1 ERROR    network - ../src/lxc/network.c:f:42 - No such device - Failed to ...
//
// to its message: "No such device - Failed to ...".
func logMessage(line string) string {
	parts := strings.SplitN(line, " - ", 3)
	if len(parts) < 3 {
		return strings.TrimSpace(line)
	}
	return strings.TrimSpace(parts[2])
}

// maxLXCLog is the size at which a start rotates lxc.log to lxc.log.1.
// LXC appends to it on every start and attach and never trims it.
const maxLXCLog = 512 << 10

// startLog rotates a big lxc.log and returns where this start's lines
// will begin.
func startLog(home string) int64 {
	path := filepath.Join(home, lxcLogName)
	n := fileSize(path)
	if n > maxLXCLog && os.Rename(path, path+".1") == nil {
		return 0
	}
	return n
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// removeAll deletes what is left of a container directory.
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("runtime: %v", err)
	}
	return nil
}

// stopSteps splits a graceful stop's timeout into the waits of up to two
// stop requests, in whole seconds (what lxc-stop and liblxc take). The
// first request is short because it can be lost: a container's init
// ignores signals until it has installed its handler, so a stop that comes
// right after a start would otherwise wait out the whole timeout and end
// in a kill. The second request, sent when the first times out, reaches
// the handler.
func stopSteps(timeout time.Duration) []int {
	secs := int((timeout + time.Second - 1) / time.Second)
	switch {
	case timeout <= 0:
		return nil
	case secs == 1:
		return []int{1}
	}
	return []int{1, secs - 1}
}

// waitCatches waits up to timeout until process pid has a handler for sig
// (or is gone).
func waitCatches(pid int, sig syscall.Signal, timeout time.Duration) {
	if pid <= 0 {
		return
	}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil || catches(data, sig) {
			return
		}
	}
}

// catches reports whether a /proc/PID/status says the process has a
// handler for sig.
func catches(status []byte, sig syscall.Signal) bool {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}
