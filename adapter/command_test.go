package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type recorder struct {
	mu               sync.Mutex
	progress, chunks []any
}

func (r *recorder) hooks() Hooks {
	return Hooks{
		Progress: func(o any) { r.mu.Lock(); r.progress = append(r.progress, o); r.mu.Unlock() },
		Stream:   func(c any) { r.mu.Lock(); r.chunks = append(r.chunks, c); r.mu.Unlock() },
	}
}

// sh runs script with /bin/sh; the templated args are $1, $2, …
func shRunner(t *testing.T, script string, spec string) *CommandRunner {
	t.Helper()
	s, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewCommandRunner([]string{"/bin/sh", "-c", script, "sh"}, s.Command, t.TempDir(), "w1", &Logger{out: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	r.Stderr = &bytes.Buffer{}
	return r
}

func job(id, in string) *Job { return &Job{ID: id, Input: json.RawMessage(in)} }

func errorOf(t *testing.T, res Result) map[string]any {
	t.Helper()
	if res.Error == "" {
		t.Fatalf("want an error, got output %#v", res.Output)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(res.Error), &m); err != nil {
		t.Fatalf("error is not RunPod's error JSON: %q", res.Error)
	}
	return m
}

func TestCommandArgsFromTemplate(t *testing.T) {
	r := shRunner(t, `printf '%s|' "$@"`, `{"command":{"args":["--prompt","{input.prompt}","--n={input.n=1}"],"stdin":"none"}}`)
	res, _ := r.Run(context.Background(), job("j", `{"prompt":"two words; $(rm -rf /)"}`), Hooks{})
	if res.Output != "--prompt|two words; $(rm -rf /)|--n=1|" {
		t.Fatalf("argv: %#v %s", res.Output, res.Error)
	}
}

func TestCommandStdinIsTheInputAndJSONStdoutParses(t *testing.T) {
	r := shRunner(t, `read line; printf '{"got":%s}\n' "$line"`, `{}`)
	res, _ := r.Run(context.Background(), job("j", `{"a":[1,2],"s":"x"}`), Hooks{})
	b, _ := json.Marshal(res.Output)
	if string(b) != `{"got":{"a":[1,2],"s":"x"}}` {
		t.Fatalf("output %s (%s)", b, res.Error)
	}
	// text that is not JSON comes back as text, without the trailing newline
	r = shRunner(t, `echo "hello world"; echo second`, `{}`)
	res, _ = r.Run(context.Background(), job("j", `{}`), Hooks{})
	if res.Output != "hello world\nsecond" {
		t.Fatalf("text output %#v", res.Output)
	}
	// two JSON values are text, not the first value
	r = shRunner(t, `echo 1; echo 2`, `{}`)
	res, _ = r.Run(context.Background(), job("j", `{}`), Hooks{})
	if res.Output != "1\n2" {
		t.Fatalf("two values %#v", res.Output)
	}
}

func TestCommandMissingTemplatedFieldFailsClearly(t *testing.T) {
	r := shRunner(t, `echo ran > "$LONGSHORE_JOB_DIR/ran"`, `{"command":{"args":["{input.prompt}"]}}`)
	res, _ := r.Run(context.Background(), job("j", `{"promt":"typo"}`), Hooks{})
	e := errorOf(t, res)
	if e["error_type"] != "InputError" || !strings.Contains(e["error_message"].(string), "has no input.prompt") {
		t.Fatalf("%v", e)
	}
}

func TestCommandNonZeroExitFailsWithCodeAndStderrTail(t *testing.T) {
	r := shRunner(t, `i=0; while [ $i -lt 2000 ]; do echo "noise $i" >&2; i=$((i+1)); done; echo "model file missing" >&2; echo partial; exit 3`, `{}`)
	res, _ := r.Run(context.Background(), job("j", `{}`), Hooks{})
	e := errorOf(t, res)
	if e["error_type"] != "CommandFailed" || e["exit_code"] != float64(3) {
		t.Fatalf("%v", e)
	}
	if e["error_message"] != "command exited with code 3: model file missing" {
		t.Fatalf("message %q", e["error_message"])
	}
	tail := e["stderr"].(string)
	if len(tail) > StderrTail || !strings.HasSuffix(tail, "model file missing\n") || strings.Contains(tail, "noise 0\n") {
		t.Fatalf("stderr tail (%d bytes) ends %q", len(tail), tail[len(tail)-40:])
	}
	// a program that cannot start
	s, _ := ParseSpec("")
	r2, _ := NewCommandRunner([]string{"/no/such/program"}, s.Command, t.TempDir(), "w", &Logger{out: os.Stderr})
	res, _ = r2.Run(context.Background(), job("j", `{}`), Hooks{})
	if e := errorOf(t, res); e["error_type"] != "CommandNotStarted" {
		t.Fatalf("%v", e)
	}
}

func TestCommandCancelSendsSIGTERMThenSIGKILL(t *testing.T) {
	// the program ignores SIGTERM, so only the SIGKILL after the grace ends it
	r := shRunner(t, `trap '' TERM; echo started >&2; sleep 30 & wait; sleep 30`, `{"command":{"killGraceSeconds":1}}`)
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(300*time.Millisecond, func() { cancel(errStopped) })
	t0 := time.Now()
	r.Run(ctx, job("j", `{}`), Hooks{})
	if d := time.Since(t0); d < 1200*time.Millisecond || d > 8*time.Second {
		t.Fatalf("stopped after %v; want the 1 s grace then SIGKILL", d)
	}
	// a program that honours SIGTERM stops at once
	r = shRunner(t, `sleep 30 & wait`, `{"command":{"killGraceSeconds":10}}`)
	ctx, cancel = context.WithCancelCause(context.Background())
	time.AfterFunc(200*time.Millisecond, func() { cancel(errStopped) })
	t0 = time.Now()
	r.Run(ctx, job("j", `{}`), Hooks{})
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("SIGTERM did not stop it: %v", d)
	}
}

func TestCommandHugeStdoutIsBoundedAndFailsClearly(t *testing.T) {
	r := shRunner(t, `head -c 67108864 /dev/zero | tr '\0' x; echo; echo done >&2`, `{"command":{"output":{"stdoutLimitBytes":1048576}}}`)
	res, _ := r.Run(context.Background(), job("j", `{}`), Hooks{})
	e := errorOf(t, res)
	if e["error_type"] != "OutputTooLarge" || !strings.Contains(e["error_message"].(string), "1048576") {
		t.Fatalf("%v", e)
	}
	// under the limit, a large output comes back whole
	r = shRunner(t, `head -c 5000000 /dev/zero | tr '\0' y`, `{}`)
	res, _ = r.Run(context.Background(), job("j", `{}`), Hooks{})
	if s, ok := res.Output.(string); !ok || len(s) != 5000000 {
		t.Fatalf("5 MB output came back as %T len %d", res.Output, len(s))
	}
}

func TestCommandInputFilesAndOutputFiles(t *testing.T) {
	file := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("from-url")) }))
	defer file.Close()
	spec := `{"command":{"args":["{input.image}","{input.doc}","{output.dir}"],"inputFiles":[{"field":"image","name":"in.png"},{"field":"doc"}],"output":{"from":"files"}}}`
	r := shRunner(t, `cat "$1" "$2" > "$3/joined.txt"; mkdir "$3/sub"; printf 'z' > "$3/sub/z.bin"; read line; echo "$line" > "$3/stdin.json"`, spec)
	in := `{"image":"` + base64.StdEncoding.EncodeToString([]byte("png-bytes|")) + `","doc":"` + file.URL + `/doc"}`
	res, _ := r.Run(context.Background(), job("j", in), Hooks{})
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	files := res.Output.(map[string]any)["files"].([]outFile)
	got := map[string]string{}
	for _, f := range files {
		b, _ := base64.StdEncoding.DecodeString(f.Base64)
		got[f.Name] = string(b)
	}
	if got["joined.txt"] != "png-bytes|from-url" || got["sub/z.bin"] != "z" {
		t.Fatalf("files %v", got)
	}
	// stdin sees the file paths in place of the data
	if !strings.Contains(got["stdin.json"], `in/in.png"`) || !strings.Contains(got["stdin.json"], `in/doc"`) {
		t.Fatalf("stdin %s", got["stdin.json"])
	}
	// the job dir is removed afterwards
	if entries, _ := os.ReadDir(r.JobsDir); len(entries) != 0 {
		t.Fatalf("job dir left behind: %v", entries)
	}
	// a data: URL works too; bad base64 fails naming the field
	r = shRunner(t, `cat "$1"`, `{"command":{"args":["{input.f}"],"inputFiles":[{"field":"f"}]}}`)
	res, _ = r.Run(context.Background(), job("j", `{"f":"data:text/plain;base64,aGk="}`), Hooks{})
	if res.Output != "hi" {
		t.Fatalf("data URL: %#v %s", res.Output, res.Error)
	}
	res, _ = r.Run(context.Background(), job("j", `{"f":"not base64 !!"}`), Hooks{})
	if e := errorOf(t, res); !strings.Contains(e["error_message"].(string), "input.f") {
		t.Fatalf("%v", e)
	}
}

