package main

// Input files (base64, data: URLs or http(s) URLs in input fields, written into the job dir) and output files
// (what the program writes to the output dir: inline below a size limit, else uploaded through the job's
// s3Config with a SigV4-signed PUT — hand-written because the adapter is stdlib-only; it is the one request
// the AWS SDK would make).

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// MaxInputFileBytes bounds one downloaded input file.
const MaxInputFileBytes = 1 << 30

// materialise writes each declared input file into dir and replaces the field's value with the file's path,
// so templates ({input.image}) and stdin see the path. A missing field is left missing.
func materialise(ctx context.Context, input any, files []InputFile, dir string) (any, error) {
	m, ok := input.(map[string]any)
	if !ok {
		return input, nil
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o777)
	for _, f := range files {
		v, ok := m[f.Field]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("input.%s must be a string (base64, a data: URL or an http(s) URL) to become a file", f.Field)
		}
		var data []byte
		var err error
		switch {
		case strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://"):
			data, err = download(ctx, s)
		case strings.HasPrefix(s, "data:"):
			comma := strings.IndexByte(s, ',')
			if comma < 0 || !strings.HasSuffix(s[:comma], ";base64") {
				return nil, fmt.Errorf("input.%s: a data: URL must be base64 (data:<type>;base64,<data>)", f.Field)
			}
			data, err = decodeBase64(s[comma+1:])
		default:
			data, err = decodeBase64(s)
		}
		if err != nil {
			return nil, fmt.Errorf("input.%s: %v", f.Field, err)
		}
		p := filepath.Join(dir, f.Name)
		if err := os.WriteFile(p, data, 0o666); err != nil {
			return nil, err
		}
		m[f.Field] = p
	}
	return m, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("is not base64, a data: URL or an http(s) URL")
}

func download(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download failed: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return nil, fmt.Errorf("download of %s answered %d", u, res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, MaxInputFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxInputFileBytes {
		return nil, fmt.Errorf("download of %s is over %d bytes", u, MaxInputFileBytes)
	}
	return b, nil
}

type outFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Base64 string `json:"base64,omitempty"`
	URL    string `json:"url,omitempty"`
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key,omitempty"`
}

// collectFiles: {"files":[{name,size,base64}]} when they fit inline; else uploaded with the job's s3Config
// ({"files":[{name,size,url,bucket,key}]}); else OutputTooLarge.
func (r *CommandRunner) collectFiles(ctx context.Context, job *Job, outDir string) Result {
	var files []outFile
	var total int64
	err := filepath.WalkDir(outDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(outDir, p)
		files = append(files, outFile{Name: filepath.ToSlash(rel), Size: info.Size()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return r.fail("OutputError", "cannot read the output dir: "+err.Error(), "", nil)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	limit := r.Spec.Output.InlineLimitBytes
	if total <= limit {
		for i := range files {
			b, err := os.ReadFile(filepath.Join(outDir, files[i].Name))
			if err != nil {
				return r.fail("OutputError", err.Error(), "", nil)
			}
			files[i].Base64 = base64.StdEncoding.EncodeToString(b)
		}
		return Result{Output: map[string]any{"files": nonNil(files)}}
	}
	if job.S3Config == nil || job.S3Config.BucketName == "" {
		return r.fail("OutputTooLarge", fmt.Sprintf("the output files are %d bytes, over output.inlineLimitBytes (%d): give the job an s3Config to upload them", total, limit), "", nil)
	}
	for i := range files {
		key := job.ID + "/" + files[i].Name
		u, err := job.S3Config.Put(ctx, key, filepath.Join(outDir, files[i].Name))
		if err != nil {
			return r.fail("UploadFailed", fmt.Sprintf("uploading %s: %v", files[i].Name, err), "", nil)
		}
		files[i].URL, files[i].Bucket, files[i].Key = u, job.S3Config.BucketName, key
	}
	return Result{Output: map[string]any{"files": files}}
}

func nonNil(f []outFile) []outFile {
	if f == nil {
		return []outFile{}
	}
	return f
}

// S3Config is RunPod's per-job bucket (the keys runpod-python's upload helpers read).
type S3Config struct {
	AccessID     string `json:"accessId"`
	AccessSecret string `json:"accessSecret"`
	BucketName   string `json:"bucketName"`
	EndpointURL  string `json:"endpointUrl"`
	Region       string `json:"region,omitempty"`
}

// Put uploads one file (path-style URL: <endpointUrl>/<bucket>/<key>) and returns its URL.
func (c *S3Config) Put(ctx context.Context, key, file string) (string, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	if c.EndpointURL == "" {
		return "", fmt.Errorf("s3Config.endpointUrl is required")
	}
	base, err := url.Parse(strings.TrimRight(c.EndpointURL, "/"))
	if err != nil {
		return "", fmt.Errorf("s3Config.endpointUrl: %v", err)
	}
	escaped := make([]string, 0)
	for _, seg := range strings.Split(c.BucketName+"/"+key, "/") {
		escaped = append(escaped, s3Escape(seg))
	}
	u := *base
	u.Path = base.Path + "/" + c.BucketName + "/" + key
	u.RawPath = base.EscapedPath() + "/" + strings.Join(escaped, "/")
	req, err := http.NewRequestWithContext(ctx, "PUT", u.String(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	signV4(req, body, c.AccessID, c.AccessSecret, region, time.Now().UTC())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
	if res.StatusCode >= 300 {
		return "", fmt.Errorf("PUT %s answered %d: %s", u.Redacted(), res.StatusCode, text)
	}
	return u.String(), nil
}

func s3Escape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// signV4 adds AWS Signature Version 4 headers (service s3, signed payload hash).
func signV4(req *http.Request, body []byte, accessKey, secret, region string, now time.Time) {
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	amzDate := now.Format("20060102T150405Z")
	day := now.Format("20060102")
	req.Header.Set("x-amz-date", amzDate)
	req.Header.Set("x-amz-content-sha256", payloadHash)
	host := req.URL.Host
	canonicalHeaders := "host:" + host + "\nx-amz-content-sha256:" + payloadHash + "\nx-amz-date:" + amzDate + "\n"
	signed := "host;x-amz-content-sha256;x-amz-date"
	canonical := strings.Join([]string{req.Method, req.URL.EscapedPath(), req.URL.RawQuery, canonicalHeaders, signed, payloadHash}, "\n")
	ch := sha256.Sum256([]byte(canonical))
	scope := day + "/" + region + "/s3/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(ch[:])
	k := hmacSHA256([]byte("AWS4"+secret), day)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, "s3")
	k = hmacSHA256(k, "aws4_request")
	sig := hex.EncodeToString(hmacSHA256(k, toSign))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/"+scope+", SignedHeaders="+signed+", Signature="+sig)
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}
