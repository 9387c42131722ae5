package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveProcess is scimbridge run as a process of its own (the test
// binary re-executed as main, see TestMain), for the tests that signal
// or kill it.
type serveProcess struct {
	cmd    *exec.Cmd
	base   string
	stdout *syncBuffer
	stderr *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, once exited is closed
}

// startProcess starts `scimbridge ARGS…` with env added to a clean
// environment (this process's, without DATABASE_URL and SCIMBRIDGE_*),
// and waits until it serves. The process is killed when the test ends.
func startProcess(t *testing.T, env map[string]string, args ...string) *serveProcess {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(self, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "SCIMBRIDGE_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, "SCIMBRIDGE_TEST_MAIN=1")
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	// Gone with the test process, whatever happens to it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	deadline := time.After(60 * time.Second)
	for {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving" {
				p.base = "http://" + rec.Addr
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("scimbridge %s exited before serving: %v\n%s", strings.Join(args, " "), p.err, p.stderr.String())
		case <-deadline:
			t.Fatalf("scimbridge %s did not serve in time:\n%s", strings.Join(args, " "), p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// token returns what --init-org printed: the SCIM token, alone.
func (p *serveProcess) token(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.HasSuffix(p.stdout.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("--init-org printed no token:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return strings.TrimSpace(p.stdout.String())
}

// freeAddr is a loopback address with a port nothing listens on now, for
// a server that must come back on the same address after a restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