func TestCommandOutputFilesOverTheInlineLimitNeedS3(t *testing.T) {
	r := shRunner(t, `head -c 3000 /dev/zero > "$LONGSHORE_OUTPUT_DIR/big file.bin"`, `{"command":{"output":{"from":"files","inlineLimitBytes":1000}}}`)
	res, _ := r.Run(context.Background(), job("j", `{}`), Hooks{})
	if e := errorOf(t, res); e["error_type"] != "OutputTooLarge" || !strings.Contains(e["error_message"].(string), "s3Config") {
		t.Fatalf("%v", e)
	}
	// with an s3Config the files are PUT, signed (a stand-in bucket that checks the signature's shape)
	var mu sync.Mutex
	puts := map[string]int{}
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		auth := q.Header.Get("Authorization")
		if q.Method != "PUT" || !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/") || q.Header.Get("x-amz-content-sha256") == "" {
			w.WriteHeader(403)
			return
		}
		b := new(bytes.Buffer)
		b.ReadFrom(q.Body)
		mu.Lock()
		puts[q.URL.EscapedPath()] = b.Len()
		mu.Unlock()
	}))
	defer s3.Close()
	j := job("job-1", `{}`)
	j.S3Config = &S3Config{AccessID: "AKID", AccessSecret: "secret", BucketName: "bkt", EndpointURL: s3.URL}
	res, _ = r.Run(context.Background(), j, Hooks{})
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	f := res.Output.(map[string]any)["files"].([]outFile)[0]
	if puts["/bkt/job-1/big%20file.bin"] != 3000 || f.URL != s3.URL+"/bkt/job-1/big%20file.bin" || f.Key != "job-1/big file.bin" || f.Base64 != "" {
		t.Fatalf("puts %v file %+v", puts, f)
	}
}

