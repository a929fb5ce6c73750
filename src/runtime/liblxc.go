//go:build liblxc

package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	lxc "github.com/lxc/go-lxc"
)

// LibLXC is the cgo backend over liblxc (github.com/lxc/go-lxc). OpenWrt's
// feed build uses it: golang-package.mk always builds with cgo and the
// package can depend on +liblxc.
type LibLXC struct {
	base
}

// startMu serializes liblxc starts in this process, so that the cgroups one
// start saves are never those another start has just put the process in.
// It is package-wide because the process's cgroups are: two LibLXC values
// (nuvol uses one for lxc_path and one for staging installs) share them.
var startMu sync.Mutex

// NewLibLXC returns the liblxc backend over lxcPath.
func NewLibLXC(lxcPath string) (*LibLXC, error) {
	b, err := newBase(lxcPath)
	if err != nil {
		return nil, err
	}
	return &LibLXC{base: b}, nil
}

func newLibLXC(lxcPath string) (Runtime, error) {
	r, err := NewLibLXC(lxcPath)
	if err != nil {
		return nil, err
	}
	return r, nil
}

var _ Runtime = (*LibLXC)(nil)

// open returns liblxc's handle on name; the caller releases it. Each call
// gets its own handle, so calls from several goroutines do not share state.
func (r *LibLXC) open(ctx context.Context, name string) (*lxc.Container, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.check(name); err != nil {
		return nil, err
	}
	c, err := lxc.NewContainer(name, r.path)
	if err != nil {
		return nil, fmt.Errorf("runtime: liblxc %s: %v", name, err)
	}
	return c, nil
}

func (r *LibLXC) Create(ctx context.Context, dir string, spec Spec) error {
	return r.create(dir, spec)
}

func (r *LibLXC) Start(ctx context.Context, name string) error {
	c, err := r.open(ctx, name)
	if err != nil {
		return err
	}
	defer c.Release()
	if c.Running() {
		return nil
	}
	// liblxc forks the container's monitor off this process. Daemonized,
	// it is reparented away from nuvol and outlives it; with all fds
	// closed it keeps none of nuvol's sockets (ubus, the control socket)
	// open after nuvol exits.
	if err := c.WantDaemonize(true); err != nil {
		return fmt.Errorf("runtime: start %s: %v", name, err)
	}
	if err := c.WantCloseAllFds(true); err != nil {
		return fmt.Errorf("runtime: start %s: %v", name, err)
	}
	// liblxc moves its caller (this process) into the container's
	// monitor cgroup as a "transient" process and never moves it out: the
	// daemon would be charged to the container, and the monitor could not
	// remove its cgroup when the container stops (one leaked cgroup per
	// start). lxc-start has the same, but exits at once. So go back.
	startMu.Lock()
	defer startMu.Unlock()
	home, err := selfCgroups()
	if err != nil {
		return fmt.Errorf("runtime: start %s: %v", name, err)
	}
	logAt := startLog(r.home(name))
	err = c.Start()
	if e := home.enter(); e != nil {
		return fmt.Errorf("runtime: start %s: back to own cgroup: %v", name, e)
	}
	if err != nil {
		if c.Running() {
			return nil
		}
		return startError(name, r.home(name), logAt, err)
	}
	// liblxc returns so soon that a Stop right now could reach nuvol's
	// init before it has set its trap, and be lost; wait for the trap.
	if ci := c.ConfigItem("lxc.init.cmd"); len(ci) == 1 && ci[0] == "/"+initName {
		waitCatches(c.InitPid(), syscall.SIGTERM, time.Second)
	}
	return nil
}

func (r *LibLXC) Stop(ctx context.Context, name string, timeout time.Duration) error {
	c, err := r.open(ctx, name)
	if err != nil {
		return err
	}
	defer c.Release()
	return r.stop(name, c, timeout)
}

