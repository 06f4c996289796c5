package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func input(t *testing.T, s string) any {
	v, err := decodeInput(json.RawMessage(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func render(t *testing.T, tmpl string, in any) (string, error) {
	t.Helper()
	p, err := ParseTemplate(tmpl)
	if err != nil {
		t.Fatalf("parse %q: %v", tmpl, err)
	}
	return p.Render(in, Vars{JobID: "j1", JobDir: "/jobs/j1", OutputDir: "/jobs/j1/out"})
}

func TestTemplateRendersFieldsAndValues(t *testing.T) {
	in := input(t, `{"prompt":"a cat","n":3,"big":12345678901234567890,"ok":true,"opts":{"k":[1,"x"]},"list":["a","b"]}`)
	cases := map[string]string{
		"{input.prompt}":                  "a cat",
		"--n={input.n}":                   "--n=3",
		"{input.big}":                     "12345678901234567890",
		"{input.ok}":                      "true",
		"{input.opts}":                    `{"k":[1,"x"]}`,
		"{input.opts.k.1}":                "x",
		"{input.list.0}-{input.list.1}":   "a-b",
		"{input.steps=20}":                "20",
		"{input.prompt=default}":          "a cat",
		"{job.id}:{job.dir}:{output.dir}": "j1:/jobs/j1:/jobs/j1/out",
		"{{literal}} {input.n}":           "{literal} 3",
		"plain":                           "plain",
	}
	for tmpl, want := range cases {
		got, err := render(t, tmpl, in)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", tmpl, got, err, want)
		}
	}
	whole, _ := render(t, "{input}", in)
	var back map[string]any
	if err := json.Unmarshal([]byte(whole), &back); err != nil || back["prompt"] != "a cat" {
		t.Errorf("{input} = %q", whole)
	}
}

func TestTemplateMissingFieldNamesIt(t *testing.T) {
	in := input(t, `{"prompt":null,"a":{"b":1}}`)
	for tmpl, field := range map[string]string{"{input.prompt}": "input.prompt", "--x={input.a.c}": "input.a.c", "{input.a.b.c}": "input.a.b.c", "{input.list.3}": "input.list.3"} {
		_, err := render(t, tmpl, in)
		if _, ok := err.(*MissingField); !ok || !strings.Contains(err.Error(), "has no "+field) {
			t.Errorf("%q: want a MissingField naming %s, got %v", tmpl, field, err)
		}
	}
	// a non-object input has no fields
	if _, err := render(t, "{input.x}", input(t, `"text"`)); err == nil {
		t.Error("a string input rendered {input.x}")
	}
}

func TestTemplateRefusesBadPlaceholders(t *testing.T) {
	for _, bad := range []string{"{inputs.x}", "{input.}", "{input..a}", "{input.a b}", "{prompt}", "{input", "x}", "{job}", "{}"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSpecValidationNamesTheField(t *testing.T) {
	cases := map[string]string{
		`{"kind":"cmd"}`:                                           "kind",
		`{"command":{"args":["{input.}"]}}`:                        "command.args[0]",
		`{"command":{"args":["ok","{nope}"]}}`:                     "command.args[1]",
		`{"command":{"output":{"dir":"../etc"}}}`:                  "command.output.dir",
		`{"command":{"output":{"dir":"/tmp"}}}`:                    "command.output.dir",
		`{"command":{"output":{"from":"s3"}}}`:                     "command.output.from",
		`{"command":{"stdin":"file"}}`:                             "command.stdin",
		`{"command":{"inputFiles":[{"field":"a.b"}]}}`:             "command.inputFiles[0].field",
		`{"command":{"inputFiles":[{"field":"a","name":"../x"}]}}`: "command.inputFiles[0].name",
		`{"kind":"http"}`:                                          "http",
		`{"kind":"http","http":{"port":0}}`:                        "http.port",
		`{"kind":"http","http":{"port":80,"path":"run"}}`:          "http.path",
		`{"command":{"argz":[]}}`:                                  "argz",
		`{"concurrency":100}`:                                      "concurrency",
	}
	for raw, field := range cases {
		_, err := ParseSpec(raw)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: want an error naming %s, got %v", raw, field, err)
		}
	}
	if h, err := ParseSpec(`{"http":{"port":8000}}`); err != nil || h.Kind != "http" || h.HTTP.Path != "/" || h.HTTP.HealthPath != "/health" {
		t.Errorf("http kind from the declaration's shape: %+v %v", h, err)
	}
	s, err := ParseSpec("")
	if err != nil || s.Kind != "command" || s.Command.Stdin != "input" || s.Command.Output.From != "stdout" || s.Command.Output.Dir != "out" || s.Concurrency != 1 {
		t.Errorf("defaults: %+v %v", s, err)
	}
}
