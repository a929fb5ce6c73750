package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const cgroupRoot = "/sys/fs/cgroup"

// CgroupVersion returns 2 on a host whose /sys/fs/cgroup is the unified
// cgroup2 hierarchy (OpenWrt 21.02 and later, current Debian) and 1
// otherwise. A hybrid host (v1 controllers plus an empty
// /sys/fs/cgroup/unified) counts as 1: LXC puts the memory and cpu limits
// in the v1 hierarchies there.
func CgroupVersion() int {
	var st syscall.Statfs_t
	if err := syscall.Statfs(cgroupRoot, &st); err == nil && st.Type == 0x63677270 { // CGROUP2_SUPER_MAGIC
		return 2
	}
	return 1
}

// cgroupUsage reads the memory in use and the CPU time of the cgroup that
// process pid (a container's init) is in.
func cgroupUsage(pid int) (mem int64, cpu time.Duration, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return 0, 0, err
	}
	paths := parseProcCgroup(data)
	if CgroupVersion() == 2 {
		dir := filepath.Join(cgroupRoot, paths[""])
		mem, err = readInt(filepath.Join(dir, "memory.current"))
		if err != nil {
			return 0, 0, err
		}
		usec, err := statField(filepath.Join(dir, "cpu.stat"), "usage_usec")
		if err != nil {
			return 0, 0, err
		}
		return mem, time.Duration(usec) * time.Microsecond, nil
	}
	mp, ok := paths["memory"]
	if !ok {
		return 0, 0, fmt.Errorf("/proc/%d/cgroup: no memory controller", pid)
	}
	mem, err = readInt(filepath.Join(cgroupRoot, "memory", mp, "memory.usage_in_bytes"))
	if err != nil {
		return 0, 0, err
	}
	cp, ok := paths["cpuacct"]
	if !ok {
		return 0, 0, fmt.Errorf("/proc/%d/cgroup: no cpuacct controller", pid)
	}
	// cpuacct is mounted alone or together with cpu ("cpu,cpuacct").
	var ns int64
	for _, mount := range []string{"cpuacct", "cpu,cpuacct", "cpuacct,cpu"} {
		ns, err = readInt(filepath.Join(cgroupRoot, mount, cp, "cpuacct.usage"))
		if err == nil {
			break
		}
	}
	if err != nil {
		return 0, 0, err
	}
	return mem, time.Duration(ns), nil
}

// parseProcCgroup maps each controller of /proc/PID/cgroup to its path;
// the v2 line ("0::/path") has the controller "".
func parseProcCgroup(data []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			m[""] = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			m[c] = f[2]
		}
	}
	return m
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", path, err)
	}
	return n, nil
}

func statField(path, field string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == field {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, field)
}
