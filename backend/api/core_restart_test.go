package api_test

import (
	"net/http"
	"testing"
)

func TestCoreRestartIsSudoOnlyAndReachesTheHub(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"anonymous", "", http.StatusUnauthorized},
		{"regular admin", e.token(e.alice), http.StatusForbidden},
		{"sudo", e.token(e.sudo), http.StatusOK},
	} {
		if r := e.do(http.MethodPost, "/api/core/restart", c.token, nil); r.status != c.want {
			t.Errorf("%s: HTTP %d; want %d", c.name, r.status, c.want)
		}
	}
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	if e.hub.restarts != 1 {
		t.Fatalf("hub asked to restart %d times; want 1 (only the sudo call)", e.hub.restarts)
	}
}
