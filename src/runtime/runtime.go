// Package runtime runs nuvol's apps as LXC containers.
//
// nuvol keeps no container state of its own: the containers under lxc_path
// are the truth, and a Runtime only asks LXC. Containers are started
// daemonized, so they keep running when nuvol stops, crashes or is upgraded,
// and a new Runtime over the same lxc_path adopts them.
//
// Two backends implement Runtime: "lxctools" (the default, pure Go, runs the
// lxc-* programs) and "liblxc" (cgo, github.com/lxc/go-lxc, only with the
// build tag liblxc). Both pass the suite in src/runtime/runtimetest.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultPath is OpenWrt's lxc.lxcpath (lxc-common's /etc/lxc/lxc.conf).
const DefaultPath = "/srv/lxc"

// State is a container's state as LXC reports it, folded into five values.
type State string

const (
	StateStopped  State = "stopped"
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	StateFrozen   State = "frozen"
)

// Network modes.
const (
	// NetworkHost shares the router's network namespace: the app listens on
	// its port on the router's own addresses. The container cannot
	// configure the network (CAP_NET_ADMIN is dropped), and nothing in it
	// may try.
	NetworkHost = "host"
	// NetworkBridge gives the container its own network namespace with a
	// veth whose host end is on Network.Bridge (e.g. br-lan).
	NetworkBridge = "bridge"
	// NetworkNone gives the container an empty network namespace (only lo).
	NetworkNone = "none"
)

// Network says how a container reaches the network.
type Network struct {
	Mode   string // NetworkHost ("" means host), NetworkBridge or NetworkNone
	Bridge string // bridge mode: the host bridge the veth joins, e.g. "br-lan"
	// Address and Gateway (bridge mode, optional) are set by LXC on the
	// container's eth0 before init runs, e.g. "192.168.1.50/24" and
	// "192.168.1.1". Without an Address, nuvol's init runs busybox's
	// DHCP client on eth0 beside the app (the rootfs needs /bin/busybox
	// with udhcpc), with the container's host name.
	Address string
	Gateway string
	// Hwaddr (bridge mode, optional) is the container's MAC address. When
	// empty, one is derived from the container name so that DHCP leases
	// stay the same across restarts.
	Hwaddr string
}

// Mount is a bind mount of a host path into the container.
type Mount struct {
	Source   string // absolute path on the host
	Target   string // absolute path inside the container
	ReadOnly bool
	// File says the source is a file, not a directory (LXC then creates a
	// file, not a directory, as the mount point). Create sets it when the
	// source exists.
	File bool
}

// Spec describes a container to create. Create writes it as an LXC config.
type Spec struct {
	Name     string // container name: the directory under lxc_path
	Hostname string // uts name; "" means Name
	// Init is the app's command line, run inside the container. nuvol wraps
	// it in a small /bin/sh init (written to rootfs/.nuvol-init) that passes
	// stop signals on to the app, because a plain app running as PID 1
	// ignores SIGTERM and could only be killed. Empty means the rootfs's
	// own /sbin/init, which host mode refuses: a distribution's init
	// configures the network, and in host mode that is the router's. A
	// rootfs without /bin/sh gets Init as lxc.init.cmd directly; its
	// arguments must then contain no white space.
	Init []string
	Env  []string // KEY=VALUE pairs for the app (lxc.environment)
	// Network: see Network. The zero value is host mode.
	Network Network
	// MemoryMiB is the memory limit in MiB; 0 means none.
	MemoryMiB int
	// CPUWeight is the relative CPU share on the cgroup v2 scale (1-10000,
	// 100 is normal); 0 means the default. On cgroup v1 hosts it becomes
	// cpu.shares (100 -> 1024).
	CPUWeight int
	Mounts    []Mount
	// Config holds extra LXC config lines (key, value), appended as they
	// are. Keys must start with "lxc.".
	Config [][2]string
}

// Info is what a Runtime reports about one container.
type Info struct {
	Name        string
	State       State
	PID         int           // init's PID on the host; 0 when not running
	Addresses   []string      // IP addresses inside the container (host mode: the router's), lo excluded
	MemoryBytes int64         // memory in use by the container's cgroup
	CPUTime     time.Duration // CPU time used by the container's cgroup
}

// Runtime is what nuvol needs of a container runtime. All names are
// container names under Path(). Methods return an error wrapping
// ErrNotFound for a name that has no container.
type Runtime interface {
	// Create writes the LXC config for spec into dir/config. The rootfs is
	// already in dir/rootfs. dir may be a staging directory that the caller
	// renames to Path()/spec.Name afterwards: the paths written in the
	// config always point to Path()/spec.Name.
	Create(ctx context.Context, dir string, spec Spec) error
	// Start starts the container daemonized and returns once it is running.
	// Starting a running container is not an error.
	Start(ctx context.Context, name string) error
	// Stop asks the container to stop, waits up to timeout, then kills it.
	// Stopping a stopped container is not an error.
	Stop(ctx context.Context, name string, timeout time.Duration) error
	// Restart stops (as Stop) and starts the container.
	Restart(ctx context.Context, name string, timeout time.Duration) error
	// Destroy kills the container if it runs and deletes its directory,
	// rootfs included.
	Destroy(ctx context.Context, name string) error
	State(ctx context.Context, name string) (State, error)
	Info(ctx context.Context, name string) (Info, error)
	// Exec runs cmd inside the running container and returns its output
	// (stdout and stderr together). A non-zero exit is an *ExitError.
	Exec(ctx context.Context, name string, cmd []string) ([]byte, error)
	// Log returns the last lines of the container's console log (all of
	// them when lines <= 0).
	Log(name string, lines int) ([]string, error)
	// List returns the names of the containers under Path(), sorted.
	// Directories whose names start with "." (staging) are skipped.
	List(ctx context.Context) ([]string, error)
	// Path is lxc_path.
	Path() string
}

// ErrNotFound is wrapped by errors about containers that do not exist.
var ErrNotFound = errors.New("no such container")

// ExitError is returned by Exec when the command ran and exited non-zero.
type ExitError struct {
	Name   string
	Cmd    []string
	Code   int
	Output []byte
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("runtime: %s: %q exited with status %d", e.Name, e.Cmd, e.Code)
}

// New returns the Runtime for backend ("lxctools" or "" for the default,
// "liblxc" when built with the liblxc tag) over lxcPath ("" means
// DefaultPath). It creates lxcPath if it is missing.
func New(backend, lxcPath string) (Runtime, error) {
	if lxcPath == "" {
		lxcPath = DefaultPath
	}
	switch backend {
	case "", "lxctools":
		r, err := NewLXCTools(lxcPath)
		if err != nil {
			return nil, err // not a typed nil in an interface
		}
		return r, nil
	case "liblxc":
		return newLibLXC(lxcPath)
	}
	return nil, fmt.Errorf("runtime: unknown backend %q (want lxctools or liblxc)", backend)
}
