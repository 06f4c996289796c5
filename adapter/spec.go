package main

// The worker spec: how a job reaches the program and how its result comes back. ServerlessEndpoint writes it
// as JSON into LONGSHORE_WORKER_SPEC (components/commandWorker.ts builds it; docs/bring-any-image.md documents
// every field). It is validated here again at start, so a hand-written spec fails fast with the field named.

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// SpecEnv is the environment variable the spec is read from.
const SpecEnv = "LONGSHORE_WORKER_SPEC"

type Spec struct {
	// "command" (one process per job) or "http" (forward each job to a server in the pod). Default: "http"
	// when only http is given, else "command".
	Kind        string       `json:"kind"`
	Command     *CommandSpec `json:"command,omitempty"`
	HTTP        *HTTPSpec    `json:"http,omitempty"`
	Concurrency int          `json:"concurrency,omitempty"`
}

type CommandSpec struct {
	// Templates appended to the program's argv for each job ("--prompt", "{input.prompt}").
	Args []string `json:"args,omitempty"`
	// "input" (the job input as JSON, the default) or "none".
	Stdin      string      `json:"stdin,omitempty"`
	InputFiles []InputFile `json:"inputFiles,omitempty"`
	Output     OutputSpec  `json:"output"`
	// Each stdout line is streamed as a chunk (JSON when it parses); the final output is the list of chunks.
	Stream bool `json:"stream,omitempty"`
	// Seconds between SIGTERM and SIGKILL when a job is cancelled or times out. Default 10.
	KillGraceSeconds int `json:"killGraceSeconds,omitempty"`
}

type InputFile struct {
	// Input field holding base64 (or a data: URL) or an http(s) URL.
	Field string `json:"field"`
	// File name in the job's input dir. Default: the field name.
	Name string `json:"name,omitempty"`
}

type OutputSpec struct {
	// "stdout" (default) or "files" (what the program writes to Dir).
	From string `json:"from,omitempty"`
	// Output dir, relative to the job dir. Default "out".
	Dir string `json:"dir,omitempty"`
	// Files up to this total size come back inline (base64); larger need the job's s3Config. Default 1 MiB.
	InlineLimitBytes int64 `json:"inlineLimitBytes,omitempty"`
	// stdout beyond this fails the job with OutputTooLarge (it is drained, never buffered). Default 16 MiB.
	StdoutLimitBytes int64 `json:"stdoutLimitBytes,omitempty"`
}

type HTTPSpec struct {
	Port int `json:"port"`
	// Path jobs are POSTed to. Default "/".
	Path string `json:"path,omitempty"`
	// Health check path (GET, 2xx = ready) waited for before the first job. Default "/health".
	HealthPath string `json:"healthPath,omitempty"`
	// Seconds to wait for the health check. Default 600.
	HealthTimeoutSeconds int `json:"healthTimeoutSeconds,omitempty"`
	// Start the program given after "--" as the server (default); false: the server is already running in the pod.
	Start *bool `json:"start,omitempty"`
}

var fieldRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// ParseSpec reads and validates a spec; an empty string is the default command spec.
func ParseSpec(raw string) (*Spec, error) {
	s := &Spec{}
	if strings.TrimSpace(raw) != "" {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(s); err != nil {
			return nil, fmt.Errorf("%s is not a valid worker spec: %v", SpecEnv, err)
		}
	}
	if s.Kind == "" {
		// the endpoint declaration's shape ({"command": …} or {"http": …}) says the kind
		s.Kind = "command"
		if s.HTTP != nil && s.Command == nil {
			s.Kind = "http"
		}
	}
	if s.Concurrency == 0 {
		s.Concurrency = 1
	}
	if s.Concurrency < 1 || s.Concurrency > 64 {
		return nil, fmt.Errorf("concurrency: must be 1..64, got %d", s.Concurrency)
	}
	switch s.Kind {
	case "command":
		if s.HTTP != nil {
			return nil, fmt.Errorf("http: only with kind \"http\"")
		}
		if s.Command == nil {
			s.Command = &CommandSpec{}
		}
		return s, s.Command.validate()
	case "http":
		if s.Command != nil {
			return nil, fmt.Errorf("command: only with kind \"command\"")
		}
		if s.HTTP == nil {
			return nil, fmt.Errorf("http: required with kind \"http\" (at least the port)")
		}
		return s, s.HTTP.validate()
	default:
		return nil, fmt.Errorf("kind: must be \"command\" or \"http\", got %q", s.Kind)
	}
}

