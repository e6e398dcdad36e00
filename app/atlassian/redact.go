package atlassian

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// sensitiveParams are query parameters whose values are credentials: the
// Connect JWT travels as ?jwt=, OAuth flows use the others.
var sensitiveParams = map[string]bool{
	"jwt": true, "token": true, "access_token": true, "id_token": true, "refresh_token": true,
	"api_key": true, "apikey": true, "client_secret": true, "signature": true, "sig": true,
}

// jwtShape matches anything that looks like a compact JWS, wherever it comes
// from; Atlassian error pages have been known to echo the token they reject.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)

// minSecretLen keeps scrubbing from redacting every "a" in a message because
// some test passed a one-letter token.
const minSecretLen = 6

// scrubber removes known secrets from text that may reach errors or logs.
type scrubber struct{ secrets []string }

func (s *scrubber) add(v string) {
	if len(v) >= minSecretLen {
		s.secrets = append(s.secrets, v)
	}
}

// scrub replaces every known secret and every JWT-shaped string.
func (s *scrubber) scrub(text string) string {
	for _, secret := range s.secrets {
		text = strings.ReplaceAll(text, secret, redacted)
	}
	return jwtShape.ReplaceAllString(text, redacted)
}

// collectSecrets records what Authorize added to req: every header value it
// set or changed (with the credential part of Authorization and the password
// of Basic auth on their own), every query value it added, and the values of
// sensitive query parameters however they got there.
func collectSecrets(s *scrubber, before http.Header, beforeQuery string, req *http.Request) {
	for name, values := range req.Header {
		if strings.Join(before.Values(name), "\x00") == strings.Join(values, "\x00") {
			continue
		}
		for _, v := range values {
			s.add(v)
			scheme, cred, ok := strings.Cut(v, " ")
			if !ok {
				continue
			}
			s.add(strings.TrimSpace(cred))
			if strings.EqualFold(scheme, "Basic") {
				if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
					if _, pass, ok := strings.Cut(string(raw), ":"); ok {
						s.add(pass)
					}
				}
			}
		}
	}
	old, _ := url.ParseQuery(beforeQuery)
	for k, vs := range req.URL.Query() {
		for _, v := range vs {
			if sensitiveParams[strings.ToLower(k)] || !contains(old[k], v) {
				s.add(v)
				s.add(url.QueryEscape(v))
			}
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// redactURL drops user info, query and fragment: the query may carry jwt=.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparseable url]"
	}
	hadQuery := u.RawQuery != "" || u.ForceQuery
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	if hadQuery {
		return u.String() + "?" + redacted
	}
	return u.String()
}

// sanitizeError rewrites the *url.Error that net/http returns so its URL has
// no query, and scrubs the cause's text. The chain is kept whenever the text
// is already clean, so errors.Is(err, context.DeadlineExceeded) still works.
func sanitizeError(err error, s *scrubber) error {
	if err == nil {
		return nil
	}
	if ue, ok := err.(*url.Error); ok {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: sanitizeError(ue.Err, s)}
	}
	if msg := err.Error(); s.scrub(msg) != msg {
		return errors.New(s.scrub(msg))
	}
	return err
}
