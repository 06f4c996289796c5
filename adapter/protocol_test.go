package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeGateway serves the worker routes the way gateway/src/routes/worker.ts does (204 when no job, the job
// JSON when there is one, job-stop long poll), and records what the worker posts.
type fakeGateway struct {
	*httptest.Server
	jobs    chan string
	stops   chan string
	mu      sync.Mutex
	done    map[string]map[string]any
	doneQ   map[string]string
	pings   []string
	taken   int
	batches []int
	badAuth int
}

func newFakeGateway(t *testing.T) *fakeGateway {
	g := &fakeGateway{jobs: make(chan string, 16), stops: make(chan string, 16), done: map[string]map[string]any{}, doneQ: map[string]string{}}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "tok" {
			g.mu.Lock()
			g.badAuth++
			g.mu.Unlock()
			w.WriteHeader(401)
			return
		}
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // v2 ep route worker [job]
		switch parts[2] {
		case "job-take":
			select {
			case j := <-g.jobs:
				g.mu.Lock()
				g.taken++
				g.mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, j)
			case <-time.After(300 * time.Millisecond):
				w.WriteHeader(204)
			case <-r.Context().Done():
			}
		case "job-take-batch":
			n, _ := strconv.Atoi(r.URL.Query().Get("batch_size"))
			var batch []string
			timeout := time.After(300 * time.Millisecond)
		fill:
			for len(batch) < n {
				select {
				case j := <-g.jobs:
					batch = append(batch, j)
					timeout = time.After(20 * time.Millisecond)
				case <-timeout:
					break fill
				}
			}
			if len(batch) == 0 {
				w.WriteHeader(204)
				return
			}
			g.mu.Lock()
			g.taken += len(batch)
			g.batches = append(g.batches, n)
			g.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "["+strings.Join(batch, ",")+"]")
		case "job-stop":
			select {
			case id := <-g.stops:
				json.NewEncoder(w).Encode(map[string]any{"jobsToStop": []string{id}})
			case <-time.After(300 * time.Millisecond):
				w.WriteHeader(204)
			case <-r.Context().Done():
			}
		case "ping":
			g.mu.Lock()
			g.pings = append(g.pings, r.URL.Query().Get("job_id"))
			g.mu.Unlock()
		case "job-done":
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			g.mu.Lock()
			if body["status"] != "IN_PROGRESS" {
				g.done[parts[4]] = body
				g.doneQ[parts[4]] = r.URL.RawQuery
			}
			g.mu.Unlock()
		case "job-stream":
		}
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGateway) result(id string) map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done[id]
}

func (g *fakeGateway) waitResult(t *testing.T, id string, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if r := g.result(id); r != nil {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no result for %s within %v", id, within)
	return nil
}

var buildOnce sync.Once
var binPath string

func adapterBinary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, _ := os.MkdirTemp("", "adapter-bin")
		binPath = filepath.Join(dir, "longshore-adapter")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	})
	return binPath
}