func (c *CommandSpec) validate() error {
	for i, a := range c.Args {
		if _, err := ParseTemplate(a); err != nil {
			return fmt.Errorf("command.args[%d]: %v", i, err)
		}
	}
	if c.Stdin == "" {
		c.Stdin = "input"
	}
	if c.Stdin != "input" && c.Stdin != "none" {
		return fmt.Errorf("command.stdin: must be \"input\" or \"none\", got %q", c.Stdin)
	}
	names := map[string]bool{}
	for i := range c.InputFiles {
		f := &c.InputFiles[i]
		if !fieldRe.MatchString(f.Field) {
			return fmt.Errorf("command.inputFiles[%d].field: must be a top-level input field name, got %q", i, f.Field)
		}
		if f.Name == "" {
			f.Name = f.Field
		}
		if err := SafeName(f.Name); err != nil {
			return fmt.Errorf("command.inputFiles[%d].name: %v", i, err)
		}
		if names[f.Name] {
			return fmt.Errorf("command.inputFiles[%d].name: %q is given twice", i, f.Name)
		}
		names[f.Name] = true
	}
	o := &c.Output
	if o.From == "" {
		o.From = "stdout"
	}
	if o.From != "stdout" && o.From != "files" {
		return fmt.Errorf("command.output.from: must be \"stdout\" or \"files\", got %q", o.From)
	}
	if o.Dir == "" {
		o.Dir = "out"
	}
	if err := InsideJobDir(o.Dir); err != nil {
		return fmt.Errorf("command.output.dir: %v", err)
	}
	if o.InlineLimitBytes == 0 {
		o.InlineLimitBytes = 1 << 20
	}
	if o.StdoutLimitBytes == 0 {
		o.StdoutLimitBytes = 16 << 20
	}
	if o.InlineLimitBytes < 0 || o.StdoutLimitBytes < 0 {
		return fmt.Errorf("command.output: limits must be positive")
	}
	if c.KillGraceSeconds == 0 {
		c.KillGraceSeconds = 10
	}
	if c.KillGraceSeconds < 0 {
		return fmt.Errorf("command.killGraceSeconds: must be positive")
	}
	return nil
}

func (h *HTTPSpec) validate() error {
	if h.Port < 1 || h.Port > 65535 {
		return fmt.Errorf("http.port: must be 1..65535, got %d", h.Port)
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.HealthPath == "" {
		h.HealthPath = "/health"
	}
	for name, p := range map[string]string{"http.path": h.Path, "http.healthPath": h.HealthPath} {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("%s: must start with /, got %q", name, p)
		}
	}
	if h.HealthTimeoutSeconds == 0 {
		h.HealthTimeoutSeconds = 600
	}
	return nil
}

// SafeName accepts a plain file name (no directories, not "." or "..").
func SafeName(n string) error {
	if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\\\x00") {
		return fmt.Errorf("must be a plain file name (no /), got %q", n)
	}
	return nil
}

// InsideJobDir accepts a relative path that stays inside the job dir.
func InsideJobDir(p string) error {
	if path.IsAbs(p) {
		return fmt.Errorf("must be relative to the job dir, got %q", p)
	}
	c := path.Clean(p)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("must be a directory inside the job dir, got %q", p)
	}
	return nil
}
