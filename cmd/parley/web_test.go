package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/parley-im/parley/api"
)

// TestWebLogout: `parley web logout` signs out every browser that logged in with a
// link of `parley open`, and the links not used yet stop working.
func TestWebLogout(t *testing.T) {
	n := startNode(t, "Ann")
	link := openLink(t, n)
	token := webLogin(t, link)
	unused := openLink(t, n)
	if status := webStatus(t, link, token); status != http.StatusOK {
		t.Fatalf("the web session before logout: %d, want 200", status)
	}
	wantOutput(t, n.parley(t, nil, "web", "logout"), 0, []string{"ended 1 web session"}, nil)
	if status := webStatus(t, link, token); status != http.StatusUnauthorized {
		t.Errorf("the web session after logout: %d, want 401", status)
	}
	if status := webExchange(t, unused).StatusCode; status != http.StatusForbidden {
		t.Errorf("a login link from before the logout: %d, want 403", status)
	}
	wantOutput(t, n.parley(t, nil, "web", "logout"), 0, []string{"ended 0 web sessions"}, nil)
	wantOutput(t, n.parley(t, nil, "web", "logout", "now"), 2, nil, []string{"no arguments"})
	wantOutput(t, n.parley(t, nil, "web", "nope"), 2, nil, []string{"parley web logout"})
}

func openLink(t *testing.T, n *node) string {
	t.Helper()
	r := n.parley(t, nil, "open", "--no-browser")
	if r.code != 0 || !strings.Contains(r.stdout, "/#login=") {
		t.Fatalf("parley open: %s", r)
	}
	return strings.TrimSpace(r.stdout)
}

// webExchange trades the link's code for a session, as the page does.
func webExchange(t *testing.T, link string) *http.Response {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(api.WebSessionRequest{Code: strings.TrimPrefix(u.Fragment, "login=")})
	req, _ := http.NewRequest("POST", "http://"+u.Host+api.PathWebSession, bytes.NewReader(body))
	req.Header.Set(api.CSRFHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func webLogin(t *testing.T, link string) (token string) {
	t.Helper()
	var s api.WebSession
	if resp := webExchange(t, link); resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil {
		t.Fatalf("login with %s: %s", link, resp.Status)
	}
	return s.Token
}

// webStatus is the status of GET /v1/status with a web session, at the link's node.
func webStatus(t *testing.T, link, token string) int {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+u.Host+api.PathStatus, nil)
	req.Header.Set(api.SessionHeader, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
