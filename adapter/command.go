package main

// The command runner: one process per job. The program is the image's own entrypoint (given after "--"), its
// per-job arguments come from the templates; the input JSON goes to stdin; input files are written into the
// job dir; the output is stdout (JSON when it parses, else text) or the files written to the output dir.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// ProgressPrefix: a stderr line starting with it is posted as a progress update (the rest, JSON or text).
const ProgressPrefix = "LONGSHORE_PROGRESS "

// StderrTail is how much of the end of stderr a failed job reports.
const StderrTail = 4096

type CommandRunner struct {
	Program  []string // argv before the templated arguments
	Spec     *CommandSpec
	JobsDir  string
	WorkerID string
	Log      *Logger
	// Stderr receives the program's stderr too (the pod log); nil: os.Stderr.
	Stderr io.Writer

	args []Template
}

func NewCommandRunner(program []string, spec *CommandSpec, jobsDir, workerID string, log *Logger) (*CommandRunner, error) {
	if len(program) == 0 {
		return nil, errors.New("no program: give the image's entrypoint after \"--\"")
	}
	r := &CommandRunner{Program: program, Spec: spec, JobsDir: jobsDir, WorkerID: workerID, Log: log}
	for i, a := range spec.Args {
		t, err := ParseTemplate(a)
		if err != nil {
			return nil, fmt.Errorf("command.args[%d]: %v", i, err)
		}
		r.args = append(r.args, t)
	}
	return r, nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

func (r *CommandRunner) fail(typ, msg, tb string, extra map[string]any) Result {
	return Result{Error: ErrorJSON(typ, msg, tb, r.WorkerID, extra)}
}

func (r *CommandRunner) Run(ctx context.Context, job *Job, h Hooks) (Result, bool) {
	var start, end time.Time
	res, isStream := r.run(ctx, job, h, &start, &end)
	res.ProcStart, res.ProcEnd = start, end
	return res, isStream
}

func (r *CommandRunner) run(ctx context.Context, job *Job, h Hooks, procStart, procEnd *time.Time) (Result, bool) {
	jobDir := filepath.Join(r.JobsDir, unsafeChars.ReplaceAllString(job.ID, "_"))
	outDir := filepath.Join(jobDir, r.Spec.Output.Dir)
	if err := os.MkdirAll(outDir, 0o777); err != nil {
		return r.fail("JobDirError", "cannot create the job dir: "+err.Error(), "", nil), false
	}
	os.Chmod(jobDir, 0o777)
	os.Chmod(outDir, 0o777)
	defer os.RemoveAll(jobDir)

	input, err := decodeInput(job.Input)
	if err != nil {
		return r.fail("InputError", err.Error(), "", nil), false
	}
	if len(r.Spec.InputFiles) > 0 {
		if input, err = materialise(ctx, input, r.Spec.InputFiles, filepath.Join(jobDir, "in")); err != nil {
			return r.fail("InputError", err.Error(), "", nil), false
		}
	}
	vars := Vars{JobID: job.ID, JobDir: jobDir, OutputDir: outDir}
	argv := append([]string{}, r.Program...)
	for _, t := range r.args {
		s, err := t.Render(input, vars)
		if err != nil {
			return r.fail("InputError", err.Error(), "", nil), false
		}
		argv = append(argv, s)
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	// its own process group: a cancel signals the program and everything it started, and the pod's SIGTERM
	// (sent to the adapter, PID 1) does not reach a job that should finish during the drain
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(filterEnv(os.Environ()), "LONGSHORE_JOB_ID="+job.ID, "LONGSHORE_JOB_DIR="+jobDir, "LONGSHORE_OUTPUT_DIR="+outDir)
	if r.Spec.Stdin == "input" {
		cmd.Stdin = bytes.NewReader(stdinBytes(input))
	}
	grace := time.Duration(r.Spec.KillGraceSeconds) * time.Second
	// Wait gives up on pipes still held open (by a grandchild) this long after the process exits
	cmd.WaitDelay = grace + 5*time.Second
	tail := &tailBuffer{max: StderrTail}
	pass := r.Stderr
	if pass == nil {
		pass = os.Stderr
	}
	errLines := &lineWriter{each: func(line string) {
		if strings.HasPrefix(line, ProgressPrefix) && h.Progress != nil {
			h.Progress(parseOutput(strings.TrimPrefix(line, ProgressPrefix)))
			return
		}
		tail.Write([]byte(line + "\n"))
		pass.Write([]byte(line + "\n"))
	}}
	cmd.Stderr = errLines
	out := &capped{max: r.Spec.Output.StdoutLimitBytes}
	var chunks []any
	var outLines *lineWriter
	if r.Spec.Stream {
		outLines = &lineWriter{each: func(line string) {
			out.Write([]byte(line + "\n"))
			if out.over || strings.TrimSpace(line) == "" {
				return
			}
			c := parseOutput(line)
			chunks = append(chunks, c)
			h.Stream(c)
		}}
		cmd.Stdout = outLines
	} else {
		cmd.Stdout = out
	}
	*procStart = time.Now()
	if err := cmd.Start(); err != nil {
		return r.fail("CommandNotStarted", fmt.Sprintf("cannot start %q: %v", argv[0], err), "", nil), false
	}

	// cancel / timeout: SIGTERM to the group, SIGKILL after the grace
	exited := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-time.After(grace):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			case <-exited:
			}
		case <-exited:
		}
	}()
	werr := cmd.Wait()
	*procEnd = time.Now()
	close(exited)
	errLines.Flush()
	if outLines != nil {
		outLines.Flush()
	}
	if ctx.Err() != nil {
		return Result{}, r.Spec.Stream // the worker decides what a cancel or timeout posts
	}

	if werr != nil {
		code := -1
		var ee *exec.ExitError
		msg := werr.Error()
		if errors.As(werr, &ee) {
			code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				msg = fmt.Sprintf("command was killed by signal %s", ws.Signal())
			} else {
				msg = fmt.Sprintf("command exited with code %d", code)
			}
		}
		t := tail.String()
		if last := lastLine(t); last != "" {
			msg += ": " + last
		}
		return r.fail("CommandFailed", msg, t, map[string]any{"exit_code": code, "stderr": t}), r.Spec.Stream
	}
	if out.over {
		return r.fail("OutputTooLarge", fmt.Sprintf("the command wrote more than %d bytes to stdout (output.stdoutLimitBytes): write large results to the output dir ({output.dir}) with output.from \"files\"", r.Spec.Output.StdoutLimitBytes), "", nil), r.Spec.Stream
	}
	if r.Spec.Stream {
		if chunks == nil {
			chunks = []any{}
		}
		return Result{Output: chunks}, true
	}
	if r.Spec.Output.From == "files" {
		return r.collectFiles(ctx, job, outDir), false
	}
	return Result{Output: parseOutput(out.buf.String())}, false
}

