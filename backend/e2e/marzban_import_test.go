package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/migrate/marzban/marzbantest"
)

// TestMarzbanImportKeepsLinks moves a Marzban database into a panel with
// the panel binary's import command, starts the panel on it, and checks
// what an operator switching panels needs: Marzban's admins log in with
// their passwords, and the subscription links Marzban handed out answer
// with the right user (a revoked one still does not).
func TestMarzbanImportKeepsLinks(t *testing.T) {
	dataDir := t.TempDir()
	// The panel bootstraps its database (core config, secrets) once.
	p := startPanel(t, dataDir, "")
	p.stop()

	from := filepath.Join(t.TempDir(), "db.sqlite3")
	marzbantest.WriteDB(t, from)
	out, err := exec.Command(filepath.Join(binDir, "panel"), "import", "marzban", "--from", from, "--data-dir", dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "imported: 2 admins, 4 users") {
		t.Fatalf("import said:\n%s", out)
	}

	p = startPanel(t, dataDir, "")
	resp, err := http.PostForm(p.url()+"/api/admin/token", url.Values{"username": {"reseller"}, "password": {marzbantest.AdminPassword}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("reseller login with the Marzban password: HTTP %d (%v)", resp.StatusCode, err)
	}
	p.token = tok.AccessToken
	var page struct {
		Users []struct {
			Username string `json:"username"`
		} `json:"users"`
		Total int `json:"total"`
	}
	p.mustCall(t, "GET", "/api/users", nil, &page)
	if page.Total != 2 { // alice and dave are the reseller's
		t.Errorf("the reseller sees %d users, want 2", page.Total)
	}

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(p.url() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	created := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	code, body := get("/sub/" + marzbantest.Token("alice", created.Add(24*time.Hour), marzbantest.Secret) + "/info")
	if code != 200 || !strings.Contains(body, `"username":"alice"`) {
		t.Fatalf("alice's Marzban link: HTTP %d %s", code, body)
	}
	code, body = get("/sub/" + marzbantest.Token("alice", created.Add(24*time.Hour), marzbantest.Secret) + "/v2ray")
	if code != 200 || body == "" {
		t.Fatalf("alice's Marzban link, v2ray: HTTP %d %q", code, body)
	}
	// Marzban signs the username as it was typed; the user is "dave" here.
	code, body = get("/sub/" + marzbantest.Token("Dave", time.Date(2024, 7, 3, 0, 0, 0, 0, time.UTC), marzbantest.Secret) + "/info")
	if code != 200 || !strings.Contains(body, `"username":"dave"`) {
		t.Errorf("Dave's Marzban link: HTTP %d %s", code, body)
	}
	if code, _ := get("/sub/" + marzbantest.Token("bob_2", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), marzbantest.Secret) + "/info"); code != 404 {
		t.Errorf("bob's link from before his revocation: HTTP %d, want 404", code)
	}
	if code, _ := get("/sub/" + marzbantest.Token("alice", created.Add(time.Hour), "another-secret") + "/info"); code != 404 {
		t.Errorf("a token signed with another secret: HTTP %d, want 404", code)
	}
}
