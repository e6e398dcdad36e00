package notify

import (
	"net/url"
	"strings"
	"text/template"
	"time"
)

// WarningData fills the warning e-mail.
type WarningData struct {
	DisplayName string
	SiteURL     string     // e.g. https://acme.atlassian.net
	Product     string     // product key, e.g. "jira-software", "confluence", "jira-servicedesk"
	LastActive  *time.Time // nil: never used the product
	RemovalDue  time.Time  // the day access will be removed
}

// productNames maps Atlassian product keys to the names people know; the keys
// themselves mean nothing to the recipient. Jira Software and Jira Work
// Management are both sold as "Jira" today.
var productNames = map[string]string{
	"jira":                   "Jira",
	"jira-software":          "Jira",
	"jira-core":              "Jira",
	"jira-work-management":   "Jira",
	"jira-servicedesk":       "Jira Service Management",
	"jira-service-desk":      "Jira Service Management",
	"jira-product-discovery": "Jira Product Discovery",
	"confluence":             "Confluence",
}

// dateLayout is unambiguous across locales, unlike 01/02/2006.
const dateLayout = "2 January 2006"

// The e-mail is plain text, so text/template (not html/template) is right: no
// escaping is wanted, and header safety is go-mail's job.
var (
	warningSubject = template.Must(template.New("subject").Parse(
		`Your access to {{.Product}} on {{.Site}} will be removed on {{.Due}}`))
	warningBody = template.Must(template.New("body").Parse(`Hello{{with .Name}} {{.}}{{end}},

Your access to {{.Product}} on {{.SiteURL}} will be removed on {{.Due}} because {{if .Since}}it has not been used since {{.Since}}{{else}}it has never been used{{end}}.

To keep your access, sign in to {{.SiteURL}} and use {{.Product}} before {{.Due}}. Nothing else is needed.

If you no longer need {{.Product}}, you can ignore this e-mail; your administrators can give you access again later.

This automatic message was sent by Lapse on behalf of the administrators of {{.Site}}.
`))
)

// WarningEmail renders the warning e-mail for one account (plain text via text/template; product keys mapped to
// human names like "Jira", "Jira Service Management", "Confluence", unknown keys shown as is; dates as "2 January 2006" UTC).
// It tells the person that their access to <Product> on <SiteURL> will be removed on <date> because it has not been used
// since <date> (or: has never been used), and that signing in and using the product before that date keeps their access.
func WarningEmail(to, toName string, d WarningData) Message {
	product := d.Product
	if name, ok := productNames[strings.ToLower(product)]; ok {
		product = name
	}
	// The subject names the bare host: it is shorter and people recognise it.
	site := d.SiteURL
	if u, err := url.Parse(site); err == nil && u.Host != "" {
		site = u.Host
	}
	data := struct{ Name, Product, SiteURL, Site, Due, Since string }{
		Name: strings.TrimSpace(d.DisplayName), Product: product, SiteURL: d.SiteURL, Site: site,
		Due: d.RemovalDue.UTC().Format(dateLayout),
	}
	if d.LastActive != nil {
		data.Since = d.LastActive.UTC().Format(dateLayout)
	}
	return Message{To: to, ToName: toName, Subject: render(warningSubject, data), Text: render(warningBody, data)}
}

// render executes t. The data is a struct of strings written to a
// strings.Builder, so execution cannot fail; a failure is a bug in the
// template itself and panics in every test.
func render(t *template.Template, data any) string {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		panic("notify: " + err.Error())
	}
	return b.String()
}
