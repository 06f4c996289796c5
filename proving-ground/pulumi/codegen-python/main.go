// longshore-codegen-python: Python SDK generation for the proving ground's pulumi-language-python
// (proving-ground/pulumi/language-host/main.go, GeneratePackage).
//
// Why a separate program: SDK generation is Pulumi's own Python code generator, which lives in
// github.com/pulumi/pulumi/pkg/v3/codegen/python (served by the Go module proxy at the CLI's tag). The language
// host is kept on the small sdk/v3 module; this program is built in the CLI's wrapper module instead, whose
// dependency graph (and Go build cache) already holds pkg/v3. The host runs it once per GeneratePackage call.
//
// Input: one JSON object on stdin, the fields of pulumirpc.GeneratePackageRequest:
//   {"directory": DIR, "schema": "<package schema JSON>", "loaderTarget": ADDR, "local": bool, "extraFiles": {path: base64}}
// It binds the schema (loading referenced packages, e.g. kubernetes, through the engine's schema loader at
// loaderTarget), runs the generator and writes the files under DIR. Errors and binding diagnostics go to stderr
// with exit code 1.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

type request struct {
	Directory    string            `json:"directory"`
	Schema       string            `json:"schema"`
	LoaderTarget string            `json:"loaderTarget"`
	Local        bool              `json:"local"`
	ExtraFiles   map[string][]byte `json:"extraFiles"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	if req.Directory == "" || req.Schema == "" || req.LoaderTarget == "" {
		return fmt.Errorf("request needs directory, schema and loaderTarget")
	}
	client, err := schema.NewLoaderClient(req.LoaderTarget)
	if err != nil {
		return fmt.Errorf("connecting to the schema loader %s: %w", req.LoaderTarget, err)
	}
	defer client.Close()
	loader := schema.NewCachedLoader(client)

	var spec schema.PackageSpec
	if err := json.Unmarshal([]byte(req.Schema), &spec); err != nil {
		return fmt.Errorf("parsing the package schema: %w", err)
	}
	pkg, diags, err := schema.BindSpec(spec, loader, schema.ValidationOptions{AllowDanglingReferences: true})
	if err != nil {
		return fmt.Errorf("binding the schema of %s: %w", spec.Name, err)
	}
	if diags.HasErrors() {
		return fmt.Errorf("the schema of %s has errors: %s", spec.Name, diags.Error())
	}
	files, err := python.GeneratePackage("pulumi-language-python", pkg, req.ExtraFiles, loader)
	if err != nil {
		return fmt.Errorf("generating the Python SDK of %s: %w", spec.Name, err)
	}
	for name, data := range files {
		path := filepath.Join(req.Directory, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
