package runtime

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	goruntime "runtime"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"
)

// netnsAddresses returns the IP addresses in the network namespace of
// process pid the way lxc-info -i lists them (LXC's get_ips with no
// interface, family or scope): every address but those of interfaces
// named "lo" and IPv6 link-local ones, sorted as strings (LXC keeps them in
// a sorted array). It
// reads them over netlink, as LXC does, but from a thread of this process
// that enters the namespace for the dump, so it forks nothing and is never
// stale.
func netnsAddresses(pid int) ([]string, error) {
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if same, err := sameFile(target, "/proc/self/ns/net"); err != nil {
		return nil, err
	} else if same {
		return ifAddresses()
	}

	// Only this thread enters the namespace, and it goes back before any
	// other goroutine may run on it. Should going back fail, the thread
	// stays locked and Go ends it when this goroutine returns.
	goruntime.LockOSThread()
	own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		goruntime.UnlockOSThread()
		return nil, err
	}
	defer own.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		goruntime.UnlockOSThread()
		return nil, fmt.Errorf("setns: %v", err)
	}
	addrs, err := ifAddresses()
	if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
		goruntime.UnlockOSThread()
	} else if err == nil {
		err = fmt.Errorf("setns back to the host's network namespace failed")
	}
	return addrs, err
}

// sameFile reports whether the open f and the file at path are the same
// (for namespaces: the same namespace).
func sameFile(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

// ifAddresses lists the addresses of the calling thread's network
// namespace as netnsAddresses describes.
func ifAddresses() ([]string, error) {
	links, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("netlink links: %v", err)
	}
	addrs, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("netlink addresses: %v", err)
	}
	return parseIfAddresses(links, addrs)
}

// parseIfAddresses turns netlink dumps of the links and the addresses into
// the list netnsAddresses describes.
func parseIfAddresses(links, addrs []byte) ([]string, error) {
	lmsgs, err := syscall.ParseNetlinkMessage(links)
	if err != nil {
		return nil, fmt.Errorf("netlink links: %v", err)
	}
	names := map[uint32]string{}
	for _, m := range lmsgs {
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		index := binary.NativeEndian.Uint32(m.Data[4:8]) // ifi_index
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("netlink links: %v", err)
		}
		for _, a := range attrs {
			if a.Attr.Type == syscall.IFLA_IFNAME {
				names[index] = cString(a.Value)
			}
		}
	}
	amsgs, err := syscall.ParseNetlinkMessage(addrs)
	if err != nil {
		return nil, fmt.Errorf("netlink addresses: %v", err)
	}
	var out []string
	for _, m := range amsgs {
		if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg {
			continue
		}
		family := m.Data[0]                              // ifa_family
		index := binary.NativeEndian.Uint32(m.Data[4:8]) // ifa_index
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("netlink addresses: %v", err)
		}
		// As getifaddrs: the local address when there is one (a
		// point-to-point link's IFA_ADDRESS is the peer's), the label as
		// the name when there is one.
		var address, local []byte
		name := names[index]
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFA_ADDRESS:
				address = a.Value
			case syscall.IFA_LOCAL:
				local = a.Value
			case syscall.IFA_LABEL:
				name = cString(a.Value)
			}
		}
		if local != nil {
			address = local
		}
		if name == "lo" {
			continue
		}
		switch {
		case family == syscall.AF_INET && len(address) == 4:
			out = append(out, netip.AddrFrom4([4]byte(address)).String())
		case family == syscall.AF_INET6 && len(address) == 16:
			ip := netip.AddrFrom16([16]byte(address))
			// LXC asks for scope 0; link-local addresses carry their
			// interface as the scope.
			if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() {
				continue
			}
			out = append(out, ip.String())
		}
	}
	sort.Strings(out) // strcmp order, as LXC's add_to_array
	return out, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
