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
	return cgroupUsageAt(cgroupRoot, CgroupVersion(), data)
}

// cgroupUsageAt reads the figures under the cgroup mount root for the
// cgroups in procCgroup (the text of /proc/PID/cgroup).
func cgroupUsageAt(root string, version int, procCgroup []byte) (mem int64, cpu time.Duration, err error) {
	paths := parseProcCgroup(procCgroup)
	if version == 2 {
		p, ok := paths[""]
		if !ok {
			return 0, 0, fmt.Errorf("no cgroup v2 line in %q", procCgroup)
		}
		dir := filepath.Join(root, p)
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
		return 0, 0, fmt.Errorf("no memory controller in %q", procCgroup)
	}
	mem, err = readInt(filepath.Join(root, "memory", mp, "memory.usage_in_bytes"))
	if err != nil {
		return 0, 0, err
	}
	cp, ok := paths["cpuacct"]
	if !ok {
		return 0, 0, fmt.Errorf("no cpuacct controller in %q", procCgroup)
	}
	// cpuacct is mounted alone or together with cpu ("cpu,cpuacct").
	var ns int64
	for _, mount := range []string{"cpuacct", "cpu,cpuacct", "cpuacct,cpu"} {
		ns, err = readInt(filepath.Join(root, mount, cp, "cpuacct.usage"))
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

// cgroupPlacement is where a process is in every cgroup hierarchy: the
// cgroup.procs file of each of its cgroups.
type cgroupPlacement []string

// selfCgroups returns the cgroups this process is in.
func selfCgroups() (cgroupPlacement, error) {
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return placement(own, mounts), nil
}

// placement joins /proc/self/cgroup with the cgroup mounts of
// /proc/self/mountinfo: a v1 hierarchy is known by its controller list
// ("cpu,cpuacct", "name=systemd"), the v2 one by fstype cgroup2.
func placement(own, mountinfo []byte) cgroupPlacement {
	where := parseProcCgroupLines(own)
	var out cgroupPlacement
	seen := map[string]bool{}
	for _, line := range strings.Split(string(mountinfo), "\n") {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || f[3] != "/" {
			continue
		}
		var key string
		switch g[0] {
		case "cgroup2":
			key = ""
		case "cgroup":
			var ctrl []string
			for _, o := range strings.Split(g[2], ",") {
				if o != "rw" && o != "ro" && !strings.HasPrefix(o, "clone_children") && o != "noprefix" && !strings.HasPrefix(o, "release_agent=") && o != "xattr" && o != "cpuset_v2_mode" {
					ctrl = append(ctrl, o)
				}
			}
			key = strings.Join(ctrl, ",")
		default:
			continue
		}
		p, ok := where[key]
		if !ok || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, filepath.Join(f[4], p, "cgroup.procs"))
	}
	return out
}

// parseProcCgroupLines maps each line's controller list, as written, to
// its path.
func parseProcCgroupLines(data []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 {
			m[f[1]] = f[2]
		}
	}
	return m
}

// enter moves this process (all its threads) back into p.
func (p cgroupPlacement) enter() error {
	pid := []byte(strconv.Itoa(os.Getpid()))
	var first error
	for _, procs := range p {
		if err := os.WriteFile(procs, pid, 0); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// cgroupMounts returns the mount points of the cgroup hierarchies.
func cgroupMounts() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) >= 1 && f[3] == "/" && (g[0] == "cgroup" || g[0] == "cgroup2") {
			out = append(out, f[4])
		}
	}
	return out
}

// removeMonitorCgroups removes the empty monitor cgroups a failed start of
// name leaves behind: the process that asked for the start (lxc-start, or
// nuvol itself with liblxc) is still in the monitor's cgroup when the
// monitor gives up, so the monitor cannot remove it. rmdir only removes
// empty cgroups, so a running container's monitor is never touched.
func removeMonitorCgroups(name string) {
	for _, m := range cgroupMounts() {
		for _, pat := range []string{"lxc.monitor." + name, "lxc.monitor." + name + "-[0-9]*"} {
			dirs, _ := filepath.Glob(filepath.Join(m, pat))
			for _, d := range dirs {
				os.Remove(d)
			}
		}
	}
}
