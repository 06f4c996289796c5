package main

// RunPod's worker protocol, as the gateway serves it (gateway/src/routes/worker.ts, docs/runpod-compat.md) and
// as runpod-python 1.12 and the TypeScript worker SDK (worker/index.ts) speak it: job-take long poll, ping
// heartbeat listing the jobs in hand, job-stop long poll, job-done (progress and final), job-stream. On SIGTERM
// the worker stops taking, finishes the jobs in hand, posts their results and exits 0.
//
// Hand-written with net/http because the adapter must run in any image (no Python, no Node): a static Go
// binary with no dependencies outside the standard library.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const Version = "longshore-adapter/0.1.0"

// Job as the gateway hands it out; extra keys (s3Config, policy) are kept.
type Job struct {
	ID       string          `json:"id"`
	Input    json.RawMessage `json:"input"`
	S3Config *S3Config       `json:"s3Config,omitempty"`
	Policy   *struct {
		ExecutionTimeout json.Number `json:"executionTimeout,omitempty"`
	} `json:"policy,omitempty"`
	ExecutionTimeout json.Number `json:"executionTimeout,omitempty"`
}

// Result is the job-done body: output, or error (RunPod's error JSON, as a string).
type Result struct {
	Output any    `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
	// when the program ran: its start (before exec) and its exit, for the timing log (not posted)
	ProcStart, ProcEnd time.Time `json:"-"`
}

// Hooks let a runner report while a job runs.
type Hooks struct {
	Progress func(output any)
	Stream   func(chunk any)
}

// Runner runs one job. It returns when the job is over; ctx ends on cancel or timeout (context.Cause says which).
type Runner interface {
	Run(ctx context.Context, job *Job, h Hooks) (res Result, isStream bool)
}

type Env struct {
	TakeURL, DoneURL, StreamURL, PingURL, StopURL string
	Token, WorkerID                               string
	PingInterval                                  time.Duration
	ExecTimeout                                   time.Duration
}

func EnvFrom(get func(string) string) (Env, error) {
	e := Env{WorkerID: get("RUNPOD_POD_ID"), Token: get("RUNPOD_AI_API_KEY")}
	if e.WorkerID == "" {
		h, _ := os.Hostname()
		e.WorkerID = h
	}
	take := get("RUNPOD_WEBHOOK_GET_JOB")
	if take == "" {
		return e, errors.New("RUNPOD_WEBHOOK_GET_JOB is not set: the adapter runs as a worker of a Longshore endpoint (ServerlessEndpoint sets the RUNPOD_* variables)")
	}
	e.TakeURL = strings.ReplaceAll(take, "$ID", e.WorkerID)
	e.DoneURL = strings.ReplaceAll(get("RUNPOD_WEBHOOK_POST_OUTPUT"), "$RUNPOD_POD_ID", e.WorkerID)
	e.StreamURL = strings.ReplaceAll(get("RUNPOD_WEBHOOK_POST_STREAM"), "$RUNPOD_POD_ID", e.WorkerID)
	e.PingURL = strings.ReplaceAll(get("RUNPOD_WEBHOOK_PING"), "$RUNPOD_POD_ID", e.WorkerID)
	if strings.Contains(e.TakeURL, "/job-take/") {
		e.StopURL = strings.Replace(e.TakeURL, "/job-take/", "/job-stop/", 1)
	}
	e.PingInterval = 10 * time.Second
	if ms, err := strconv.Atoi(get("RUNPOD_PING_INTERVAL")); err == nil && ms >= 100 {
		e.PingInterval = time.Duration(ms) * time.Millisecond
	}
	e.ExecTimeout = 600 * time.Second
	if ms, err := strconv.Atoi(get("LONGSHORE_EXECUTION_TIMEOUT_MS")); err == nil && ms > 0 {
		e.ExecTimeout = time.Duration(ms) * time.Millisecond
	}
	return e, nil
}

var (
	errStopped = errors.New("job stopped by the gateway (cancelled)")
	errTimeout = errors.New("execution timeout")
	errDrain   = errors.New("worker stopping")
)

type inHand struct {
	cancel context.CancelCauseFunc
}

type Worker struct {
	env    Env
	runner Runner
	conc   int
	client *http.Client
	log    *Logger

	mu      sync.Mutex
	inHand  map[string]*inHand
	running sync.WaitGroup
	slots   chan struct{}

	takeCtx    context.Context
	stopTaking context.CancelFunc
	life       context.Context
	endLife    context.CancelFunc
	drainOnce  sync.Once
	// LONGSHORE_ADAPTER_TIMINGS=1: log per-job timings (bench/adapter.ts reads them)
	timings bool
}

func NewWorker(env Env, runner Runner, concurrency int, log *Logger) *Worker {
	w := &Worker{env: env, runner: runner, conc: concurrency, log: log, inHand: map[string]*inHand{},
		client: &http.Client{}, slots: make(chan struct{}, concurrency)}
	w.timings = os.Getenv("LONGSHORE_ADAPTER_TIMINGS") == "1"
	w.takeCtx, w.stopTaking = context.WithCancel(context.Background())
	w.life, w.endLife = context.WithCancel(context.Background())
	return w
}

// Drain stops taking jobs; Run returns once the jobs in hand have finished and their results are posted.
func (w *Worker) Drain() {
	w.drainOnce.Do(func() {
		w.log.Info("", fmt.Sprintf("stopping: no new jobs; %d job(s) in hand will finish", w.count()))
		w.stopTaking()
	})
}

func (w *Worker) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.inHand)
}

func (w *Worker) ids() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make([]string, 0, len(w.inHand))
	for id := range w.inHand {
		ids = append(ids, id)
	}
	return ids
}

// Run takes and runs jobs until Drain; then waits for the jobs in hand, pings once more and returns.
func (w *Worker) Run() {
	w.log.Info("", fmt.Sprintf("worker %s started (%s, concurrency %d)", w.env.WorkerID, Version, w.conc))
	pingDone := make(chan struct{})
	go func() { w.pingLoop(); close(pingDone) }()
	go w.stopLoop()
	w.takeLoop()
	w.running.Wait()
	w.endLife()
	<-pingDone
	w.ping() // one last heartbeat with no jobs in hand: the gateway sees the drain finished
	w.log.Info("", "worker stopped")
}

func (w *Worker) takeLoop() {
	for w.takeCtx.Err() == nil {
		// wait for a free slot
		select {
		case w.slots <- struct{}{}:
		case <-w.takeCtx.Done():
			return
		}
		free := 1
		for free < w.conc {
			select {
			case w.slots <- struct{}{}:
				free++
				continue
			default:
			}
			break
		}
		jobs, err := w.take(free)
		// a job that arrived is run even if a drain began meanwhile: it is ours now
		for _, j := range jobs {
			w.start(j)
		}
		for i := len(jobs); i < free; i++ {
			<-w.slots
		}
		if err != nil && w.takeCtx.Err() == nil {
			var tm tooMany
			if errors.As(err, &tm) {
				sleepCtx(w.takeCtx, 5*time.Second)
			} else {
				w.log.Warn("", "job-take failed: "+err.Error())
				sleepCtx(w.takeCtx, time.Second)
			}
		}
	}
}

type tooMany struct{}

func (tooMany) Error() string { return "429 from job-take" }

func (w *Worker) take(n int) ([]*Job, error) {
	u := w.env.TakeURL
	if n > 1 {
		u = strings.Replace(u, "/job-take/", "/job-take-batch/", 1) + "&batch_size=" + strconv.Itoa(n)
	}
	inProgress := "0"
	if w.count() > 0 {
		inProgress = "1"
	}
	u += "&job_in_progress=" + inProgress
	ctx, cancel := context.WithTimeout(w.takeCtx, 95*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	w.headers(req)
	req.Header.Set("Accept", "application/json")
	res, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil
		}
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	switch {
	case res.StatusCode == 204 || res.StatusCode == 400:
		return nil, nil
	case res.StatusCode == 429:
		return nil, tooMany{}
	case res.StatusCode >= 300:
		return nil, fmt.Errorf("job-take answered %d: %.200s", res.StatusCode, body)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	var raw []json.RawMessage
	if n > 1 || bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, fmt.Errorf("job-take: %v", err)
		}
	} else {
		raw = []json.RawMessage{body}
	}
	jobs := make([]*Job, 0, len(raw))
	for _, r := range raw {
		j := &Job{}
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		if err := dec.Decode(j); err != nil || j.ID == "" || j.Input == nil {
			w.log.Error("", fmt.Sprintf("job without id or input: %.200s", r))
			continue
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

func (w *Worker) timeoutFor(j *Job) time.Duration {
	for _, n := range []json.Number{policyTimeout(j), j.ExecutionTimeout} {
		if ms, err := n.Float64(); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	return w.env.ExecTimeout
}

func policyTimeout(j *Job) json.Number {
	if j.Policy == nil {
		return ""
	}
	return j.Policy.ExecutionTimeout
}

func (w *Worker) start(j *Job) {
	w.mu.Lock()
	if _, dup := w.inHand[j.ID]; dup {
		w.mu.Unlock()
		// handed out again while still running here (its lease lapsed): the run in hand posts the result
		w.log.Warn(j.ID, "job handed out again while already running here; keeping the running one")
		<-w.slots
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	w.inHand[j.ID] = &inHand{cancel: cancel}
	w.mu.Unlock()
	w.running.Add(1)
	go func() {
		defer func() {
			w.mu.Lock()
			delete(w.inHand, j.ID)
			w.mu.Unlock()
			cancel(nil)
			<-w.slots
			w.running.Done()
		}()
		timeout := w.timeoutFor(j)
		timer := time.AfterFunc(timeout, func() { cancel(errTimeout) })
		defer timer.Stop()
		w.log.Info(j.ID, "started")
		t0 := time.Now()
		res, isStream := w.runner.Run(ctx, j, Hooks{
			Progress: func(o any) {
				w.post(w.env.DoneURL, j.ID, map[string]any{"status": "IN_PROGRESS", "output": o}, false, false)
			},
			Stream: func(c any) { w.post(w.env.StreamURL, j.ID, map[string]any{"output": c}, false, false) },
		})
		switch context.Cause(ctx) {
		case errStopped:
			w.log.Info(j.ID, "stopped on the gateway's request; nothing posted")
			return
		case errTimeout:
			res = Result{Error: ErrorJSON("ExecutionTimeout", fmt.Sprintf("job exceeded its execution timeout of %d ms; the process was stopped", timeout.Milliseconds()), "", w.env.WorkerID, nil)}
		}
		status := w.post(w.env.DoneURL, j.ID, res, isStream, true)
		if status == 413 && res.Error == "" {
			b, _ := json.Marshal(res)
			res = Result{Error: ErrorJSON("OutputTooLarge", fmt.Sprintf("job output is %d bytes, over the gateway's limit: write files to the output dir and give the job an s3Config", len(b)), "", w.env.WorkerID, nil)}
			w.post(w.env.DoneURL, j.ID, res, isStream, true)
		}
		t1 := time.Now()
		w.log.Info(j.ID, fmt.Sprintf("finished in %d ms", t1.Sub(t0).Milliseconds()))
		if w.timings && !res.ProcStart.IsZero() {
			// the adapter's own time per job, the program's run excluded: before it (input, files, templates,
			// job dir) and after it (output, result post)
			w.log.Info(j.ID, fmt.Sprintf("timing prep_us=%d process_us=%d post_us=%d", res.ProcStart.Sub(t0).Microseconds(),
				res.ProcEnd.Sub(res.ProcStart).Microseconds(), t1.Sub(res.ProcEnd).Microseconds()))
		}
	}()
}

func (w *Worker) headers(req *http.Request) {
	req.Header.Set("Authorization", w.env.Token)
	req.Header.Set("User-Agent", Version)
}

// post sends JSON with the Python SDK's content type; final results are retried with backoff (8 tries), a 4xx
// other than 429 is not. Returns the last HTTP status (0: unreachable).
func (w *Worker) post(tmpl, jobID string, body any, isStream, final bool) int {
	u := strings.ReplaceAll(tmpl, "$ID", jobID) + "&isStream=" + strconv.FormatBool(isStream)
	payload, err := json.Marshal(body)
	if err != nil {
		w.log.Error(jobID, "result is not JSON-encodable: "+err.Error())
		return 0
	}
	attempts := 3
	if final {
		attempts = 8
	}
	delay := 500 * time.Millisecond
	last := 0
	for i := 1; i <= attempts; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(payload))
		w.headers(req)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Request-ID", jobID)
		res, err := w.client.Do(req)
		if err == nil {
			text, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
			res.Body.Close()
			cancel()
			last = res.StatusCode
			if last < 300 {
				return last
			}
			if last < 500 && last != 429 {
				w.log.Warn(jobID, fmt.Sprintf("gateway refused the post (%d: %.200s)", last, text))
				return last
			}
			w.log.Warn(jobID, fmt.Sprintf("gateway answered %d, attempt %d/%d", last, i, attempts))
		} else {
			cancel()
			w.log.Warn(jobID, fmt.Sprintf("post failed: %v (attempt %d/%d)", err, i, attempts))
		}
		if i < attempts {
			time.Sleep(delay)
			delay = min(delay*2, 8*time.Second)
		}
	}
	w.log.Error(jobID, "gave up posting")
	return last
}

func (w *Worker) pingLoop() {
	if w.env.PingURL == "" || w.env.Token == "" {
		return
	}
	for w.life.Err() == nil {
		w.ping()
		sleepCtx(w.life, w.env.PingInterval)
	}
}

func (w *Worker) ping() {
	if w.env.PingURL == "" || w.env.Token == "" {
		return
	}
	u, err := url.Parse(w.env.PingURL)
	if err != nil {
		return
	}
	q := u.Query()
	if ids := w.ids(); len(ids) > 0 {
		q.Set("job_id", strings.Join(ids, ","))
	}
	q.Set("runpod_version", Version)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), max(2*time.Second, 2*w.env.PingInterval))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	w.headers(req)
	res, err := w.client.Do(req)
	if err != nil {
		w.log.Warn("", "ping failed: "+err.Error())
		return
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
}

// stopLoop long-polls job-stop while the worker lives (also during a drain: a job cancelled meanwhile stops).
func (w *Worker) stopLoop() {
	if w.env.StopURL == "" {
		w.log.Warn("", "job-stop channel cannot be derived from RUNPOD_WEBHOOK_GET_JOB; per-job stop disabled")
		return
	}
	for w.life.Err() == nil {
		ids, err := w.stopPoll()
		if w.life.Err() != nil {
			return
		}
		if err != nil {
			sleepCtx(w.life, time.Second)
			continue
		}
		for _, id := range ids {
			w.mu.Lock()
			h := w.inHand[id]
			w.mu.Unlock()
			if h != nil {
				w.log.Info(id, "stopping job on the gateway's request")
				h.cancel(errStopped)
			}
		}
		if len(ids) == 0 {
			sleepCtx(w.life, time.Second)
		}
	}
}

func (w *Worker) stopPoll() ([]string, error) {
	ctx, cancel := context.WithTimeout(w.life, 95*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", w.env.StopURL, nil)
	w.headers(req)
	req.Header.Set("Accept", "application/json")
	res, err := w.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode == 429 {
		sleepCtx(w.life, 5*time.Second)
		return nil, nil
	}
	if res.StatusCode == 204 {
		return nil, nil
	}
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("job-stop answered %d", res.StatusCode)
	}
	var body struct {
		JobsToStop []string `json:"jobsToStop"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&body); err != nil {
		return nil, err
	}
	return body.JobsToStop, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// ErrorJSON is RunPod's error shape (error_type, error_message, error_traceback, hostname, worker_id,
// runpod_version), as a string, so clients that parse RunPod errors keep working; extra keys are added.
func ErrorJSON(typ, msg, traceback, workerID string, extra map[string]any) string {
	host, _ := os.Hostname()
	m := map[string]any{
		"error_type": typ, "error_message": msg, "error_traceback": traceback,
		"hostname": host, "worker_id": workerID, "runpod_version": Version,
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

type Logger struct {
	mu  sync.Mutex
	out io.Writer
}

func (l *Logger) line(level, jobID, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prefix := ""
	if jobID != "" {
		prefix = jobID + " | "
	}
	fmt.Fprintf(l.out, "%s %-5s %sadapter: %s\n", time.Now().UTC().Format(time.RFC3339Nano), level, prefix, msg)
}
func (l *Logger) Info(j, m string)  { l.line("INFO", j, m) }
func (l *Logger) Warn(j, m string)  { l.line("WARN", j, m) }
func (l *Logger) Error(j, m string) { l.line("ERROR", j, m) }
