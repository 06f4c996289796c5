// Command fake-gpu-device-plugin advertises N fake GPUs (default resource nvidia.com/gpu) to the kubelet through
// the real device-plugin gRPC API (k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1), so GPU requests, taints and
// tolerations are scheduled and admitted for real on a machine without GPUs. Allocate() answers with the same
// environment NVIDIA's plugin sets (NVIDIA_VISIBLE_DEVICES) so workloads can see which "GPU" they got.
//
// Hand-written (no library does this): it is the test double for NVIDIA's k8s-device-plugin on the proving ground.
//
// Two modes:
//   - default (DaemonSet, like NVIDIA's plugin): serve, register, re-register whenever the kubelet restarts or
//     drops the stream.
//   - --fallback (host process started by proving-ground/parts/40-kubernetes.sh): the same, but it steps aside
//     while another plugin socket exists in the device-plugin directory (e.g. the NvidiaDevicePlugin component
//     deployed this image as a DaemonSet) and comes back when that plugin goes away, so the node never loses
//     its GPUs between test suites.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

type plugin struct {
	pluginapi.UnimplementedDevicePluginServer
	devices  []*pluginapi.Device
	product  string
	mu       sync.Mutex
	streamOn bool
	streams  chan struct{} // closed when the current ListAndWatch stream ends
}

func (p *plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

func (p *plugin) ListAndWatch(_ *pluginapi.Empty, s pluginapi.DevicePlugin_ListAndWatchServer) error {
	p.mu.Lock()
	p.streamOn = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.streamOn = false
		p.mu.Unlock()
	}()
	if err := s.Send(&pluginapi.ListAndWatchResponse{Devices: p.devices}); err != nil {
		return err
	}
	log.Printf("advertising %d devices", len(p.devices))
	<-s.Context().Done()
	log.Printf("kubelet closed the ListAndWatch stream")
	return nil
}

func (p *plugin) GetPreferredAllocation(context.Context, *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	return &pluginapi.PreferredAllocationResponse{}, nil
}

func (p *plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for _, c := range req.ContainerRequests {
		ids := strings.Join(c.DevicesIDs, ",")
		log.Printf("allocate %s", ids)
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{
				"NVIDIA_VISIBLE_DEVICES": ids,
				"LONGSHORE_FAKE_GPU":     p.product,
			},
		})
	}
	return resp, nil
}

func (p *plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

func (p *plugin) streaming() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.streamOn
}

func inode(path string) uint64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// otherPlugins reports whether a device-plugin socket other than the kubelet's and ours exists.
func otherPlugins(dir, own string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".sock") && n != "kubelet.sock" && n != own && e.Type()&os.ModeSocket != 0 {
			return true
		}
	}
	return false
}

func register(kubeletSock, endpoint, resource string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, "unix://"+kubeletSock, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithBlock())
	if err != nil {
		return fmt.Errorf("dial kubelet: %w", err)
	}
	defer conn.Close()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version: pluginapi.Version, Endpoint: endpoint, ResourceName: resource, Options: &pluginapi.DevicePluginOptions{},
	})
	return err
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// knownArgs drops command-line flags this plugin does not define, so the image can stand in for NVIDIA's plugin
// in a DaemonSet that passes NVIDIA's flags (e.g. --fail-on-init-error=false): they are logged and ignored.
func knownArgs(fs *flag.FlagSet, args []string) []string {
	var out []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			name := strings.SplitN(strings.TrimLeft(a, "-"), "=", 2)[0]
			if fs.Lookup(name) == nil {
				log.Printf("ignoring unknown flag %s", a)
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// timeSlicingReplicas reads NVIDIA's plugin config (CONFIG_FILE, sharing.timeSlicing.resources[].replicas) so
// a time-sliced setup advertises count x replicas devices, as NVIDIA's plugin does.
func timeSlicingReplicas() int {
	f := os.Getenv("CONFIG_FILE")
	if f == "" {
		return 1
	}
	b, err := os.ReadFile(f)
	if err != nil {
		log.Printf("CONFIG_FILE %s: %v", f, err)
		return 1
	}
	m := regexp.MustCompile(`(?m)^\s*replicas:\s*(\d+)`).FindSubmatch(b)
	if m == nil {
		return 1
	}
	n, _ := strconv.Atoi(string(m[1]))
	if n < 1 {
		return 1
	}
	return n
}

func main() {
	count, _ := strconv.Atoi(envOr("FAKE_GPU_COUNT", "8"))
	dir := flag.String("dir", pluginapi.DevicePluginPath, "device-plugin directory of the kubelet")
	resource := flag.String("resource", envOr("FAKE_GPU_RESOURCE", "nvidia.com/gpu"), "extended resource name")
	product := flag.String("product", envOr("FAKE_GPU_PRODUCT", "NVIDIA-H100-80GB-HBM3"), "product name reported to containers")
	flag.IntVar(&count, "count", count, "number of fake devices (env FAKE_GPU_COUNT)")
	socketName := flag.String("socket", "", "socket file name in --dir (default fake-gpu.sock, or fake-gpu-fallback.sock with --fallback)")
	fallback := flag.Bool("fallback", false, "step aside while another device plugin socket exists")
	_ = flag.CommandLine.Parse(knownArgs(flag.CommandLine, os.Args[1:]))
	if count < 1 {
		log.Fatalf("--count must be >= 1, got %d", count)
	}
	if *socketName == "" {
		*socketName = "fake-gpu.sock"
		if *fallback {
			*socketName = "fake-gpu-fallback.sock"
		}
	}
	p := &plugin{product: *product}
	replicas := timeSlicingReplicas()
	for i := 0; i < count; i++ {
		for r := 0; r < replicas; r++ {
			id := fmt.Sprintf("fake-gpu-%d", i)
			if replicas > 1 {
				id = fmt.Sprintf("%s::%d", id, r)
			}
			p.devices = append(p.devices, &pluginapi.Device{ID: id, Health: pluginapi.Healthy})
		}
	}
	kubeletSock := filepath.Join(*dir, "kubelet.sock")
	sock := filepath.Join(*dir, *socketName)

	var srv *grpc.Server
	stop := func() {
		if srv != nil {
			srv.Stop()
			srv = nil
		}
		_ = os.Remove(sock)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	var kubeletIno uint64
	registered := false
	var registeredAt time.Time
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		yield := *fallback && otherPlugins(*dir, *socketName)
		switch {
		case yield && srv != nil:
			log.Printf("another device plugin is present; stepping aside")
			stop()
			registered = false
		case !yield && inode(kubeletSock) != 0:
			needs := srv == nil || inode(sock) == 0 || inode(kubeletSock) != kubeletIno ||
				(registered && !p.streaming() && time.Since(registeredAt) > 5*time.Second)
			if needs {
				stop()
				_ = os.MkdirAll(*dir, 0o755)
				l, err := net.Listen("unix", sock)
				if err != nil {
					log.Printf("listen %s: %v", sock, err)
					break
				}
				srv = grpc.NewServer()
				pluginapi.RegisterDevicePluginServer(srv, p)
				go func(s *grpc.Server) { _ = s.Serve(l) }(srv)
				kubeletIno = inode(kubeletSock)
				if err := register(kubeletSock, *socketName, *resource); err != nil {
					log.Printf("register with kubelet: %v", err)
					stop()
					registered = false
					break
				}
				registered, registeredAt = true, time.Now()
				log.Printf("registered %s (%d devices, %s) at %s", *resource, len(p.devices), *product, sock)
			}
		}
		select {
		case s := <-sigs:
			log.Printf("%v: exiting", s)
			stop()
			return
		case <-tick.C:
		}
	}
}
