// pulumi-language-nodejs and pulumi-language-python for the Longshore proving ground (one binary; the Python
// host is the same file installed under that name, see runtimeName).
//
// Why this is hand-written: Pulumi's own Node.js language host lives in the untagged Go module
// github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3, and the Go module proxy reachable here
// serves none of its pseudo-versions (every lookup answers 403 "not available"), while GitHub release
// downloads and get.pulumi.com are blocked. The language host is a thin process launcher, so this file
// implements the part of the LanguageRuntime gRPC service that `pulumi preview|up|destroy|refresh` of a
// TypeScript/JavaScript program needs, on top of Pulumi's published Go SDK (sdk/v3, from the proxy):
//   - Handshake / engine address argument, GetPluginInfo, About
//   - Run: starts `node <@pulumi/pulumi>/cmd/run` (the real Node.js SDK entry point, resolved from the program's
//     node_modules) with the same arguments and PULUMI_CONFIG* environment the upstream host uses, talking to
//     the engine's resource monitor directly.
//   - GetRequiredPlugins/GetRequiredPackages: none. Providers are ambient plugins on PATH (proving-ground/env.sh),
//     and the engine loads a default provider on first use.
//   - RunPlugin, kind "analyzer" (as pulumi-language-nodejs): how `pulumi preview|up --policy-pack DIR` starts a
//     Node.js CrossGuard pack whose PulumiPolicy.yaml says `runtime: nodejs` (the engine asks the language host
//     once it finds one; the old `pulumi-analyzer-policy` shim is not used). Runs
//     `node <@pulumi/pulumi>/cmd/run-policy-pack <engine address> <pack dir>` with the pack directory as working
//     directory (packs resolve @pulumi/policy from there), streams the child's stdout/stderr back (the engine reads
//     the pack's port from the first stdout line), sends its exit code, and kills it when the engine cancels the
//     stream. Stack config reaches the pack through the Analyzer's ConfigureStack call, which the engine makes
//     itself (upstream also proxies it into PULUMI_CONFIG env; not done here).
//
// As pulumi-language-python, Run starts `python -u pulumi-language-python-exec` (our own short script next to
// this binary, on the `pulumi` PyPI package's runtime API) with the program's virtualenv when Pulumi.yaml names
// one (runtime option `virtualenv`), else python3 on PATH.
//   - RunPlugin, kind "resource" (Node.js): a component provider from source, the way `pulumi package add DIR`
//     and the engine start a directory whose PulumiPlugin.yaml says `runtime: nodejs` (this repository's
//     provider/): `node <@pulumi/pulumi>/cmd/run-plugin <dir> <engine args>`.
//   - install.go: InstallDependencies (Python: virtualenv + pip install -r requirements.txt; Node.js: npm install
//     unless @pulumi/pulumi already resolves), GeneratePackage (Python SDKs, through Pulumi's own generator in
//     longshore-codegen-python) and Link (Python: the SDK path into requirements.txt) — what
//     `pulumi package add` needs to give a Python program a generated SDK.
// Not implemented (answer Unimplemented): Node.js SDK generation (TypeScript programs import the library
// itself), RunPlugin for other kinds and for Python plugins, debugger attach, synchronous invokes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Version is set with -ldflags "-X main.Version=...".
var Version = "3.0.0-longshore"

// Exit code by which @pulumi/pulumi's run script says "the user already got an actionable message".
const exitAfterUserMessage = 32

// runtimeName is "python" when this binary runs as pulumi-language-python, else "nodejs".
func runtimeName() string {
	if strings.Contains(filepath.Base(os.Args[0]), "python") {
		return "python"
	}
	return "nodejs"
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	mu            sync.Mutex
	engineAddress string
	tracing       string
	cancel        context.CancelFunc
	cancelCtx     context.Context
}

