package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LXCTools is the default backend: it runs the lxc-* programs (OpenWrt
// packages each as its own ipk) with -P lxc_path, and reads /proc and the
// cgroup files itself. It needs no cgo, so the static binary uses it.
type LXCTools struct {
	base
	// Bin is the directory of the lxc-* programs; "" means $PATH.
	Bin string

	// seen remembers the init of each container lxc-info last reported
	// running, so that Info and State need not fork lxc-info again while
	// that process runs unfrozen (see running).
	seen running
}

// NewLXCTools returns the lxc-* programs backend over lxcPath.
func NewLXCTools(lxcPath string) (*LXCTools, error) {
	b, err := newBase(lxcPath)
	if err != nil {
		return nil, err
	}
	return &LXCTools{base: b}, nil
}

var _ Runtime = (*LXCTools)(nil)

// run runs an lxc-* program on container name and returns its output.
func (r *LXCTools) run(ctx context.Context, prog, name string, args ...string) ([]byte, error) {
	if r.Bin != "" {
		prog = filepath.Join(r.Bin, prog)
	}
	cmd := exec.CommandContext(ctx, prog, append([]string{"-n", name, "-P", r.path}, args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// lxc-start's daemon closes the pipes; should anything hold them open,
	// Wait still returns.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func (r *LXCTools) Create(ctx context.Context, dir string, spec Spec) error {
	return r.create(dir, spec)
}

func (r *LXCTools) Start(ctx context.Context, name string) error {
	if err := r.check(name); err != nil {
		return err
	}
	defer r.seen.forget(name)
	logAt := startLog(r.home(name))
	_, err := r.run(ctx, "lxc-start", name, "-d")
	if err == nil {
		return nil
	}
	// Starting a running container is not an error. Checking after a
	// failure, not before, keeps the usual start one exec long.
	if st, e := r.State(ctx, name); e == nil && st == StateRunning {
		return nil
	}
	return startError(name, r.home(name), logAt, err)
}

func (r *LXCTools) Stop(ctx context.Context, name string, timeout time.Duration) error {
	if err := r.check(name); err != nil {
		return err
	}
	defer r.seen.forget(name)
	for i, secs := range stopSteps(timeout) {
		if i > 0 {
			// A frozen app cannot act on the request: thaw it. Checked
			// only here, so the usual stop stays one exec long.
			if st, err := r.State(ctx, name); err == nil && st == StateFrozen {
				r.simple(ctx, "lxc-unfreeze", name)
			}
		}
		out, err := r.run(ctx, "lxc-stop", name, "--nokill", "-t", strconv.Itoa(secs))
		switch {
		case err == nil, exitCode(err) == 2: // 2: it was not running
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("runtime: stop %s: %v", name, ctx.Err())
		case exitCode(err) != 1: // 1: still running after the wait
			return fmt.Errorf("runtime: stop %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	}
	out, err := r.run(ctx, "lxc-stop", name, "-k")
	if err != nil && exitCode(err) != 2 {
		return fmt.Errorf("runtime: stop %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (r *LXCTools) Restart(ctx context.Context, name string, timeout time.Duration) error {
	defer r.seen.forget(name)
	if err := r.Stop(ctx, name, timeout); err != nil {
		return err
	}
	return r.Start(ctx, name)
}

func (r *LXCTools) Destroy(ctx context.Context, name string) error {
	if err := r.check(name); err != nil {
		return err
	}
	defer r.seen.forget(name)
	if err := r.Stop(ctx, name, 0); err != nil {
		return err
	}
	out, err := r.run(ctx, "lxc-destroy", name)
	if err != nil {
		return fmt.Errorf("runtime: destroy %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return removeAll(r.home(name))
}

// info runs lxc-info with flags and returns its "Key: value" lines.
func (r *LXCTools) info(ctx context.Context, name string, flags ...string) (map[string][]string, error) {
	if err := r.check(name); err != nil {
		return nil, err
	}
	out, err := r.run(ctx, "lxc-info", name, flags...)
	if err != nil {
		return nil, fmt.Errorf("runtime: lxc-info %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	m := map[string][]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[k] = append(m[k], strings.TrimSpace(v))
		}
	}
	if len(m["State"]) == 0 {
		return nil, fmt.Errorf("runtime: lxc-info %s: no state in %q", name, out)
	}
	return m, nil
}

func (r *LXCTools) State(ctx context.Context, name string) (State, error) {
	if err := r.check(name); err != nil {
		return "", err
	}
	if r.quickState(name) {
		return StateRunning, nil
	}
	m, err := r.info(ctx, name, "-s", "-p")
	if err != nil {
		return "", err
	}
	st, err := lxcState(m["State"][0])
	if err != nil {
		return "", err
	}
	r.seen.remember(name, st, pidOf(m))
	return st, nil
}

func pidOf(m map[string][]string) int {
	if p := m["PID"]; len(p) > 0 {
		pid, _ := strconv.Atoi(p[0])
		return pid
	}
	return 0
}

// Info asks lxc-info, except while the init it last reported running
// still runs unfrozen: then it reads the same figures from /proc, the
// container's network namespace and its cgroup, without forking (see
// quickInfo). The first Info after a start, a stop or a freeze, or after
// anything done behind nuvol's back, always asks lxc-info.
func (r *LXCTools) Info(ctx context.Context, name string) (Info, error) {
	if err := r.check(name); err != nil {
		return Info{}, err
	}
	if in, ok := r.quickInfo(name); ok {
		return in, nil
	}
	m, err := r.info(ctx, name, "-s", "-p", "-i")
	if err != nil {
		return Info{}, err
	}
	in := Info{Name: name}
	if in.State, err = lxcState(m["State"][0]); err != nil {
		return Info{}, err
	}
	in.PID = pidOf(m)
	r.seen.remember(name, in.State, in.PID)
	in.Addresses = m["IP"]
	if in.PID > 0 {
		// The container may stop between lxc-info and here; its figures
		// are then simply zero.
		in.MemoryBytes, in.CPUTime, _ = cgroupUsage(in.PID)
	}
	return in, nil
}

// execEnv is the environment of commands run by Exec: a clean one, so that
// nothing of nuvol's own environment leaks into a container.
var execEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}

func (r *LXCTools) Exec(ctx context.Context, name string, cmd []string) ([]byte, error) {
	if len(cmd) == 0 {
		return nil, fmt.Errorf("runtime: exec in %s: empty command", name)
	}
	if err := r.check(name); err != nil {
		return nil, err
	}
	args := []string{"--clear-env"}
	for _, e := range execEnv {
		args = append(args, "-v", e)
	}
	args = append(append(args, "--"), cmd...)
	out, err := r.run(ctx, "lxc-attach", name, args...)
	if err == nil {
		return out, nil
	}
	if st, e := r.State(ctx, name); e == nil && st != StateRunning {
		return out, fmt.Errorf("runtime: exec in %s: container is %s", name, st)
	}
	if code := exitCode(err); code > 0 && ctx.Err() == nil {
		return out, &ExitError{Name: name, Cmd: cmd, Code: code, Output: out}
	}
	return out, fmt.Errorf("runtime: exec %q in %s: %v", cmd, name, err)
}

func (r *LXCTools) Log(name string, lines int) ([]string, error) { return r.log(name, lines) }

func (r *LXCTools) List(ctx context.Context) ([]string, error) { return r.list() }

// Freeze and Unfreeze suspend and resume all processes of a container.
func (r *LXCTools) Freeze(ctx context.Context, name string) error {
	return r.simple(ctx, "lxc-freeze", name)
}

func (r *LXCTools) Unfreeze(ctx context.Context, name string) error {
	return r.simple(ctx, "lxc-unfreeze", name)
}

func (r *LXCTools) simple(ctx context.Context, prog, name string) error {
	if err := r.check(name); err != nil {
		return err
	}
	defer r.seen.forget(name)
	if out, err := r.run(ctx, prog, name); err != nil {
		return fmt.Errorf("runtime: %s %s: %v: %s", prog, name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
