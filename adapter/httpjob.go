package main

// HTTP-on-queue: each job's input is POSTed as JSON to a server in the pod (http://127.0.0.1:<port><path>);
// a 2xx answer is the output (JSON when it parses, else text), anything else fails the job with the status and
// the start of the body. The adapter waits for the server's health check before it takes the first job.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// MaxHTTPResponseBytes bounds a server's answer (the gateway's job-done limit is 20 MB).
const MaxHTTPResponseBytes = 16 << 20

type HTTPRunner struct {
	Spec     *HTTPSpec
	WorkerID string
	base     string
	client   *http.Client
}

func NewHTTPRunner(spec *HTTPSpec, workerID string) *HTTPRunner {
	return &HTTPRunner{Spec: spec, WorkerID: workerID, base: "http://127.0.0.1:" + strconv.Itoa(spec.Port), client: &http.Client{}}
}

// WaitHealthy polls the health path until it answers 2xx, the deadline passes or ctx ends.
func (h *HTTPRunner) WaitHealthy(ctx context.Context, log *Logger) error {
	deadline := time.Now().Add(time.Duration(h.Spec.HealthTimeoutSeconds) * time.Second)
	last := ""
	for n := 0; ; n++ {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, _ := http.NewRequestWithContext(c, "GET", h.base+h.Spec.HealthPath, nil)
		res, err := h.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
			res.Body.Close()
			if res.StatusCode < 300 {
				cancel()
				log.Info("", fmt.Sprintf("server healthy at %s%s", h.base, h.Spec.HealthPath))
				return nil
			}
			last = fmt.Sprintf("answered %d", res.StatusCode)
		} else {
			last = err.Error()
		}
		cancel()
		if n%25 == 0 {
			log.Info("", fmt.Sprintf("waiting for %s%s (%s)", h.base, h.Spec.HealthPath, last))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server at %s%s was not healthy after %d s (%s)", h.base, h.Spec.HealthPath, h.Spec.HealthTimeoutSeconds, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (h *HTTPRunner) Run(ctx context.Context, job *Job, _ Hooks) (Result, bool) {
	req, _ := http.NewRequestWithContext(ctx, "POST", h.base+h.Spec.Path, bytes.NewReader(job.Input))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", job.ID)
	res, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, false
		}
		return Result{Error: ErrorJSON("HTTPError", fmt.Sprintf("POST %s%s failed: %v", h.base, h.Spec.Path, err), "", h.WorkerID, nil)}, false
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxHTTPResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, false
		}
		return Result{Error: ErrorJSON("HTTPError", "reading the server's answer: "+err.Error(), "", h.WorkerID, nil)}, false
	}
	if len(body) > MaxHTTPResponseBytes {
		return Result{Error: ErrorJSON("OutputTooLarge", fmt.Sprintf("the server's answer is over %d bytes", MaxHTTPResponseBytes), "", h.WorkerID, nil)}, false
	}
	if res.StatusCode >= 300 {
		snippet := string(body)
		if len(snippet) > StderrTail {
			snippet = snippet[:StderrTail]
		}
		return Result{Error: ErrorJSON("HTTPError", fmt.Sprintf("POST %s answered %d: %.300s", h.Spec.Path, res.StatusCode, snippet), snippet,
			h.WorkerID, map[string]any{"status_code": res.StatusCode})}, false
	}
	return Result{Output: parseOutput(string(body))}, false
}