func startAdapter(t *testing.T, g *fakeGateway, spec string, program ...string) (*exec.Cmd, *strings.Builder) {
	base := g.URL + "/v2/ep"
	cmd := exec.Command(adapterBinary(t), append([]string{"run", "--"}, program...)...)
	cmd.Env = append(os.Environ(),
		"RUNPOD_WEBHOOK_GET_JOB="+base+"/job-take/$ID?",
		"RUNPOD_WEBHOOK_POST_OUTPUT="+base+"/job-done/$RUNPOD_POD_ID/$ID?",
		"RUNPOD_WEBHOOK_POST_STREAM="+base+"/job-stream/$RUNPOD_POD_ID/$ID?",
		"RUNPOD_WEBHOOK_PING="+base+"/ping/$RUNPOD_POD_ID",
		"RUNPOD_POD_ID=w1", "RUNPOD_AI_API_KEY=tok", "RUNPOD_PING_INTERVAL=200",
		"LONGSHORE_JOBS_DIR="+t.TempDir(), SpecEnv+"="+spec)
	logs := &strings.Builder{}
	cmd.Stderr = &lockedWriter{w: logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, logs
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func waitExit(t *testing.T, cmd *exec.Cmd, within time.Duration) int {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait() }()
	select {
	case <-ch:
		return cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("adapter did not exit within %v", within)
		return -1
	}
}

func TestWorkerRunsJobsAndPostsResults(t *testing.T) {
	g := newFakeGateway(t)
	startAdapter(t, g, `{"command":{"args":["{input.x}"]}}`, "/bin/sh", "-c", `[ "$1" = fail ] && { echo bad >&2; exit 4; }; echo "{\"echo\":\"$1\"}"`, "sh")
	g.jobs <- `{"id":"j1","input":{"x":"hi"}}`
	g.jobs <- `{"id":"j2","input":{"x":"fail"}}`
	g.jobs <- `{"id":"j3","input":{}}`
	if r := g.waitResult(t, "j1", 5*time.Second); r["output"].(map[string]any)["echo"] != "hi" {
		t.Fatalf("j1 %v", r)
	}
	if e := g.waitResult(t, "j2", 5*time.Second)["error"].(string); !strings.Contains(e, `"exit_code":4`) || !strings.Contains(e, "bad") {
		t.Fatalf("j2 %s", e)
	}
	if e := g.waitResult(t, "j3", 5*time.Second)["error"].(string); !strings.Contains(e, "has no input.x") {
		t.Fatalf("j3 %s", e)
	}
	g.mu.Lock()
	q := g.doneQ["j1"]
	g.mu.Unlock()
	if !strings.Contains(q, "isStream=false") {
		t.Fatalf("query %q", q)
	}
}

func TestWorkerCancelStopsTheProcessAndPostsNothing(t *testing.T) {
	g := newFakeGateway(t)
	marker := filepath.Join(t.TempDir(), "pid")
	startAdapter(t, g, `{"command":{"killGraceSeconds":1}}`, "/bin/sh", "-c", `echo $$ > `+marker+`; sleep 30 & wait`)
	g.jobs <- `{"id":"c1","input":{}}`
	var pid int
	for i := 0; i < 100 && pid == 0; i++ {
		time.Sleep(50 * time.Millisecond)
		b, _ := os.ReadFile(marker)
		json.Unmarshal([]byte(strings.TrimSpace(string(b))), &pid)
	}
	if pid == 0 {
		t.Fatal("job did not start")
	}
	// the heartbeat lists the running job
	time.Sleep(400 * time.Millisecond)
	g.mu.Lock()
	listed := strings.Contains(strings.Join(g.pings, " "), "c1")
	g.mu.Unlock()
	if !listed {
		t.Fatal("ping did not list the job in hand")
	}
	g.stops <- "c1"
	gone := false
	for i := 0; i < 100 && !gone; i++ {
		time.Sleep(50 * time.Millisecond)
		gone = syscall.Kill(pid, 0) != nil
	}
	if !gone {
		t.Fatal("process still running after job-stop")
	}
	// nothing is posted for the cancelled job
	time.Sleep(500 * time.Millisecond)
	if r := g.result("c1"); r != nil {
		t.Fatalf("posted %v for a cancelled job", r)
	}
}

func TestWorkerExecutionTimeoutFailsTheJob(t *testing.T) {
	g := newFakeGateway(t)
	startAdapter(t, g, `{"command":{"killGraceSeconds":1}}`, "/bin/sh", "-c", `trap '' TERM; sleep 20`)
	g.jobs <- `{"id":"t1","input":{},"policy":{"executionTimeout":500}}`
	e := g.waitResult(t, "t1", 6*time.Second)["error"].(string)
	if !strings.Contains(e, "ExecutionTimeout") || !strings.Contains(e, "500 ms") {
		t.Fatalf("%s", e)
	}
}

func TestWorkerSIGTERMDrainsTheJobInHand(t *testing.T) {
	g := newFakeGateway(t)
	cmd, logs := startAdapter(t, g, `{}`, "/bin/sh", "-c", `sleep 1.5; echo finished`)
	g.jobs <- `{"id":"d1","input":{}}`
	for i := 0; i < 100; i++ {
		g.mu.Lock()
		taken := g.taken
		g.mu.Unlock()
		if taken == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	g.jobs <- `{"id":"d2","input":{}}` // must not be taken once the drain began
	if code := waitExit(t, cmd, 8*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, logs.String())
	}
	if r := g.result("d1"); r == nil || r["output"] != "finished" {
		t.Fatalf("job in hand not finished and posted: %v\n%s", r, logs.String())
	}
	if len(g.jobs) != 1 {
		t.Fatal("took a job after SIGTERM")
	}
	g.mu.Lock()
	last := g.pings[len(g.pings)-1]
	g.mu.Unlock()
	if last != "" {
		t.Fatalf("last ping still lists %q", last)
	}
}

func TestWorkerHTTPModeForwardsJobsAfterHealth(t *testing.T) {
	g := newFakeGateway(t)
	// the "server" is a tiny shell-free HTTP server: this test binary's own helper mode would need flags, so
	// use the Go server in-process on a free port and tell the adapter not to start anything
	var healthy sync.Once
	ready := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ping":
			select {
			case <-ready:
				healthy.Do(func() {})
			default:
				w.WriteHeader(503)
				return
			}
		case "/predict":
			var in map[string]any
			json.NewDecoder(r.Body).Decode(&in)
			if in["bad"] != nil {
				w.WriteHeader(422)
				io.WriteString(w, `{"detail":"bad input"}`)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"sum": in["a"].(float64) + in["b"].(float64), "rid": r.Header.Get("X-Request-ID")})
		}
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*netAddr).Port
	_, logs := startAdapter(t, g, `{"kind":"http","http":{"port":`+itoa(port)+`,"path":"/predict","healthPath":"/ping","start":false}}`)
	g.jobs <- `{"id":"h1","input":{"a":1,"b":2}}`
	time.Sleep(600 * time.Millisecond)
	g.mu.Lock()
	early := g.taken
	g.mu.Unlock()
	if g.result("h1") != nil || early != 0 {
		t.Fatal("took a job before the server was healthy")
	}
	close(ready)
	r := g.waitResult(t, "h1", 5*time.Second)
	if out := r["output"].(map[string]any); out["sum"] != float64(3) || out["rid"] != "h1" {
		t.Fatalf("%v\n%s", r, logs.String())
	}
	g.jobs <- `{"id":"h2","input":{"bad":1}}`
	if e := g.waitResult(t, "h2", 5*time.Second)["error"].(string); !strings.Contains(e, "answered 422") || !strings.Contains(e, "bad input") {
		t.Fatalf("%s", e)
	}
}

func TestWorkerConcurrencyRunsJobsSideBySide(t *testing.T) {
	g := newFakeGateway(t)
	startAdapter(t, g, `{"concurrency":3}`, "/bin/sh", "-c", `sleep 1; echo "$LONGSHORE_JOB_ID"`)
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	for _, id := range []string{"p1", "p2", "p3"} {
		g.jobs <- `{"id":"` + id + `","input":{}}`
	}
	for _, id := range []string{"p1", "p2", "p3"} {
		if r := g.waitResult(t, id, 5*time.Second); r["output"] != id {
			t.Fatalf("%s: %v", id, r)
		}
	}
	if d := time.Since(t0); d > 2500*time.Millisecond {
		t.Fatalf("3 one-second jobs took %v with concurrency 3", d)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.batches) == 0 || g.batches[0] != 3 {
		t.Fatalf("takes asked for batches %v; want job-take-batch with batch_size=3 while all slots are free", g.batches)
	}
}
