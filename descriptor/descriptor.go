// Package descriptor embeds Lapse's Atlassian app descriptors: the Connect
// descriptor template (atlassian-connect.json) and the Forge manifest
// (manifest.yml). It is a leaf package because //go:embed cannot reach parent
// folders. See README.md in this folder for the scope choices.
package descriptor

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
)

// FS holds atlassian-connect.json and manifest.yml.
//
//go:embed atlassian-connect.json manifest.yml
var FS embed.FS

// appKeyPattern is the Forge manifest's app.connect.key pattern
// (@forge/manifest schema). A Connect key is at most 64 characters, stricter
// than Forge's 90.
var appKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)

// Connect returns the Connect descriptor with baseUrl and key set to baseURL
// and appKey, as indented JSON ready to serve at /atlassian-connect.json.
//
// baseURL must be an absolute http(s) URL without query or fragment. A
// trailing slash is removed, because every URL in the descriptor is relative to
// baseUrl and starts with "/". The key order of the template is kept.
func Connect(baseURL, appKey string) ([]byte, error) {
	base, err := normalizeBaseURL(baseURL)
	if err != nil {
		return nil, fmt.Errorf("connect descriptor: %w", err)
	}
	if !appKeyPattern.MatchString(appKey) {
		return nil, fmt.Errorf("connect descriptor: app key %q must match %s", appKey, appKeyPattern)
	}

	raw, err := FS.ReadFile("atlassian-connect.json")
	if err != nil {
		return nil, fmt.Errorf("connect descriptor: read template: %w", err)
	}
	out, err := setTopLevel(raw, map[string]string{"baseUrl": base, "key": appKey})
	if err != nil {
		return nil, fmt.Errorf("connect descriptor: %w", err)
	}
	return out, nil
}

func normalizeBaseURL(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("parse base url: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("base url %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("base url %q: missing host", baseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("base url %q: must not contain user info, query or fragment", baseURL)
	}
	return strings.TrimRight(baseURL, "/"), nil
}

// setTopLevel replaces the values of existing top-level string fields of a
// JSON object and re-indents it. It walks the object as a list of raw members
// rather than decoding into a map, so the template's key order (and every
// nested value) survives unchanged.
func setTopLevel(raw []byte, values map[string]string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("parse template: not a JSON object")
	}

	var buf bytes.Buffer
	buf.WriteByte('{')
	seen := make(map[string]bool, len(values))
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("parse template: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("parse template: object key is not a string")
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("parse template field %q: %w", name, err)
		}
		if v, ok := values[name]; ok {
			if seen[name] {
				return nil, fmt.Errorf("parse template: duplicate field %q", name)
			}
			seen[name] = true
			if value, err = json.Marshal(v); err != nil {
				return nil, fmt.Errorf("encode field %q: %w", name, err)
			}
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		nameJSON, err := json.Marshal(name)
		if err != nil {
			return nil, fmt.Errorf("encode field name %q: %w", name, err)
		}
		buf.Write(nameJSON)
		buf.WriteByte(':')
		buf.Write(value)
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse template: trailing data after the object")
	}
	buf.WriteByte('}')
	for name := range values {
		if !seen[name] {
			return nil, fmt.Errorf("parse template: missing field %q", name)
		}
	}

	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("indent: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