func TestCommandProgressAndStreamLines(t *testing.T) {
	r := shRunner(t, `echo 'LONGSHORE_PROGRESS {"step":1}' >&2; echo '{"token":"a"}'; echo b; echo "real stderr" >&2`, `{"command":{"stream":true}}`)
	rec := &recorder{}
	res, isStream := r.Run(context.Background(), job("j", `{}`), rec.hooks())
	if !isStream {
		t.Fatal("not a stream")
	}
	b, _ := json.Marshal([]any{rec.progress, rec.chunks, res.Output})
	if string(b) != `[[{"step":1}],[{"token":"a"},"b"],[{"token":"a"},"b"]]` {
		t.Fatalf("%s", b)
	}
	if pass := r.Stderr.(*bytes.Buffer).String(); pass != "real stderr\n" {
		t.Fatalf("stderr passed through: %q", pass)
	}
}

func TestCommandEnvHasNoWorkerToken(t *testing.T) {
	os.Setenv("RUNPOD_AI_API_KEY", "secret-token")
	defer os.Unsetenv("RUNPOD_AI_API_KEY")
	r := shRunner(t, `echo "[${RUNPOD_AI_API_KEY:-none}] $LONGSHORE_JOB_ID $(basename $LONGSHORE_JOB_DIR)"`, `{}`)
	res, _ := r.Run(context.Background(), job("a/b", `{}`), Hooks{})
	if res.Output != "[none] a/b a_b" {
		t.Fatalf("%#v", res.Output)
	}
	_ = filepath.Join
}
