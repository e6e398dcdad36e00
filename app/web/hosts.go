package web

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// hostAllowList decides which tenant base URLs Lapse accepts in a signed
// install. The key host is chosen from the (not yet verified) baseUrl, and
// later every outbound call goes there, so an unknown host is refused before
// anything is fetched.
type hostAllowList struct {
	patterns [][]string // each pattern split into DNS labels
	exact    map[string]bool
}

func newHostAllowList(globs []string) (hostAllowList, error) {
	l := hostAllowList{exact: map[string]bool{}}
	for _, g := range globs {
		g = strings.ToLower(strings.TrimSpace(g))
		if g == "" {
			continue
		}
		labels := strings.Split(g, ".")
		for _, lab := range labels {
			if _, err := path.Match(lab, "x"); err != nil || lab == "" {
				return l, fmt.Errorf("web: allowed host %q is not a valid host pattern", g)
			}
		}
		if !strings.Contains(g, "*") {
			l.exact[g] = true
		}
		l.patterns = append(l.patterns, labels)
	}
	return l, nil
}

// allowedHostsVar is the setting that fills the allow-list (cmd/lapse),
// named in refusals so an operator knows what to change.
const allowedHostsVar = "LAPSE_ALLOWED_HOSTS"

// check returns nil when rawURL is a URL Lapse may treat as a tenant site,
// else why not, in words for the operator's log. Allowed: https on the
// default port (no port in the URL) on an allowed host; any port, and plain
// http, only on a loopback host that the list names exactly (a local
// simulated site), never by a wildcard. Atlassian sites never carry a port,
// so a port is either a mistake or a signed install rebound to another
// service on the same host.
func (l hostAllowList) check(rawURL string) error {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil || u.Host == "":
		return errors.New("baseUrl is not an absolute URL")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("baseUrl carries user info, a query or a fragment")
	}
	host := strings.ToLower(u.Hostname())
	if isLoopback(host) && l.exact[host] {
		if u.Scheme != "https" && u.Scheme != "http" {
			return fmt.Errorf("baseUrl scheme %q is not http or https", u.Scheme)
		}
		return nil
	}
	switch {
	case u.Scheme != "https":
		return fmt.Errorf("baseUrl must use https (plain http only for a loopback host listed exactly in %s)", allowedHostsVar)
	case hasPort(u.Host):
		return fmt.Errorf("baseUrl must not name a port (another port only for a loopback host listed exactly in %s)", allowedHostsVar)
	case !l.matches(host):
		return fmt.Errorf("host %q matches no pattern in %s", host, allowedHostsVar)
	}
	return nil
}

// hasPort reports whether a URL host names a port, even an empty one
// ("host:"), which url.URL.Port does not report.
func hasPort(host string) bool {
	return strings.LastIndex(host, ":") > strings.LastIndex(host, "]")
}

func (l hostAllowList) matches(host string) bool {
	labels := strings.Split(host, ".")
	for _, p := range l.patterns {
		if len(p) != len(labels) {
			continue
		}
		ok := true
		for i := range p {
			if m, _ := path.Match(p[i], labels[i]); !m {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// frameAncestors renders the allow-list as a CSP frame-ancestors source
// list, so the admin page can be framed only by allowed sites.
func (l hostAllowList) frameAncestors() string {
	var out []string
	for _, p := range l.patterns {
		host := strings.Join(p, ".")
		if isLoopback(host) {
			out = append(out, "http://"+host+":*")
			continue
		}
		out = append(out, "https://"+host)
	}
	return strings.Join(out, " ")
}
