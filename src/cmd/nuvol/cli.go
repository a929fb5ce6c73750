package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nuvol-project/nuvol/src/api"
	"github.com/nuvol-project/nuvol/src/config"
	"github.com/nuvol-project/nuvol/src/uci"
)

// Exit statuses: 0 only on success.
const (
	exitOK    = 0
	exitFail  = 1 // the daemon refused or could not be reached
	exitUsage = 2 // the command line was wrong
)

const usage = `usage: nuvol [--socket PATH] [--json] COMMAND [ARGS]

Apps on this node:
  nuvol catalog                          apps that can be installed
  nuvol install APP [--name N] [--port P] [--memory MIB]
  nuvol ls                               installed apps, state, port, memory
  nuvol start|stop|restart NAME
  nuvol publish|unpublish NAME           share an app with the community
  nuvol logs NAME [--lines K]
  nuvol remove NAME

The community:
  nuvol search [TYPE] [--host H] [--text T]
  nuvol nodes
  nuvol status

  nuvol version
  nuvol daemon [--confdir DIR] [--socket PATH] [--ubus PATH]

Options (before or after the arguments):
  --socket PATH   the daemon's control socket (default: $NUVOL_SOCKET, else option
                  socket of /etc/config/nuvol, else /var/run/nuvol.sock)
  --json          print the daemon's JSON reply (for scripts)
  --timeout D     give up after D (default 30s; 10m for install and other changes)
`

// verb is one CLI command: how many positionals, which flags, which method.
type verb struct {
	method string
	pos    []string // names of positional arguments; a trailing "?" makes one optional
	flags  func(fs *flag.FlagSet, args map[string]any)
	print  func(w io.Writer, r map[string]any)
}

var verbs = map[string]verb{
	"status":  {method: "status", print: printStatus},
	"catalog": {method: "catalog", print: printCatalog},
	"ls":      {method: "list", print: printList},
	"list":    {method: "list", print: printList},
	"install": {method: "install", pos: []string{"app"}, flags: func(fs *flag.FlagSet, a map[string]any) {
		strFlag(fs, a, "name", "name of the installed app (default: from APP)")
		intFlag(fs, a, "port", "port the app listens on (default: the catalog's)")
		intFlag(fs, a, "memory", "memory limit in MiB (default: the catalog's)")
	}, print: printState},
	"remove":    {method: "remove", pos: []string{"name"}, print: printState},
	"rm":        {method: "remove", pos: []string{"name"}, print: printState},
	"start":     {method: "start", pos: []string{"name"}, print: printState},
	"stop":      {method: "stop", pos: []string{"name"}, print: printState},
	"restart":   {method: "restart", pos: []string{"name"}, print: printState},
	"publish":   {method: "publish", pos: []string{"name"}, print: printState},
	"unpublish": {method: "unpublish", pos: []string{"name"}, print: printState},
	"search": {method: "search", pos: []string{"type?"}, flags: func(fs *flag.FlagSet, a map[string]any) {
		strFlag(fs, a, "host", "only services on this host")
		strFlag(fs, a, "text", "only services whose description contains this")
	}, print: printSearch},
	"nodes": {method: "nodes", print: printNodes},
	"logs": {method: "logs", pos: []string{"name"}, flags: func(fs *flag.FlagSet, a map[string]any) {
		intFlag(fs, a, "lines", "how many lines (default 100)")
	}, print: printLogs},
}

// strFlag and intFlag put a flag's value into the call's arguments only
// when it is given, so the daemon's defaults apply otherwise.
func strFlag(fs *flag.FlagSet, args map[string]any, name, help string) {
	fs.Func(name, help, func(s string) error { args[name] = s; return nil })
}

func intFlag(fs *flag.FlagSet, args map[string]any, name, help string) {
	fs.Func(name, help, func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		args[name] = n
		return nil
	})
}

// globals are the options every command takes.
type globals struct {
	socket  string
	json    bool
	timeout time.Duration
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.socket, "socket", g.socket, "control socket")
	fs.BoolVar(&g.json, "json", g.json, "print JSON")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "time limit")
}