func main() {
	tracing := flag.String("tracing", "", "tracing endpoint (passed through to the program)")
	flag.String("runtime", "nodejs", "only nodejs is supported")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(Version)
		return
	}
	h := &host{tracing: *tracing}
	h.cancelCtx, h.cancel = context.WithCancel(context.Background())
	if args := flag.Args(); len(args) > 0 {
		h.engineAddress = args[0]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cancel := make(chan bool)
	go func() { <-ctx.Done(); close(cancel) }()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "could not start language host RPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from our first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "language host RPC stopped serving: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) GetProgramDependencies(context.Context, *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *host) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	name := "node"
	if runtimeName() == "python" {
		name = "python3"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("could not find %s on the $PATH: %w", name, err)
	}
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", name, err)
	}
	v := strings.TrimSpace(string(out))
	v = strings.TrimPrefix(strings.TrimPrefix(v, "Python "), "v")
	return &pulumirpc.AboutResponse{Executable: bin, Version: v}, nil
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancel()
	return &emptypb.Empty{}, nil
}

// resolveRun finds @pulumi/pulumi's cmd/run from the program directory, the way Node.js itself resolves it.
func resolveRun(ctx context.Context, node, programDir string) (string, error) {
	cmd := exec.CommandContext(ctx, node, "-e", "process.stdout.write(require.resolve('@pulumi/pulumi/cmd/run'))")
	cmd.Dir = programDir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("could not resolve @pulumi/pulumi/cmd/run from %s (is @pulumi/pulumi installed? run npm install): %w", programDir, err)
	}
	return string(out), nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if runtimeName() == "python" {
		return h.runPython(ctx, req)
	}
	info := req.GetInfo()
	if info == nil {
		return nil, errors.New("RunRequest without program info")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return &pulumirpc.RunResponse{Error: "could not find node on the $PATH: " + err.Error()}, nil
	}
	runPath, err := resolveRun(ctx, node, info.GetProgramDirectory())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	args := []string{}
	opts := info.GetOptions().AsMap()
	if s, ok := opts["nodeargs"].(string); ok && s != "" {
		args = append(args, strings.Fields(s)...)
	}
	args = append(args, runPath)
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", engine)
	add("organization", req.GetOrganization())
	add("project", req.GetProject())
	add("root-directory", info.GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", info.GetProgramDirectory())
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", h.tracing)
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	cfgEnv, err := configEnv(req, true)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	env := append(os.Environ(), cfgEnv...)
	typescript := true
	if b, ok := opts["typescript"].(bool); ok {
		typescript = b
	}
	if typescript {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if s, ok := opts["tsconfig"].(string); ok && s != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+s)
	}

	return h.runProgram(ctx, node, args, info.GetProgramDirectory(), env), nil
}

// configEnv: the stack config for the SDK. The Node.js SDK gets keys in the "<namespace>:config:<name>" form every
// version of it accepts; the Python SDK reads the engine's "<namespace>:<name>" keys as they are.
func configEnv(req *pulumirpc.RunRequest, legacyKeys bool) ([]string, error) {
	cfg := map[string]string{}
	for k, v := range req.GetConfig() {
		if !legacyKeys {
			cfg[k] = v
			continue
		}
		pk, err := config.ParseKey(k)
		if err != nil {
			return nil, err
		}
		cfg[pk.Namespace()+":config:"+pk.Name()] = v
	}
	cfgJSON, _ := json.Marshal(cfg)
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, _ := json.Marshal(secretKeys)
	return []string{"PULUMI_CONFIG=" + string(cfgJSON), "PULUMI_CONFIG_SECRET_KEYS=" + string(secretJSON)}, nil
}

// runProgram runs the language process to completion and maps its exit to a RunResponse.
func (h *host) runProgram(ctx context.Context, bin string, args []string, dir string, env []string) *pulumirpc.RunResponse {
	cmdCtx, cmdCancel := context.WithCancel(h.cancelCtx)
	defer cmdCancel()
	context.AfterFunc(ctx, cmdCancel)
	cmd := exec.CommandContext(cmdCtx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.Dir = dir
	cmd.Env = env
	// Wrapped so os/exec copies through a pipe: Node.js may flip its stdio to non-blocking mode.
	cmd.Stdout = struct{ *os.File }{os.Stdout}
	cmd.Stderr = struct{ *os.File }{os.Stderr}
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == exitAfterUserMessage {
				return &pulumirpc.RunResponse{Bail: true}
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode())}
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run %s): %v", bin, err)}
	}
	return &pulumirpc.RunResponse{}
}

