package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/runtime"
	"github.com/nuvol-project/nuvol/src/runtime/runtimetest"
)

func TestLXCTools(t *testing.T) {
	runtimetest.Run(t, func(path string) runtime.Runtime {
		r, err := runtime.New("lxctools", path)
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

func TestNewRefuses(t *testing.T) {
	if _, err := runtime.New("docker", t.TempDir()); err == nil {
		t.Error(`New("docker") succeeded`)
	}
}

// Environment of the helper process TestSurvivesExit starts.
const (
	envBackend = "NUVOL_RUNTIME_HELPER"
	envPath    = "NUVOL_RUNTIME_PATH"
	envName    = "NUVOL_RUNTIME_NAME"
	envAddr    = "NUVOL_RUNTIME_ADDR"
)

// TestHelperStart is not a test: TestSurvivesExit runs the test binary
// with it as a stand-in nuvol daemon that holds a listening socket, starts
// a container, prints its PID and exits without any cleanup.
func TestHelperStart(t *testing.T) {
	backend := os.Getenv(envBackend)
	if backend == "" {
		t.Skip("helper process of TestSurvivesExit")
	}
	l, err := net.Listen("tcp", os.Getenv(envAddr))
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	_ = l // held open until exit, like the daemon's sockets
	rt, err := runtime.New(backend, os.Getenv(envPath))
	if err == nil {
		err = rt.Start(context.Background(), os.Getenv(envName))
	}
	var in runtime.Info
	if err == nil {
		in, err = rt.Info(context.Background(), os.Getenv(envName))
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Printf("pid=%d\n", in.PID)
	os.Exit(0)
}

// TestSurvivesExit proves that a container outlives the process that
// started it, keeps none of its sockets, and is adopted by a new Runtime.
func TestSurvivesExit(t *testing.T) {
	for _, backend := range []string{"lxctools", "liblxc"} {
		t.Run(backend, func(t *testing.T) {
			if _, err := runtime.New(backend, t.TempDir()); err != nil {
				t.Skip(err)
			}
			runtimetest.Skip(t)
			path := t.TempDir()
			rt, err := runtime.New(backend, path)
			if err != nil {
				t.Fatal(err)
			}
			name := "survive" + runtimetest.Suffix()
			runtimetest.Create(t, rt, runtime.Spec{
				Name:    name,
				Init:    []string{"/bin/sh", "-c", "while :; do sleep 1 & wait $!; done"},
				Network: runtime.Network{Mode: runtime.NetworkNone},
			})
			addr := "127.0.0.1:" + strconv.Itoa(runtimetest.FreePort(t))
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStart$")
			cmd.Env = append(os.Environ(), envBackend+"="+backend, envPath+"="+path, envName+"="+name, envAddr+"="+addr)
			// Should the container hold the helper's stdout, Output would
			// wait for the container; WaitDelay turns that into an error.
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper: %v: %s", err, out)
			}
			pidText, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "pid=")
			pid, err := strconv.Atoi(pidText)
			if !ok || err != nil || pid <= 0 {
				t.Fatalf("helper said %q", out)
			}

			rt2, err := runtime.New(backend, path)
			if err != nil {
				t.Fatal(err)
			}
			in, err := rt2.Info(context.Background(), name)
			if err != nil || in.State != runtime.StateRunning || in.PID != pid {
				t.Fatalf("after the starter exited: Info = %+v, %v; want running with PID %d", in, err, pid)
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Errorf("the container kept the starter's listening socket: %v", err)
			} else {
				l.Close()
			}
			if err := rt2.Stop(context.Background(), name, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			runtimetest.WaitState(t, rt2, name, runtime.StateStopped)
		})
	}
}

func TestErrNotFoundWraps(t *testing.T) {
	rt, err := runtime.New("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = rt.State(context.Background(), "ghost")
	if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("State(ghost) = %v", err)
	}
}
