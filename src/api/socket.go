package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// The control socket: a unix stream socket carrying newline-delimited JSON.
// Each line is one request; replies come back in order, one line each:
//
//	-> {"method":"install","args":{"app":"static-web","name":"web"}}
//	<- {"result":{...}}
//	<- {"error":{"code":4,"status":"NOT_FOUND","message":"no app \"x\""}}

// MaxLine bounds one request line; longer lines close the connection.
const MaxLine = 1 << 20

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/var/run/nuvol.sock"

// Request is one line from a client.
type Request struct {
	Method string          `json:"method"`
	Args   map[string]any  `json:"args,omitempty"`
	ID     json.RawMessage `json:"id,omitempty"` // echoed back when given
}

// Response is one line to a client.
type Response struct {
	Result map[string]any  `json:"result,omitempty"`
	Error  *WireError      `json:"error,omitempty"`
	ID     json.RawMessage `json:"id,omitempty"`
}

// WireError is an *Error as it travels on the control socket.
type WireError struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// Server serves a table on unix sockets.
type Server struct {
	Table *Table
	Logf  func(format string, args ...any)

	mu     sync.Mutex
	lns    []net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	done   bool
	ctx    context.Context // canceled by Close, so handlers stop waiting
	cancel context.CancelFunc
}

func (s *Server) init() {
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
}

// Listen creates the control socket at path with mode 0600. A stale socket
// left by a daemon that died is replaced; a socket a live daemon answers on
// is an error, so two daemons never fight over one path.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another nuvol daemon is serving it", path)
		}
		os.Remove(path)
	}
	// Bind under a temporary name and chmod before the rename, so the
	// socket is never reachable with the umask's looser mode.
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	os.Remove(tmp)
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &unlinkListener{Listener: ln, path: path}, nil
}

// unlinkListener removes the socket file on Close (the bound name was the
// temporary one, so net's own unlink would miss it).
type unlinkListener struct {
	net.Listener
	path string
	once sync.Once
}

func (l *unlinkListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { os.Remove(l.path) })
	return err
}

// Serve accepts clients on ln until Close. Each client is served in its own
// goroutine, so a slow install does not hold up another client's list.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.init()
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			done := s.done
			s.mu.Unlock()
			if done || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// EMFILE and friends: back off instead of spinning.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay < time.Second {
				delay *= 2
			}
			s.logf("control socket: accept: %v", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close stops accepting, closes every client and waits for their handlers.
func (s *Server) Close() error {
	s.mu.Lock()
	s.init()
	s.done = true
	s.cancel()
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	s.mu.Lock()
	ctx := s.ctx
	s.mu.Unlock()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	w := bufio.NewWriter(c)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		resp := s.handle(ctx, line)
		b, err := json.Marshal(resp)
		if err != nil {
			b, _ = json.Marshal(Response{ID: resp.ID, Error: wireError(Errorf(StatusUnknownError, "cannot encode reply: %v", err))})
		}
		w.Write(b)
		w.WriteByte('\n')
		if err := w.Flush(); err != nil {
			return
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, net.ErrClosed) {
		if errors.Is(err, bufio.ErrTooLong) {
			b, _ := json.Marshal(Response{Error: wireError(Errorf(StatusInvalidArgument, "request longer than %d bytes", MaxLine))})
			w.Write(append(b, '\n'))
			w.Flush()
		}
	}
}

func (s *Server) handle(ctx context.Context, line []byte) (resp Response) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return Response{Error: wireError(Errorf(StatusParseError, "bad request: %v (want {\"method\":...,\"args\":{...}})", err))}
	}
	resp.ID = req.ID
	if req.Method == "" {
		resp.Error = wireError(Errorf(StatusInvalidCommand, "bad request: no \"method\""))
		return resp
	}
	defer func() {
		// A handler bug must not take the daemon down with it.
		if r := recover(); r != nil {
			s.logf("control socket: %s panicked: %v", req.Method, r)
			resp.Result = nil
			resp.Error = wireError(Errorf(StatusUnknownError, "%s: internal error: %v", req.Method, r))
		}
	}()
	res, err := s.Table.Call(ctx, req.Method, req.Args)
	if err != nil {
		resp.Error = wireError(AsError(err))
		return resp
	}
	resp.Result = res
	return resp
}

func wireError(e *Error) *WireError {
	return &WireError{Code: int(e.Code), Status: e.Code.Name(), Message: e.Message}
}

// Client is a connection to a daemon's control socket. Calls on one Client
// are serialized; open several Clients for parallel calls.
type Client struct {
	path string
	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
}

// ErrUnreachable wraps failures to connect to the control socket.
var ErrUnreachable = errors.New("cannot reach the nuvol daemon")

// Dial connects to the control socket at path.
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, &DialError{Path: path, Err: err}
	}
	return &Client{path: path, conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// DialError says the daemon could not be reached, and why.
type DialError struct {
	Path string
	Err  error
}

func (e *DialError) Error() string {
	switch {
	case errors.Is(e.Err, syscall.EACCES) || errors.Is(e.Err, syscall.EPERM):
		return fmt.Sprintf("cannot reach the nuvol daemon at %s: permission denied (run as root)", e.Path)
	case errors.Is(e.Err, syscall.ENOENT) || errors.Is(e.Err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot reach the nuvol daemon at %s: is it running? (/etc/init.d/nuvol start, or --socket PATH)", e.Path)
	}
	return fmt.Sprintf("cannot reach the nuvol daemon at %s: %v", e.Path, e.Err)
}

func (e *DialError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Call runs one method. A failure the daemon reports is an *Error with its
// status; ctx's deadline bounds the whole round trip.
func (c *Client) Call(ctx context.Context, method string, args map[string]any) (map[string]any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := json.Marshal(Request{Method: method, Args: args})
	if err != nil {
		return nil, Errorf(StatusInvalidArgument, "%s: %v", method, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	} else {
		c.conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return nil, c.ioErr(ctx, method, err)
	}
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return nil, c.ioErr(ctx, method, err)
	}
	var resp Response
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&resp); err != nil {
		return nil, Errorf(StatusParseError, "%s: bad reply from the daemon: %v", method, err)
	}
	if resp.Error != nil {
		return nil, &Error{Code: Status(resp.Error.Code), Message: resp.Error.Message}
	}
	if resp.Result == nil {
		resp.Result = map[string]any{}
	}
	return resp.Result, nil
}

func (c *Client) ioErr(ctx context.Context, method string, err error) error {
	if ctx.Err() != nil {
		return Errorf(StatusTimeout, "%s: no answer from the nuvol daemon at %s: %v", method, c.path, ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Errorf(StatusTimeout, "%s: no answer from the nuvol daemon at %s in time", method, c.path)
	}
	return Errorf(StatusConnectionFailed, "%s: lost the connection to the nuvol daemon at %s: %v", method, c.path, err)
}
