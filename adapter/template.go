package main

// Argument templates: "--prompt", "{input.prompt}", "--steps={input.steps=20}". Placeholders:
//   {input}            the whole input as JSON
//   {input.a.b}        a field (dotted path; numbers index arrays); required
//   {input.a.b=text}   a field with a default used when it is missing or null
//   {job.id} {job.dir} {output.dir}
// {{ and }} are literal braces. components/commandWorker.ts checks the same grammar at preview.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

type part struct {
	lit     string
	isVar   bool
	root    string   // "input", "job.id", "job.dir", "output.dir"
	path    []string // under input
	def     string
	hasDef  bool
	display string
}

type Template []part

var segRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func ParseTemplate(s string) (Template, error) {
	var t Template
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf("unmatched } in %q (write }} for a literal brace)", s)
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed { in %q (write {{ for a literal brace)", s)
			}
			body := s[i+1 : i+end]
			p, err := parsePlaceholder(body)
			if err != nil {
				return nil, err
			}
			if lit.Len() > 0 {
				t = append(t, part{lit: lit.String()})
				lit.Reset()
			}
			t = append(t, p)
			i += end
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t = append(t, part{lit: lit.String()})
	}
	return t, nil
}

func parsePlaceholder(body string) (part, error) {
	p := part{isVar: true, display: "{" + body + "}"}
	switch body {
	case "input", "job.id", "job.dir", "output.dir":
		p.root = body
		return p, nil
	}
	expr := body
	if eq := strings.IndexByte(body, '='); eq >= 0 {
		expr, p.def, p.hasDef = body[:eq], body[eq+1:], true
	}
	if !strings.HasPrefix(expr, "input.") {
		return p, fmt.Errorf("unknown placeholder {%s}: use {input.<field>}, {input}, {job.id}, {job.dir} or {output.dir}", body)
	}
	p.root = "input"
	p.path = strings.Split(expr[len("input."):], ".")
	for _, seg := range p.path {
		if !segRe.MatchString(seg) {
			return p, fmt.Errorf("placeholder {%s} names no field an input can have (fields are letters, digits, _ and -, separated by dots)", body)
		}
	}
	return p, nil
}

// Vars are the per-job values of the non-input placeholders.
type Vars struct{ JobID, JobDir, OutputDir string }

// MissingField is a job whose input lacks a templated field.
type MissingField struct{ Placeholder string }

func (m *MissingField) Error() string {
	return fmt.Sprintf("the job input has no %s (the endpoint's argument template needs it)", strings.Trim(m.Placeholder, "{}"))
}

func (t Template) Render(input any, v Vars) (string, error) {
	var b strings.Builder
	for _, p := range t {
		if !p.isVar {
			b.WriteString(p.lit)
			continue
		}
		switch p.root {
		case "job.id":
			b.WriteString(v.JobID)
		case "job.dir":
			b.WriteString(v.JobDir)
		case "output.dir":
			b.WriteString(v.OutputDir)
		case "input":
			if p.path == nil {
				b.WriteString(jsonText(input))
				continue
			}
			val, ok := lookup(input, p.path)
			if !ok || val == nil {
				if p.hasDef {
					b.WriteString(p.def)
					continue
				}
				return "", &MissingField{Placeholder: p.display}
			}
			b.WriteString(valueText(val))
		}
	}
	return b.String(), nil
}

func lookup(v any, path []string) (any, bool) {
	cur := v
	for _, seg := range path {
		switch c := cur.(type) {
		case map[string]any:
			nv, ok := c[seg]
			if !ok {
				return nil, false
			}
			cur = nv
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// valueText: strings as they are, numbers and booleans as JSON text, objects and arrays as JSON.
func valueText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return jsonText(v)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
