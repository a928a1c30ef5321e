package webhook

import "testing"

// A fleet alert reads as its own sentence in a chat, fired and resolved.
func TestChatLineOfAlerts(t *testing.T) {
	for payload, want := range map[string]string{
		`{"action":"alert.fired","rule":"node_offline","target":"node de-1","message":"node de-1 offline for 6m (threshold 5m)"}`: "🚨 Alert: node de-1 offline for 6m (threshold 5m)",
		`{"action":"alert.resolved","rule":"node_offline","target":"node de-1","message":"node de-1 is back online"}`:             "✅ Resolved: node de-1 is back online",
		`{"action":"alert.fired","rule":"cert_expiry","target":"the panel"}`:                                                      "🚨 Alert: the panel",
	} {
		if got := chatLine([]byte(payload)); got != want {
			t.Errorf("chatLine(%s) = %q, want %q", payload, got, want)
		}
	}
}
