// longshore-buildx-builder NAME ENDPOINT [DIR]
//
// Registers a buildx builder NAME with the `remote` driver at ENDPOINT (e.g. tcp://127.0.0.1:1234) in the
// buildx store DIR (default $BUILDX_CONFIG) and makes it the current builder everywhere: what
// `docker buildx create --name NAME --driver remote ENDPOINT --use --global` does. The docker-build provider
// reads that store (through the same buildx library) to pick its builder. Debian 12 has no buildx CLI plugin,
// so this uses the buildx store package directly instead of re-implementing its file format.
package main

import (
	"fmt"
	"os"

	"github.com/docker/buildx/store"
	"github.com/docker/buildx/util/confutil"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: longshore-buildx-builder NAME ENDPOINT [DIR]")
		os.Exit(2)
	}
	name, endpoint := os.Args[1], os.Args[2]
	dir := os.Getenv("BUILDX_CONFIG")
	if len(os.Args) > 3 {
		dir = os.Args[3]
	}
	if dir == "" {
		fmt.Fprintln(os.Stderr, "longshore-buildx-builder: set BUILDX_CONFIG or pass DIR")
		os.Exit(2)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	s, err := store.New(confutil.NewConfig(nil, confutil.WithDir(dir)))
	if err != nil {
		fail(err)
	}
	txn, release, err := s.Txn()
	if err != nil {
		fail(err)
	}
	defer release()
	ng := &store.NodeGroup{Name: name, Driver: "remote", Nodes: []store.Node{{Name: name + "0", Endpoint: endpoint}}}
	if err := txn.Save(ng); err != nil {
		fail(err)
	}
	if err := txn.SetCurrent(endpoint, name, true, false); err != nil {
		fail(err)
	}
	fmt.Printf("buildx builder %s (remote %s) saved in %s and made current\n", name, endpoint, dir)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "longshore-buildx-builder:", err)
	os.Exit(1)
}
