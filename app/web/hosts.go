package web

import (
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

// allows reports whether rawURL is a URL Lapse may treat as a tenant site:
// https on an allowed host, or plain http only on a loopback host that the
// list names exactly (a local simulated site), never by a wildcard.
func (l hostAllowList) allows(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(host) || !l.exact[host] {
			return false
		}
	default:
		return false
	}
	return l.matches(host)
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
