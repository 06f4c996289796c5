// longshore-adapter makes any image a Longshore (RunPod-protocol) queue worker without rebuilding it.
//
//	longshore-adapter copy DEST        copy this binary to DEST (the init container, from a FROM-scratch image)
//	longshore-adapter run -- PROG ARGS run as the worker: one PROG process per job (kind "command"), or start
//	                                   PROG once as an HTTP server and forward each job to it (kind "http")
//	longshore-adapter version
//
// The spec (LONGSHORE_WORKER_SPEC, JSON) says how a job's input reaches the program and how its output comes
// back; the RUNPOD_* variables say where the gateway is. docs/bring-any-image.md has the whole story.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	os.Exit(cli(os.Args[1:], os.Getenv, os.Stderr))
}

func cli(args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: longshore-adapter run -- PROGRAM [ARGS...] | copy DEST | version")
		return 2
	}
	switch args[0] {
	case "version":
		fmt.Println(Version)
		return 0
	case "copy":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: longshore-adapter copy DEST")
			return 2
		}
		if err := copySelf(args[1]); err != nil {
			fmt.Fprintln(stderr, "longshore-adapter copy:", err)
			return 1
		}
		return 0
	case "run":
		rest := args[1:]
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		return run(rest, getenv, stderr)
	default:
		fmt.Fprintf(stderr, "longshore-adapter: unknown command %q (run, copy, version)\n", args[0])
		return 2
	}
}

func copySelf(dest string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp := dest + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}

func run(program []string, getenv func(string) string, stderr io.Writer) int {
	log := &Logger{out: stderr}
	spec, err := ParseSpec(getenv(SpecEnv))
	if err != nil {
		log.Error("", err.Error())
		return 2
	}
	env, err := EnvFrom(getenv)
	if err != nil {
		log.Error("", err.Error())
		return 2
	}
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	var runner Runner
	var server *exec.Cmd
	serverExited := make(chan error, 1)
	switch spec.Kind {
	case "command":
		jobsDir := getenv("LONGSHORE_JOBS_DIR")
		if jobsDir == "" {
			jobsDir = filepath.Join(os.TempDir(), "longshore-jobs")
		}
		r, err := NewCommandRunner(program, spec.Command, jobsDir, env.WorkerID, log)
		if err != nil {
			log.Error("", err.Error())
			return 2
		}
		runner = r
	case "http":
		h := NewHTTPRunner(spec.HTTP, env.WorkerID)
		if (spec.HTTP.Start == nil || *spec.HTTP.Start) && len(program) > 0 {
			server = exec.Command(program[0], program[1:]...)
			server.Stdout, server.Stderr = os.Stdout, os.Stderr
			server.Env = filterEnv(os.Environ())
			server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := server.Start(); err != nil {
				log.Error("", fmt.Sprintf("cannot start the server %q: %v", program[0], err))
				return 1
			}
			log.Info("", fmt.Sprintf("started the server %v (pid %d)", program, server.Process.Pid))
			go func() { serverExited <- server.Wait() }()
		}
		ctx, cancel := context.WithCancel(context.Background())
		healthy := make(chan error, 1)
		go func() { healthy <- h.WaitHealthy(ctx, log) }()
		select {
		case err := <-healthy:
			cancel()
			if err != nil {
				log.Error("", err.Error())
				stopServer(server, serverExited)
				return 1
			}
		case err := <-serverExited:
			cancel()
			log.Error("", fmt.Sprintf("the server exited before it was healthy: %v", err))
			return 1
		case s := <-signals:
			cancel()
			log.Info("", fmt.Sprintf("%s before the server was healthy: exiting", s))
			stopServer(server, serverExited)
			return 0
		}
		runner = h
	}

	w := NewWorker(env, runner, spec.Concurrency, log)
	var code atomic.Int32
	go func() {
		select {
		case s := <-signals:
			log.Info("", fmt.Sprintf("%s received: draining", s))
		case err := <-serverExited:
			log.Error("", fmt.Sprintf("the server exited (%v): draining, then exiting 1 so the pod restarts it", err))
			code.Store(1)
		}
		w.Drain()
	}()
	w.Run()
	if code.Load() == 0 {
		stopServer(server, serverExited)
	}
	return int(code.Load())
}

// stopServer: SIGTERM to the server's group, SIGKILL after 10 s.
func stopServer(server *exec.Cmd, exited chan error) {
	if server == nil || server.Process == nil {
		return
	}
	syscall.Kill(-server.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
	}
}
