package runtime

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// initProc identifies a container's init process: its PID and its start
// time (field 22 of /proc/PID/stat, in clock ticks since boot), which
// together never name another process, even after the PID is reused.
type initProc struct {
	pid   int
	start uint64
}

// running remembers, in memory only, the init of each container lxc-info
// last reported running, so that Info and State can answer from /proc and
// the cgroup files while that very process lives, instead of forking
// lxc-info. Nothing here is ever the answer on its own: every answer
// checks again that the process is still the container's running,
// unfrozen init, and anything it cannot prove sends the call to lxc-info.
type running struct {
	mu    sync.Mutex
	procs map[string]initProc
}

func (r *running) get(name string) (initProc, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.procs[name]
	return p, ok
}

func (r *running) set(name string, p initProc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.procs == nil {
		r.procs = map[string]initProc{}
	}
	r.procs[name] = p
}

// forget drops name's entry, so that the next Info asks LXC.
func (r *running) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.procs, name)
}

// remember records what lxc-info said about name: its init when running,
// nothing otherwise.
func (r *running) remember(name string, st State, pid int) {
	if st != StateRunning || pid <= 0 {
		r.forget(name)
		return
	}
	start, ok := procStart(procRoot, pid)
	if !ok {
		r.forget(name)
		return
	}
	r.set(name, initProc{pid: pid, start: start})
}

// live returns name's remembered init if that process still lives (same
// PID, same start time, not a zombie) and its cgroup is not frozen or
// freezing: a container LXC reports as RUNNING.
func (r *running) live(name string, procs, cgroups string, cgVersion int) (initProc, bool) {
	p, ok := r.get(name)
	if !ok {
		return initProc{}, false
	}
	if !p.alive(procs) {
		r.forget(name)
		return initProc{}, false
	}
	if !thawed(procs, cgroups, cgVersion, p.pid) {
		return initProc{}, false
	}
	return p, true
}

const procRoot = "/proc"

// alive reports whether p is still the process it was.
func (p initProc) alive(procs string) bool {
	start, ok := procStart(procs, p.pid)
	return ok && start == p.start
}

// procStart returns the start time of process pid from procs/PID/stat;
// not ok when there is no such process or it has died (a zombie).
func procStart(procs string, pid int) (uint64, bool) {
	data, err := os.ReadFile(filepath.Join(procs, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	return parseStat(data)
}

// parseStat reads the state (field 3) and the start time (field 22) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses itself, so the fields are counted from
// the last ")".
func parseStat(data []byte) (uint64, bool) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:])) // f[0] is field 3
	if len(f) < 20 {
		return 0, false
	}
	switch f[0] {
	case "Z", "X", "x": // dead: LXC may already see it stopping
		return 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil || start == 0 {
		return 0, false
	}
	return start, true
}

// thawed reports whether process pid's cgroup is known to be neither
// frozen nor freezing. Anything unreadable counts as not thawed.
func thawed(procs, cgroups string, version, pid int) bool {
	data, err := os.ReadFile(filepath.Join(procs, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return false
	}
	paths := parseProcCgroup(data)
	if version == 2 {
		p, ok := paths[""]
		if !ok {
			return false
		}
		dir := filepath.Join(cgroups, p)
		ev, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil || !hasLine(ev, "frozen 0") {
			return false
		}
		// "frozen 0" also while a freeze is under way: no cgroup from
		// this one up to the root may be asked to freeze.
		for d := dir; d != cgroups && strings.HasPrefix(d, cgroups+"/"); d = filepath.Dir(d) {
			fz, err := os.ReadFile(filepath.Join(d, "cgroup.freeze"))
			if err != nil || strings.TrimSpace(string(fz)) != "0" {
				return false
			}
		}
		return true
	}
	p, ok := paths["freezer"]
	if !ok {
		return false
	}
	st, err := os.ReadFile(filepath.Join(cgroups, "freezer", p, "freezer.state"))
	return err == nil && strings.TrimSpace(string(st)) == "THAWED"
}

func hasLine(data []byte, line string) bool {
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// quickInfo answers Info for name without lxc-info when its remembered
// init still runs unfrozen; ok is false when lxc-info must be asked.
func (r *LXCTools) quickInfo(name string) (in Info, ok bool) {
	p, ok := r.seen.live(name, procRoot, cgroupRoot, CgroupVersion())
	if !ok {
		return Info{}, false
	}
	addrs, err := netnsAddresses(p.pid)
	if err != nil {
		return Info{}, false
	}
	mem, cpu, err := cgroupUsage(p.pid)
	if err != nil {
		return Info{}, false
	}
	// The namespace and the cgroup read above must have been that
	// process's, not a newcomer's with the same PID.
	if !p.alive(procRoot) {
		r.seen.forget(name)
		return Info{}, false
	}
	return Info{Name: name, State: StateRunning, PID: p.pid, Addresses: addrs, MemoryBytes: mem, CPUTime: cpu}, true
}

// quickState is quickInfo for State.
func (r *LXCTools) quickState(name string) bool {
	_, ok := r.seen.live(name, procRoot, cgroupRoot, CgroupVersion())
	return ok
}