// defaultSocket is $NUVOL_SOCKET, else the socket the router's own config
// names (option socket), else the default.
func defaultSocket() string {
	if s := os.Getenv("NUVOL_SOCKET"); s != "" {
		return s
	}
	if f, err := uci.Load(config.DefaultPath); err == nil {
		for _, sec := range f.SectionsByType(config.TypeNode) {
			if v, ok := f.Get(sec.Name, "socket"); ok && v != "" {
				return v
			}
		}
	}
	return api.DefaultSocket
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positionals. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at "--" and drops it: everything after is positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// run is the whole CLI; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	g := &globals{socket: defaultSocket()}
	fs := newFlagSet("nuvol", stderr)
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "nuvol: %v\n\n%s", err, usage)
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	switch name {
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "version":
		if g.json {
			fmt.Fprintf(stdout, "{\"version\":%q}\n", version)
		} else {
			fmt.Fprintf(stdout, "nuvol %s\n", version)
		}
		return exitOK
	case "daemon":
		return runDaemon(rest, stderr)
	}
	v, ok := verbs[name]
	if !ok {
		fmt.Fprintf(stderr, "nuvol: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	callArgs := map[string]any{}
	vfs := newFlagSet("nuvol "+name, stderr)
	g.register(vfs)
	if v.flags != nil {
		v.flags(vfs, callArgs)
	}
	pos, err := parseInterleaved(vfs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "nuvol %s: %v (see `nuvol help`)\n", name, err)
		return exitUsage
	}
	required := 0
	for _, p := range v.pos {
		if !strings.HasSuffix(p, "?") {
			required++
		}
	}
	if len(pos) < required || len(pos) > len(v.pos) {
		fmt.Fprintf(stderr, "nuvol %s: want %s, got %d argument(s) (see `nuvol help`)\n", name, argNames(v.pos), len(pos))
		return exitUsage
	}
	for i, p := range pos {
		callArgs[strings.TrimSuffix(v.pos[i], "?")] = p
	}

	timeout := g.timeout
	if timeout == 0 {
		timeout = 30 * time.Second
		if m, ok := api.New(api.Backend{}).Lookup(v.method); ok && m.Changes {
			timeout = 10 * time.Minute
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := api.Dial(g.socket)
	if err != nil {
		fmt.Fprintf(stderr, "nuvol: %v\n", err)
		return exitFail
	}
	defer c.Close()
	res, err := c.Call(ctx, v.method, callArgs)
	if err != nil {
		fmt.Fprintf(stderr, "nuvol %s: %s\n", name, explain(err))
		return exitFail
	}
	if g.json {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	v.print(stdout, res)
	return exitOK
}

func argNames(pos []string) string {
	var s []string
	for _, p := range pos {
		if strings.HasSuffix(p, "?") {
			s = append(s, "["+strings.ToUpper(strings.TrimSuffix(p, "?"))+"]")
		} else {
			s = append(s, strings.ToUpper(p))
		}
	}
	if len(s) == 0 {
		return "no arguments"
	}
	return strings.Join(s, " ")
}

// explain words a daemon error for a person: the message, and what to do
// when the status alone suggests it.
func explain(err error) string {
	var e *api.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	switch e.Code {
	case api.StatusTimeout:
		return e.Message + " (the daemon may still be working: check `nuvol ls`, or use --timeout)"
	case api.StatusPermissionDenied:
		return e.Message + " (run as root)"
	case api.StatusMethodNotFound:
		return e.Message + " (is the daemon older than this nuvol? see `nuvol status`)"
	case api.StatusInvalidArgument:
		if strings.Contains(e.Message, "in use") && !strings.Contains(e.Message, "--port") {
			return e.Message + " (choose another with --port)"
		}
	}
	return e.Message
}

// Printing for people. Text that came from other nodes (descriptions, host
// names) is shown with control characters escaped, so a peer cannot send
// terminal escape sequences.

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return clean(x)
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case json.Number:
		return x.String()
	}
	return clean(fmt.Sprint(v))
}

func clean(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

func num(v any) int64 {
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Int64()
		return n
	case float64:
		return int64(x)
	case int:
		return int64(x)
	case int64:
		return x
	}
	return 0
}

func items(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func mib(bytes int64) string {
	if bytes <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fM", float64(bytes)/(1<<20))
}

func printStatus(w io.Writer, r map[string]any) {
	apps, _ := r["apps"].(map[string]any)
	fmt.Fprintf(w, "node:     %s (cloud %s)\n", str(r["node"]), str(r["cloud"]))
	fmt.Fprintf(w, "version:  %s\n", str(r["version"]))
	fmt.Fprintf(w, "enabled:  %s\n", str(r["enabled"]))
	fmt.Fprintf(w, "apps:     %d installed, %d running, %d published\n", num(apps["installed"]), num(apps["running"]), num(apps["published"]))
	fmt.Fprintf(w, "members:  %d alive\n", num(r["members"]))
	if e := str(r["federation_error"]); e != "" {
		fmt.Fprintf(w, "federation: not running: %s\n", e)
	}
	if e := str(r["config_error"]); e != "" {
		fmt.Fprintf(w, "config:   REFUSED, the last good one stays in force: %s\n", e)
	}
	printNotFitted(w, r["not_fitted"])
}

func printNotFitted(w io.Writer, v any) {
	nf := items(v)
	if len(nf) == 0 {
		return
	}
	var s []string
	for _, n := range nf {
		s = append(s, fmt.Sprintf("%s (%s, port %d)", str(n["name"]), str(n["type"]), num(n["port"])))
	}
	fmt.Fprintf(w, "not published, the services tag is full: %s\n", strings.Join(s, ", "))
}

func printCatalog(w io.Writer, r map[string]any) {
	var rows [][]string
	for _, a := range items(r["apps"]) {
		inst := ""
		if a["installed"] == true {
			inst = "installed"
		}
		rows = append(rows, []string{str(a["id"]), str(a["version"]), str(a["port"]), str(a["memory"]) + "M", inst, str(a["description"])})
	}
	table(w, []string{"APP", "VERSION", "PORT", "MEMORY", "", "DESCRIPTION"}, rows)
}

func printList(w io.Writer, r map[string]any) {
	apps := items(r["apps"])
	if len(apps) == 0 {
		fmt.Fprintln(w, "no apps installed (see `nuvol catalog`, then `nuvol install APP`)")
		return
	}
	var rows [][]string
	for _, a := range apps {
		pub := "-"
		switch {
		case a["published"] == true:
			pub = "yes"
		case a["publish"] == true:
			pub = "pending"
		}
		open := "-"
		if a["state"] == "running" && str(a["address"]) != "" {
			open = fmt.Sprintf("http://%s:%d/", str(a["address"]), num(a["port"]))
		}
		enabled := ""
		if a["enabled"] == false {
			enabled = " (disabled)"
		}
		app := str(a["app"])
		if a["orphan"] == true {
			app = "(no config)"
		}
		rows = append(rows, []string{str(a["name"]), app, str(a["state"]) + enabled, str(a["port"]),
			fmt.Sprintf("%s/%dM", mib(num(a["memory_used"])), num(a["memory"])), pub, open})
	}
	table(w, []string{"NAME", "APP", "STATE", "PORT", "MEMORY", "PUBLISHED", "OPEN"}, rows)
	for _, a := range apps {
		if a["orphan"] == true {
			fmt.Fprintf(w, "%s: a container with no app section in the config (`nuvol remove %s` deletes it)\n", str(a["name"]), str(a["name"]))
		}
		if e := str(a["error"]); e != "" {
			fmt.Fprintf(w, "%s: %s (see `nuvol logs %s`)\n", str(a["name"]), e, str(a["name"]))
		}
	}
}

func printState(w io.Writer, r map[string]any) {
	if p := num(r["port"]); p != 0 {
		fmt.Fprintf(w, "%s: %s, port %d\n", str(r["name"]), str(r["state"]), p)
		return
	}
	fmt.Fprintf(w, "%s: %s\n", str(r["name"]), str(r["state"]))
}

func printSearch(w io.Writer, r map[string]any) {
	svcs := items(r["services"])
	if len(svcs) == 0 {
		fmt.Fprintln(w, "no services found")
		return
	}
	// Grouped by type, as Cloudy's search page shows them.
	sort.SliceStable(svcs, func(i, j int) bool { return str(svcs[i]["type"]) < str(svcs[j]["type"]) })
	var rows [][]string
	for _, s := range svcs {
		// Cloudy writes spaces in descriptions as "_".
		desc := strings.ReplaceAll(str(s["description"]), "_", " ")
		rows = append(rows, []string{str(s["type"]), desc, str(s["host"]),
			fmt.Sprintf("%s:%d", str(s["address"]), num(s["port"])), str(s["node"]), str(s["software"])})
	}
	table(w, []string{"TYPE", "DESCRIPTION", "HOST", "ADDRESS", "NODE", "SOFTWARE"}, rows)
}

func printNodes(w io.Writer, r map[string]any) {
	var rows [][]string
	for _, m := range items(r["members"]) {
		rows = append(rows, []string{str(m["name"]), fmt.Sprintf("%s:%d", str(m["address"]), num(m["port"])),
			str(m["status"]), str(m["software"]), str(m["services"])})
	}
	table(w, []string{"NODE", "ADDRESS", "STATUS", "SOFTWARE", "SERVICES"}, rows)
	printNotFitted(w, r["not_fitted"])
}

func printLogs(w io.Writer, r map[string]any) {
	l, _ := r["lines"].([]any)
	for _, x := range l {
		fmt.Fprintln(w, str(x))
	}
}