// filterEnv keeps the worker token away from the user's program (it needs none of the RUNPOD_WEBHOOK_* either).
func filterEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if strings.HasPrefix(e, "RUNPOD_AI_API_KEY=") || strings.HasPrefix(e, SpecEnv+"=") {
			continue
		}
		out = append(out, e)
	}
	return out
}

func decodeInput(raw json.RawMessage) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("job input is not JSON: %v", err)
	}
	return v, nil
}

func stdinBytes(input any) []byte {
	b, _ := json.Marshal(input)
	return append(b, '\n')
}

// parseOutput: JSON when the (trimmed) text parses, else the text without its trailing newline; empty → null.
func parseOutput(s string) any {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil && !dec.More() {
		if _, extra := dec.Token(); extra == io.EOF {
			return v
		}
	}
	return strings.TrimRight(s, "\r\n")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\r\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// lineWriter calls each for every complete line (without its newline); Flush hands over the last partial one.
// Lines longer than 1 MiB are cut there.
type lineWriter struct {
	buf  []byte
	each func(string)
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.buf = append(l.buf, p...)
			if len(l.buf) > 1<<20 {
				l.Flush()
			}
			break
		}
		l.buf = append(l.buf, p[:i]...)
		l.each(strings.TrimRight(string(l.buf), "\r"))
		l.buf = l.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (l *lineWriter) Flush() {
	if len(l.buf) > 0 {
		l.each(strings.TrimRight(string(l.buf), "\r"))
		l.buf = l.buf[:0]
	}
}

// capped keeps up to max bytes and then only counts (the pipe is drained, so the program never blocks).
type capped struct {
	buf  bytes.Buffer
	max  int64
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if !c.over {
		if int64(c.buf.Len()+len(p)) > c.max {
			c.over = true
			c.buf = bytes.Buffer{}
		} else {
			c.buf.Write(p)
		}
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.max {
		t.b = append([]byte{}, t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if len(t.b) > t.max {
		return string(t.b[len(t.b)-t.max:])
	}
	return string(t.b)
}
