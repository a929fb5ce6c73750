package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nuvol-project/nuvol/src/api"
	"github.com/nuvol-project/nuvol/src/config"
	"github.com/nuvol-project/nuvol/src/node"
	"github.com/nuvol-project/nuvol/src/runtime"
)

func TestHostAndAddress(t *testing.T) {
	tests := []struct {
		node, cloud, host string
	}{
		{"alpha", "guifi", "alpha.guifi.local"},
		{"alpha.lan", "", "alpha.guifi.local"},
		{"n7", "sants", "n7.sants.local"},
	}
	for _, tt := range tests {
		if got := hostName(tt.node, tt.cloud); got != tt.host {
			t.Errorf("hostName(%q, %q) = %q, want %q", tt.node, tt.cloud, got, tt.host)
		}
	}
	addrs := []struct {
		n    config.Node
		want string
	}{
		{config.Node{AdvertiseAddr: "10.1.2.3:5000", BindAddr: "0.0.0.0"}, "10.1.2.3"},
		{config.Node{AdvertiseAddr: "10.1.2.4"}, "10.1.2.4"},
		{config.Node{BindAddr: "127.0.0.1"}, "127.0.0.1"},
	}
	for _, tt := range addrs {
		if got := nodeAddress(tt.n); got != tt.want {
			t.Errorf("nodeAddress(%+v) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := nodeAddress(config.Node{BindAddr: "0.0.0.0"}); got == "" || got == "0.0.0.0" {
		t.Errorf("nodeAddress on 0.0.0.0 = %q", got)
	}
	for bind, want := range map[string]string{"127.0.0.1": "127.0.0.1", "127.0.0.2": "127.0.0.2", "0.0.0.0": "", "10.0.0.1": "", "": ""} {
		if got := appAddr(bind); got != want {
			t.Errorf("appAddr(%q) = %q, want %q", bind, got, want)
		}
	}
}

func TestLogger(t *testing.T) {
	var b bytes.Buffer
	l := newLogger(&b)
	l.Debugf("hidden")
	l.Infof("shown %d", 1)
	sub := l.Sub("serf: ", levelDebug)
	sub("[WARN] memberlist: x")
	sub("[DEBUG] memberlist: y")
	l.setLevel("error")
	l.Warnf("hidden too")
	l.Errorf("bad")
	l.setLevel("loud")
	want := "info: shown 1\nwarn: serf: [WARN] memberlist: x\nerror: bad\nwarn: log_level \"loud\" is not one of debug, info, warn, error: using info\n"
	if b.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestAPIErr(t *testing.T) {
	tests := []struct {
		err  error
		code api.Status
	}{
		{fmt.Errorf("no app x: %w", node.ErrNotFound), api.StatusNotFound},
		{fmt.Errorf("lxc: %w", runtime.ErrNotFound), api.StatusNotFound},
		{fmt.Errorf("bad: %w", node.ErrInvalid), api.StatusInvalidArgument},
		{fmt.Errorf("port 80 in use: %w", node.ErrConflict), api.StatusInvalidArgument},
		{fmt.Errorf("health: %w", node.ErrTimeout), api.StatusTimeout},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), api.StatusTimeout},
		{api.Errorf(api.StatusNoData, "no node"), api.StatusNoData},
		{errors.New("disk full"), api.StatusUnknownError},
	}
	for _, tt := range tests {
		e := api.AsError(apiErr(tt.err))
		if e.Code != tt.code || e.Message != tt.err.Error() {
			t.Errorf("%v -> %v %q, want %v", tt.err, e.Code, e.Message, tt.code)
		}
	}
}
