// Dependency installation, SDK generation and linking — what `pulumi package add`, `pulumi package gen-sdk` and
// `pulumi install` ask a language host for. See main.go for why this host is our own.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// selfDir is the directory of this binary (symlinks resolved): the Python exec script and the codegen program
// are installed beside it.
func selfDir() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	return filepath.Dir(self), nil
}

// pythonFor returns the interpreter for a program: <virtualenv>/bin/python when Pulumi.yaml names a virtualenv
// (runtime option `virtualenv`, relative to the project root), else python3 on PATH. venv is "" without one.
func pythonFor(info *pulumirpc.ProgramInfo) (python, venv string, err error) {
	if v, ok := info.GetOptions().AsMap()["virtualenv"].(string); ok && v != "" {
		if !filepath.IsAbs(v) {
			v = filepath.Join(info.GetRootDirectory(), v)
		}
		return filepath.Join(v, "bin", "python"), v, nil
	}
	for _, name := range []string{os.Getenv("PULUMI_PYTHON_CMD"), "python3", "python"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p, "", nil
		}
	}
	return "", "", fmt.Errorf("could not find python3 on the $PATH")
}

// streamCmd starts cmd and sends its stdout and stderr through send as they come (one of the two is nil per
// call; grpc-go forbids concurrent Send on one stream, so both copiers share one lock), then waits for it.
func streamCmd(cmd *exec.Cmd, send func(stdout, stderr []byte) error) error {
	var mu sync.Mutex
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not start %s: %w", cmd.Path, err)
	}
	var wg sync.WaitGroup
	pump := func(r io.Reader, isErr bool) {
		defer wg.Done()
		buf := make([]byte, 32*1024)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				b := append([]byte(nil), buf[:n]...)
				mu.Lock()
				if isErr {
					_ = send(nil, b)
				} else {
					_ = send(b, nil)
				}
				mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(stdout, false)
	go pump(stderr, true)
	wg.Wait()
	return cmd.Wait()
}

// InstallDependencies: Python — create the program's virtualenv if it names one and is missing, then
// `pip install -r requirements.txt`. Node.js — nothing when @pulumi/pulumi already resolves from the directory
// (a plugin directory inside a checkout whose node_modules is installed, like this repository's provider/),
// else `npm install`.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	ctx := server.Context()
	info := req.GetInfo()
	dir := info.GetProgramDirectory()
	if dir == "" {
		dir = req.GetDirectory() //nolint:staticcheck // older engines send only this
	}
	send := func(stdout, stderr []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: stdout, Stderr: stderr})
	}
	if runtimeName() == "nodejs" {
		node, err := exec.LookPath("node")
		if err != nil {
			return fmt.Errorf("could not find node on the $PATH: %w", err)
		}
		probe := exec.CommandContext(ctx, node, "-e", "require.resolve('@pulumi/pulumi')")
		probe.Dir = dir
		if probe.Run() == nil {
			return send([]byte("dependencies already installed (@pulumi/pulumi resolves from "+dir+")\n"), nil)
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			return fmt.Errorf("could not find npm on the $PATH: %w", err)
		}
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if err := streamCmd(cmd, send); err != nil {
			return fmt.Errorf("npm install in %s: %w", dir, err)
		}
		return nil
	}
	root := info.GetRootDirectory()
	if root == "" {
		root = dir
	}
	python, venv, err := pythonFor(info)
	if err != nil {
		return err
	}
	if venv != "" {
		if _, err := os.Stat(python); err != nil {
			base, err := exec.LookPath("python3")
			if err != nil {
				return fmt.Errorf("could not find python3 on the $PATH to create %s: %w", venv, err)
			}
			mk := exec.CommandContext(ctx, base, "-m", "venv", venv)
			if err := streamCmd(mk, send); err != nil {
				return fmt.Errorf("creating the virtualenv %s: %w", venv, err)
			}
		}
	}
	reqs := filepath.Join(root, "requirements.txt")
	if _, err := os.Stat(reqs); err != nil {
		return send([]byte("no requirements.txt in "+root+": nothing to install\n"), nil)
	}
	cmd := exec.CommandContext(ctx, python, "-m", "pip", "install", "-r", "requirements.txt")
	cmd.Dir = root
	if err := streamCmd(cmd, send); err != nil {
		return fmt.Errorf("pip install -r %s: %w", reqs, err)
	}
	return nil
}

// GeneratePackage (Python): runs longshore-codegen-python, Pulumi's own Python SDK generator built beside this
// binary (proving-ground/pulumi/codegen-python/main.go says why it is a separate program).
func (h *host) GeneratePackage(ctx context.Context, req *pulumirpc.GeneratePackageRequest) (*pulumirpc.GeneratePackageResponse, error) {
	if runtimeName() != "python" {
		return nil, status.Errorf(codes.Unimplemented,
			"the Longshore proving-ground %s language host generates only Python SDKs", runtimeName())
	}
	here, err := selfDir()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]any{
		"directory": req.GetDirectory(), "schema": req.GetSchema(), "loaderTarget": req.GetLoaderTarget(),
		"local": req.GetLocal(), "extraFiles": req.GetExtraFiles(),
	})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(here, "longshore-codegen-python"))
	cmd.Stdin = bytes.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("generating the Python SDK: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return &pulumirpc.GeneratePackageResponse{}, nil
}

// Link (Python): records each generated SDK directory in the program's requirements.txt (a local path pip
// installs from, relative to the project root), as `pulumi package add` expects, and says how to import it.
func (h *host) Link(_ context.Context, req *pulumirpc.LinkRequest) (*pulumirpc.LinkResponse, error) {
	if runtimeName() != "python" {
		return nil, status.Errorf(codes.Unimplemented,
			"the Longshore proving-ground %s language host links only Python SDKs", runtimeName())
	}
	root := req.GetInfo().GetRootDirectory()
	path := filepath.Join(root, "requirements.txt")
	existing, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	text := string(existing)
	have := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		have[strings.TrimSpace(l)] = true
	}
	var instructions []string
	for _, dep := range req.GetPackages() {
		entry := filepath.ToSlash(dep.GetPath())
		if !strings.HasPrefix(entry, ".") && !strings.HasPrefix(entry, "/") {
			entry = "./" + entry // pip reads a bare name as a PyPI project
		}
		if !have[entry] {
			if text != "" && !strings.HasSuffix(text, "\n") {
				text += "\n"
			}
			text += entry + "\n"
			have[entry] = true
		}
		name := strings.ReplaceAll(dep.GetPackage().GetName(), "-", "_")
		instructions = append(instructions, fmt.Sprintf("import pulumi_%s as %s", name, name))
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return &pulumirpc.LinkResponse{ImportInstructions: strings.Join(instructions, "\n")}, nil
}
