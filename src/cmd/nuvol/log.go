package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
)

// Log levels. procd forwards the daemon's stderr to the system log, which
// adds the time, so a line is only "level: message".
const (
	levelDebug int32 = iota
	levelInfo
	levelWarn
	levelError
)

var levelNames = []string{"debug", "info", "warn", "error"}

func parseLevel(s string) (int32, bool) {
	for i, n := range levelNames {
		if strings.EqualFold(s, n) {
			return int32(i), true
		}
	}
	if strings.EqualFold(s, "warning") {
		return levelWarn, true
	}
	return levelInfo, false
}

type logger struct {
	mu    sync.Mutex
	out   io.Writer
	level atomic.Int32
}

func newLogger(out io.Writer) *logger {
	l := &logger{out: out}
	l.level.Store(levelInfo)
	return l
}

func (l *logger) setLevel(s string) {
	if lv, ok := parseLevel(s); ok {
		l.level.Store(lv)
	} else if s != "" {
		l.level.Store(levelInfo)
		l.logf(levelWarn, "log_level %q is not one of debug, info, warn, error: using info", s)
	}
}

func (l *logger) logf(level int32, format string, args ...any) {
	if level < l.level.Load() {
		return
	}
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.mu.Lock()
	fmt.Fprintf(l.out, "%s: %s\n", levelNames[level], msg)
	l.mu.Unlock()
}

func (l *logger) Debugf(format string, args ...any) { l.logf(levelDebug, format, args...) }
func (l *logger) Infof(format string, args ...any)  { l.logf(levelInfo, format, args...) }
func (l *logger) Warnf(format string, args ...any)  { l.logf(levelWarn, format, args...) }
func (l *logger) Errorf(format string, args ...any) { l.logf(levelError, format, args...) }

// Sub returns a Logf for another package: lines tagged the way Go's log
// package and serf/memberlist tag them ([DEBUG], [WARN], [ERR]) keep their
// level, others get def.
func (l *logger) Sub(prefix string, def int32) func(string, ...any) {
	return func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		level := def
		switch {
		case strings.Contains(msg, "[DEBUG]"):
			level = levelDebug
		case strings.Contains(msg, "[INFO]"):
			level = levelInfo
		case strings.Contains(msg, "[WARN]"):
			level = levelWarn
		case strings.Contains(msg, "[ERR"):
			level = levelError
		}
		l.logf(level, "%s%s", prefix, msg)
	}
}