func (r *LibLXC) stop(name string, c *lxc.Container, timeout time.Duration) error {
	if !c.Running() {
		return nil
	}
	if timeout > 0 && c.State() == lxc.FROZEN {
		c.Unfreeze() // a frozen app cannot act on the stop request
	}
	for _, secs := range stopSteps(timeout) {
		if err := c.Shutdown(time.Duration(secs) * time.Second); err == nil || !c.Running() {
			return nil
		}
	}
	if err := c.Stop(); err != nil && c.Running() {
		return fmt.Errorf("runtime: stop %s: %v", name, err)
	}
	return nil
}

func (r *LibLXC) Restart(ctx context.Context, name string, timeout time.Duration) error {
	if err := r.Stop(ctx, name, timeout); err != nil {
		return err
	}
	return r.Start(ctx, name)
}

func (r *LibLXC) Destroy(ctx context.Context, name string) error {
	c, err := r.open(ctx, name)
	if err != nil {
		return err
	}
	defer c.Release()
	if err := r.stop(name, c, 0); err != nil {
		return err
	}
	if err := c.Destroy(); err != nil {
		return fmt.Errorf("runtime: destroy %s: %v", name, err)
	}
	return removeAll(r.home(name))
}

func (r *LibLXC) State(ctx context.Context, name string) (State, error) {
	c, err := r.open(ctx, name)
	if err != nil {
		return "", err
	}
	defer c.Release()
	return lxcState(c.State().String())
}

func (r *LibLXC) Info(ctx context.Context, name string) (Info, error) {
	c, err := r.open(ctx, name)
	if err != nil {
		return Info{}, err
	}
	defer c.Release()
	in := Info{Name: name}
	if in.State, err = lxcState(c.State().String()); err != nil {
		return Info{}, err
	}
	if pid := c.InitPid(); pid > 0 {
		in.PID = pid
		// As with lxc-info: lo is left out. The container may stop at any
		// moment; its figures are then zero.
		in.Addresses, _ = c.IPAddresses()
		in.MemoryBytes, in.CPUTime, _ = cgroupUsage(pid)
	}
	return in, nil
}

func (r *LibLXC) Exec(ctx context.Context, name string, cmd []string) ([]byte, error) {
	if len(cmd) == 0 {
		return nil, fmt.Errorf("runtime: exec in %s: empty command", name)
	}
	c, err := r.open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	if !c.Running() {
		return nil, fmt.Errorf("runtime: exec in %s: container is %s", name, StateStopped)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(pr)
		pr.Close()
		done <- b
	}()
	opts := lxc.DefaultAttachOptions
	opts.ClearEnv = true
	opts.Env = execEnv
	opts.StdinFd = devnull.Fd()
	opts.StdoutFd = pw.Fd()
	opts.StderrFd = pw.Fd()
	code, err := c.RunCommandStatus(cmd, opts)
	pw.Close()
	out := <-done
	switch {
	case err != nil:
		return out, fmt.Errorf("runtime: exec %q in %s: %v", cmd, name, err)
	case code < 0:
		return out, fmt.Errorf("runtime: exec %q in %s: attach failed", cmd, name)
	case code > 0:
		return out, &ExitError{Name: name, Cmd: cmd, Code: code, Output: out}
	}
	return out, nil
}

func (r *LibLXC) Log(name string, lines int) ([]string, error) { return r.log(name, lines) }

func (r *LibLXC) List(ctx context.Context) ([]string, error) { return r.list() }

// Freeze and Unfreeze suspend and resume all processes of a container.
func (r *LibLXC) Freeze(ctx context.Context, name string) error {
	c, err := r.open(ctx, name)
	if err != nil {
		return err
	}
	defer c.Release()
	if err := c.Freeze(); err != nil {
		return fmt.Errorf("runtime: freeze %s: %v", name, err)
	}
	return nil
}

func (r *LibLXC) Unfreeze(ctx context.Context, name string) error {
	c, err := r.open(ctx, name)
	if err != nil {
		return err
	}
	defer c.Release()
	if err := c.Unfreeze(); err != nil {
		return fmt.Errorf("runtime: unfreeze %s: %v", name, err)
	}
	return nil
}
