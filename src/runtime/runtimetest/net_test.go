package runtimetest

import (
	"strings"
	"testing"
)

func TestNetChanges(t *testing.T) {
	before := NetState{
		Addrs:  map[string]string{"lo": `[127.0.0.1]`, "eth0": `[192.0.2.2/24]`, "nvt1": `[10.213.1.1/24]`},
		Kinds:  map[string]string{"nvt1": "bridge"},
		Routes: map[string]string{"eth0": "default via 192.0.2.1\n", "nvt1": "10.213.1.0/24\n"},
	}
	clone := func(s NetState) NetState {
		c := NetState{Addrs: map[string]string{}, Kinds: map[string]string{}, Routes: map[string]string{}}
		for k, v := range s.Addrs {
			c.Addrs[k] = v
		}
		for k, v := range s.Kinds {
			c.Kinds[k] = v
		}
		for k, v := range s.Routes {
			c.Routes[k] = v
		}
		return c
	}
	tests := []struct {
		name   string
		change func(s *NetState)
		want   string // "" means no change reported
	}{
		{"same", func(s *NetState) {}, ""},
		{"eth0 flushed", func(s *NetState) { s.Addrs["eth0"] = `[]`; delete(s.Routes, "eth0") }, "eth0: addresses"},
		{"default route gone", func(s *NetState) { delete(s.Routes, "eth0") }, `routes via "eth0"`},
		{"route added to eth0", func(s *NetState) { s.Routes["eth0"] += "10.0.0.0/8 via 192.0.2.9\n" }, `routes via "eth0"`},
		{"eth0 gone", func(s *NetState) { delete(s.Addrs, "eth0"); delete(s.Routes, "eth0") }, "interface eth0 is gone"},
		{"another test's bridge gone", func(s *NetState) { delete(s.Addrs, "nvt1"); delete(s.Routes, "nvt1") }, ""},
		{"another test's bridge new", func(s *NetState) { s.Addrs["br9"] = `[10.9.0.1/24]`; s.Routes["br9"] = "10.9.0.0/24\n" }, ""},
		{"lo route without device", func(s *NetState) { s.Routes[""] = "unreachable 10.1.0.0/16\n" }, `new routes via ""`},
	}
	for _, tt := range tests {
		after := clone(before)
		tt.change(&after)
		d := strings.Join(NetChanges(before, after), "\n")
		if tt.want == "" && d != "" || tt.want != "" && !strings.Contains(d, tt.want) {
			t.Errorf("%s: changes %q, want %q", tt.name, d, tt.want)
		}
	}
}