// runPython runs a Python program through pulumi-language-python-exec (installed next to this binary).
func (h *host) runPython(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	if info == nil {
		return nil, errors.New("RunRequest without program info")
	}
	here, err := selfDir()
	if err != nil {
		return nil, err
	}
	execScript := filepath.Join(here, "pulumi-language-python-exec")
	env := os.Environ()
	python, venv, err := pythonFor(info)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if venv != "" {
		if _, err := os.Stat(python); err != nil {
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("virtualenv %s has no bin/python (create it and pip install -r requirements.txt, or run pulumi install)", venv)}, nil
		}
		env = append(env, "VIRTUAL_ENV="+venv, "PATH="+filepath.Join(venv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	cfgEnv, err := configEnv(req, false)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	env = append(env, cfgEnv...)
	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()
	args := []string{"-u", execScript,
		"--monitor", req.GetMonitorAddress(), "--engine", engine,
		"--project", req.GetProject(), "--stack", req.GetStack(),
		"--pwd", info.GetProgramDirectory(), "--root_directory", info.GetRootDirectory(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()), "--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization()}
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args = append(args, entry)
	args = append(args, req.GetArgs()...)
	return h.runProgram(ctx, python, args, info.GetProgramDirectory(), env), nil
}

// RunPlugin runs a plugin program written in this host's language and streams its output to the engine. Only
// Node.js policy packs (kind "analyzer") are supported; see the header comment.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	kind := req.GetKind()
	if runtimeName() != "nodejs" || (kind != "analyzer" && kind != "resource") {
		return status.Errorf(codes.Unimplemented,
			"the Longshore proving-ground %s language host runs only Node.js policy packs (kind analyzer) and "+
				"Node.js component providers (kind resource), not kind %q", runtimeName(), kind)
	}
	// Policy packs: run-policy-pack <engine address> <pack dir>. Providers: run-plugin <plugin dir> <args>, where
	// run-plugin loads the directory's package.json main, and for exported ComponentResource classes serves them
	// with componentProviderHost (schema from Pulumi's TypeScript analysis); the args carry the engine address.
	entry := "@pulumi/pulumi/cmd/run-policy-pack"
	if kind == "resource" {
		entry = "@pulumi/pulumi/cmd/run-plugin"
	}
	ctx := server.Context()
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetPwd()
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	resolve := exec.CommandContext(ctx, node, "-e", "process.stdout.write(require.resolve('"+entry+"'))")
	resolve.Dir = dir
	out, err := resolve.Output()
	if err != nil {
		// The engine turns this wording into "try running npm install" for the user.
		return fmt.Errorf("could not resolve %s from the plugin %s "+
			"(its dependencies are not installed: run npm install): %w", entry, dir, err)
	}
	opts := req.GetInfo().GetOptions().AsMap()
	args := []string{}
	if s, ok := opts["nodeargs"].(string); ok && s != "" {
		args = append(args, strings.Fields(s)...)
	}
	args = append(args, string(out))
	if kind == "resource" {
		args = append(args, dir)
		args = append(args, req.GetArgs()...)
	} else {
		// run-policy-pack takes <engine address> <program dir>; the engine sends the address as the plugin args.
		args = append(args, req.GetArgs()...)
		args = append(args, dir)
	}

	env := req.GetEnv()
	if len(env) == 0 {
		env = os.Environ()
	}
	if b, ok := opts["typescript"].(bool); !ok || b {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if s, ok := opts["tsconfig"].(string); ok && s != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+s)
	}

	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = env
	// The plugin runs until the engine is done with it and cancels this stream: stop it then (SIGTERM, SIGKILL after 5s).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	// streamCmd (install.go) drains both pipes before Wait closes them, so no output is lost; a failed Send
	// means the engine went away, and the context cancel stops the child.
	err = streamCmd(cmd, func(stdout, stderr []byte) error {
		if stdout != nil {
			return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: stdout}})
		}
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: stderr}})
	})
	if ctx.Err() != nil {
		return nil // cancelled by the engine: it no longer reads the stream
	}
	code := 0
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("plugin %s: %w", dir, err)
		}
		code = exitErr.ExitCode()
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}
