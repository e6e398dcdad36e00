package devsite

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app/connect"
)

// Personal data reporting API (DOMAIN §5).
const (
	// ReportAccountsPath is the reporting endpoint under the site's base URL,
	// as under https://api.atlassian.com. @forge/api posts to the path
	// without the trailing slash, the documentation shows it with one: both
	// are served.
	ReportAccountsPath = "/app/report-accounts/"
	// ReportAccountsMax is the most accounts one request may report.
	ReportAccountsMax = 90
	// CyclePeriod is the reporting cycle the site announces in the
	// Cycle-Period header: report an account at most once per cycle.
	CyclePeriod = "P7D"
	// cycle is CyclePeriod as a duration. An account whose data was fetched
	// longer than one cycle ago is answered "updated": the simulated org keeps
	// no profile change times, so staleness stands in for "changed since".
	cycle = 7 * 24 * time.Hour
)

// Test account ids from Atlassian's privacy guide: the closed one is always
// answered "closed", whichever org the site simulates (DOMAIN §5).
const (
	PrivacyTestActiveAccount = "5be24ad8b1653240376955d2"
	PrivacyTestClosedAccount = "5be24ba3f91c106033269289"
)

// privacyRoutes registers the personal data reporting API. It is not a site
// route: it lives at the API host, outside any site, with its own
// authentication (authPrivacy).
func (s *Server) privacyRoutes() {
	h := func(w http.ResponseWriter, r *http.Request) {
		c := &call{API: APIPrivacy, Endpoint: "POST " + ReportAccountsPath}
		if !s.authPrivacy(w, r, c) {
			s.count(c, http.StatusUnauthorized)
			return
		}
		s.serve(w, r, c, s.handleReportAccounts)
	}
	s.mux.HandleFunc("POST "+ReportAccountsPath+"{$}", h)
	s.mux.HandleFunc("POST "+strings.TrimSuffix(ReportAccountsPath, "/"), h)
}

// authPrivacy accepts the two app credentials Lapse can hold:
//
//   - a Forge system token (Bearer) the site minted and that has not
//     expired: the documented path for Forge and OAuth apps (any valid app
//     token works, DOMAIN §5);
//   - a Connect JWT whose iss is the key of an app installed in some site,
//     HS256-signed with the shared secret of one of that app's installations
//     and carrying the exact qsh of this request (no base path to strip).
//
// The Connect path is an assumption: DOMAIN §8.7 records that the exact
// URL and authentication for Connect apps are unverified ("Connect apps
// call it in the app context with JWT"). The client keeps the reporting
// call behind one Auth so either answer can be plugged in. The org API key
// is refused, as everywhere outside the Admin API.
func (s *Server) authPrivacy(w http.ResponseWriter, r *http.Request, c *call) bool {
	h := r.Header.Get("Authorization")
	var ok bool
	switch {
	case strings.HasPrefix(h, "JWT "):
		ok = s.authPrivacyConnect(r, c, strings.TrimPrefix(h, "JWT "))
	case strings.HasPrefix(h, "Bearer "):
		ok = s.authPrivacyForge(c, strings.TrimPrefix(h, "Bearer "))
	}
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": http.StatusUnauthorized, "message": "Unauthorized"})
	}
	return ok
}

func (s *Server) authPrivacyForge(c *call, token string) bool {
	now := s.now()
	s.mu.Lock()
	fi := s.forgeTokens[token]
	s.mu.Unlock()
	if fi == nil || now.After(fi.Expires) {
		return false
	}
	c.Caller = caller{Kind: CallerForge, ID: fi.InstallationID, Tenant: fi.Site.Name + "|" + fi.Product + "|forge:" + fi.InstallationID}
	return true
}

func (s *Server) authPrivacyConnect(r *http.Request, c *call, token string) bool {
	iss, err := connect.PeekIssuer(token)
	if err != nil {
		return false
	}
	for _, secret := range s.appSecrets(iss) {
		claims := jwt.MapClaims{}
		_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt()).
			ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil })
		if err != nil {
			continue
		}
		if qsh, _ := claims["qsh"].(string); qsh != connect.RequestQSH(r, "") {
			return false
		}
		c.Caller = caller{Kind: CallerConnect, ID: iss, Tenant: "privacy|" + iss}
		return true
	}
	return false
}

// appSecrets returns the shared secrets of every installation of appKey.
func (s *Server) appSecrets(appKey string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, in := range s.installs {
		if in.AppKey == appKey && in.Install != nil {
			out = append(out, in.Install.SharedSecret)
		}
	}
	return out
}

// reportedAccount is one entry of a report-accounts request.
type reportedAccount struct {
	AccountID string `json:"accountId"`
	UpdatedAt string `json:"updatedAt"`
}

// accountStatus is one entry of a report-accounts answer.
type accountStatus struct {
	AccountID string `json:"accountId"`
	Status    string `json:"status"` // "closed" or "updated"
}

// handleReportAccounts answers a report: 200 with the accounts that need
// action (closed → erase, updated → refresh), or 204 when none does. Both
// carry Cycle-Period.
func (s *Server) handleReportAccounts(w http.ResponseWriter, r *http.Request, c *call) {
	var req struct {
		Accounts []reportedAccount `json:"accounts"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		privacyError(w, http.StatusBadRequest, "The request body is not valid JSON.")
		return
	}
	if msg := checkReport(req.Accounts); msg != "" {
		privacyError(w, http.StatusBadRequest, msg)
		return
	}
	out := s.accountsNeedingAction(req.Accounts)
	w.Header().Set("Cycle-Period", CyclePeriod)
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
}

func privacyError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"code": status, "message": msg})
}

// checkReport returns why a report is invalid, or "".
func checkReport(accounts []reportedAccount) string {
	switch {
	case len(accounts) == 0:
		return "accounts must hold at least one account."
	case len(accounts) > ReportAccountsMax:
		return "accounts must hold at most 90 accounts."
	}
	for _, a := range accounts {
		if a.AccountID == "" {
			return "Every account needs an accountId."
		}
		if _, err := time.Parse(time.RFC3339, a.UpdatedAt); err != nil {
			return "updatedAt of " + a.AccountID + " is not an RFC 3339 time."
		}
	}
	return ""
}

// accountsNeedingAction returns, in request order and once per account, the
// accounts whose data must be erased or refreshed. Accounts the org does not
// know need nothing: they may exist elsewhere in Atlassian.
func (s *Server) accountsNeedingAction(accounts []reportedAccount) []accountStatus {
	stale := s.now().Add(-cycle)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []accountStatus{}
	seen := map[string]bool{}
	for _, a := range accounts {
		if seen[a.AccountID] {
			continue
		}
		seen[a.AccountID] = true
		u := s.org.User(a.AccountID)
		updated, _ := time.Parse(time.RFC3339, a.UpdatedAt)
		switch {
		case a.AccountID == PrivacyTestClosedAccount || (u != nil && u.AccountStatus == "closed"):
			out = append(out, accountStatus{a.AccountID, "closed"})
		case (u != nil || a.AccountID == PrivacyTestActiveAccount) && updated.Before(stale):
			out = append(out, accountStatus{a.AccountID, "updated"})
		}
	}
	return out
}
