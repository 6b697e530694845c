package webui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestEveryReferenceResolves: each file index.html loads and each module a script
// imports is embedded, so a renamed file cannot leave a blank page.
func TestEveryReferenceResolves(t *testing.T) {
	files := Files()
	index := read(t, files, "index.html")
	refs := regexp.MustCompile(`(?:src|href)="([^"#:]+)"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %d files; want the stylesheet and the app at least", len(refs))
	}
	for _, m := range refs {
		exists(t, files, m[1], "index.html")
	}
	imports := regexp.MustCompile(`from "\./([^"]+)"`)
	scripts, _ := fs.Glob(files, "js/*.js")
	for _, js := range scripts {
		for _, m := range imports.FindAllStringSubmatch(read(t, files, js), -1) {
			exists(t, files, "js/"+m[1], js)
		}
	}
}

// TestEveryElementLookedUpExists: each $("id") in the scripts names an element of
// index.html, so a renamed element fails here rather than throwing in the page.
func TestEveryElementLookedUpExists(t *testing.T) {
	files := Files()
	index := read(t, files, "index.html")
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(index, -1) {
		ids[m[1]] = true
	}
	lookup := regexp.MustCompile(`\$\("([^"]+)"\)`)
	scripts, _ := fs.Glob(files, "js/*.js")
	found := 0
	for _, js := range scripts {
		for _, m := range lookup.FindAllStringSubmatch(read(t, files, js), -1) {
			found++
			if !ids[m[1]] {
				t.Errorf("%s looks up #%s, which index.html does not have", js, m[1])
			}
		}
	}
	if found < 10 {
		t.Fatalf("found %d $(\"id\") look-ups in the scripts; the pattern no longer matches how they look elements up", found)
	}
}

// TestNoInlineScript: the Content-Security-Policy allows only the app's own files, so
// an inline script or handler would silently not run.
func TestNoInlineScript(t *testing.T) {
	index := read(t, Files(), "index.html")
	if regexp.MustCompile(`<script(?:[^>]*)>[^<]+</script>|\son[a-z]+=`).MatchString(index) {
		t.Error("index.html has an inline script or event handler attribute; the CSP blocks it")
	}
}

func TestHandlerHeaders(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("the app may be framed (clickjacking)")
	}
}

func read(t *testing.T, files fs.FS, name string) string {
	t.Helper()
	data, err := fs.ReadFile(files, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(data)
}

func exists(t *testing.T, files fs.FS, name, from string) {
	t.Helper()
	if _, err := fs.Stat(files, name); err != nil {
		t.Errorf("%s refers to %s, which is not embedded: %v", from, name, err)
	}
}
