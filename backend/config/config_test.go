package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func parseWith(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	return Parse(args, func(k string) string { return env[k] }, io.Discard)
}

// Marzban's recurrent notification settings configure webhook retries
// under their own names: the count as is, the timeout in seconds (its
// form) or as a duration.
func TestWebhookRetrySettings(t *testing.T) {
	c, err := parseWith(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.WebhookRetries != 3 || c.WebhookRetryInterval != 180*time.Second {
		t.Fatalf("defaults %d, %s; want Marzban's 3 and 180s", c.WebhookRetries, c.WebhookRetryInterval)
	}
	for _, tc := range []struct {
		env      map[string]string
		args     []string
		retries  int
		interval time.Duration
	}{
		{map[string]string{"NUMBER_OF_RECURRENT_NOTIFICATIONS": "5", "RECURRENT_NOTIFICATIONS_TIMEOUT": "60"}, nil, 5, time.Minute},
		{map[string]string{"NUMBER_OF_RECURRENT_NOTIFICATIONS": "0", "RECURRENT_NOTIFICATIONS_TIMEOUT": "2m30s"}, nil, 0, 150 * time.Second},
		{map[string]string{"NUMBER_OF_RECURRENT_NOTIFICATIONS": "5"}, []string{"--webhook-retries", "7", "--webhook-retry-interval", "90"}, 7, 90 * time.Second},
		// A flag wins over its variable, even one that does not parse.
		{map[string]string{"RECURRENT_NOTIFICATIONS_TIMEOUT": "soon"}, []string{"--webhook-retry-interval=10s"}, 3, 10 * time.Second},
	} {
		c, err := parseWith(t, tc.args, tc.env)
		if err != nil {
			t.Fatalf("%v %v: %v", tc.env, tc.args, err)
		}
		if c.WebhookRetries != tc.retries || c.WebhookRetryInterval != tc.interval {
			t.Errorf("%v %v: %d, %s; want %d, %s", tc.env, tc.args, c.WebhookRetries, c.WebhookRetryInterval, tc.retries, tc.interval)
		}
	}
}

// Every value that does not parse or is out of range is reported, all at
// once, naming the variable.
func TestBadValuesAreReportedTogether(t *testing.T) {
	_, err := parseWith(t, nil, map[string]string{
		"NUMBER_OF_RECURRENT_NOTIFICATIONS": "three",
		"RECURRENT_NOTIFICATIONS_TIMEOUT":   "soon",
		"NOTIFY_DAYS_LEFT":                  "-1",
		"PANEL_REVIEW_INTERVAL":             "10",
		"PANEL_LOCAL_NODE":                  "perhaps",
	})
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, want := range []string{
		`NUMBER_OF_RECURRENT_NOTIFICATIONS="three": not an integer`,
		`RECURRENT_NOTIFICATIONS_TIMEOUT="soon": not a number of seconds nor a duration`,
		"NOTIFY_DAYS_LEFT must not be negative",
		`PANEL_REVIEW_INTERVAL="10": not a duration`,
		`PANEL_LOCAL_NODE="perhaps": not a boolean`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for env, want := range map[string]string{
		"NUMBER_OF_RECURRENT_NOTIFICATIONS": "-1",
		"RECURRENT_NOTIFICATIONS_TIMEOUT":   "0",
	} {
		if _, err := parseWith(t, nil, map[string]string{env: want}); err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=%s: %v", env, want, err)
		}
	}
	if _, err := parseWith(t, []string{"--webhook-retry-interval", "500ms"}, nil); err == nil {
		t.Error("a retry interval under a second accepted")
	}
}

// Marzban's chat settings under their own names: the chats Telegram
// events go to need the bot token, and every bad value is named.
func TestChatNotificationSettings(t *testing.T) {
	c, err := parseWith(t, nil, map[string]string{
		"TELEGRAM_API_TOKEN": "123:abc", "TELEGRAM_ADMIN_ID": "111, 222", "TELEGRAM_LOGGER_CHANNEL_ID": "-100333",
		"DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.TelegramToken != "123:abc" || len(c.TelegramAdminIDs) != 2 || c.TelegramAdminIDs[1] != 222 || c.TelegramChannelID != -100333 ||
		c.DiscordWebhookURL != "https://discord.com/api/webhooks/1/x" || c.TelegramAPIURL != "https://api.telegram.org" {
		t.Fatalf("parsed %+v", c)
	}
	_, err = parseWith(t, nil, map[string]string{
		"TELEGRAM_ADMIN_ID": "111,me", "DISCORD_WEBHOOK_URL": "discord.com/x", "TELEGRAM_API_URL": "api.telegram.org",
	})
	if err == nil {
		t.Fatal("bad chat settings accepted")
	}
	for _, want := range []string{
		`TELEGRAM_ADMIN_ID: "me" is not a chat id`,
		"DISCORD_WEBHOOK_URL must be an absolute http(s) URL",
		"TELEGRAM_ADMIN_ID and TELEGRAM_LOGGER_CHANNEL_ID need TELEGRAM_API_TOKEN",
		"TELEGRAM_API_URL must be an absolute http(s) URL",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := parseWith(t, nil, nil)
	if err != nil || len(c.TrustedProxies) != 0 {
		t.Fatalf("default %v, %v: want nobody trusted", c.TrustedProxies, err)
	}
	c, err = parseWith(t, nil, map[string]string{"PANEL_TRUSTED_PROXIES": " 127.0.0.1, 10.0.0.0/8,fd00::/8 ,"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.TrustedProxies, " "); got != "127.0.0.1 10.0.0.0/8 fd00::/8" {
		t.Fatalf("from the environment: %q", got)
	}
	c, err = parseWith(t, []string{"--trusted-proxies", "192.0.2.1"}, map[string]string{"PANEL_TRUSTED_PROXIES": "10.0.0.0/8"})
	if err != nil || strings.Join(c.TrustedProxies, " ") != "192.0.2.1" {
		t.Fatalf("the flag wins over the variable: %v, %v", c.TrustedProxies, err)
	}
	// Every bad entry is named, with the other configuration errors.
	_, err = parseWith(t, []string{"--trusted-proxies", "proxy.example, 10.0.0.0/33,fe80::1%eth0", "--token-ttl", "0s"}, nil)
	if err == nil {
		t.Fatal("bad trusted proxies accepted")
	}
	for _, want := range []string{`"proxy.example" is not an IP address or CIDR`, `"10.0.0.0/33"`, `"fe80::1%eth0"`, "token-ttl must be positive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestSnapshotWriters: 8 by default, from the flag or the environment,
// and a count outside 1..256 is refused by name.
func TestSnapshotWriters(t *testing.T) {
	c, err := parseWith(t, nil, nil)
	if err != nil || c.SnapshotWriters != 8 {
		t.Fatalf("default %d, %v: want 8", c.SnapshotWriters, err)
	}
	c, err = parseWith(t, nil, map[string]string{"PANEL_SNAPSHOT_WRITERS": "3"})
	if err != nil || c.SnapshotWriters != 3 {
		t.Fatalf("from the environment: %d, %v", c.SnapshotWriters, err)
	}
	for _, bad := range []string{"0", "-1", "257"} {
		if _, err := parseWith(t, []string{"--snapshot-writers", bad}, nil); err == nil || !strings.Contains(err.Error(), "snapshot-writers must be 1..256") {
			t.Errorf("--snapshot-writers %s: %v", bad, err)
		}
	}
}

// TestDBMaxConns: 16 by default, from the flag or the environment, and a
// count outside 2..200 is refused by name.
func TestDBMaxConns(t *testing.T) {
	c, err := parseWith(t, nil, nil)
	if err != nil || c.DBMaxConns != 16 {
		t.Fatalf("default %d, %v: want 16", c.DBMaxConns, err)
	}
	c, err = parseWith(t, nil, map[string]string{"PANEL_DB_MAX_CONNS": "40"})
	if err != nil || c.DBMaxConns != 40 {
		t.Fatalf("from the environment: %d, %v", c.DBMaxConns, err)
	}
	c, err = parseWith(t, []string{"--db-max-conns", "8"}, nil)
	if err != nil || c.DBMaxConns != 8 {
		t.Fatalf("from the flag: %d, %v", c.DBMaxConns, err)
	}
	for _, bad := range []string{"0", "1", "201", "-5"} {
		if _, err := parseWith(t, []string{"--db-max-conns", bad}, nil); err == nil || !strings.Contains(err.Error(), "db-max-conns must be 2..200") {
			t.Errorf("--db-max-conns %s: %v", bad, err)
		}
	}
}

// Marzban's USE_CUSTOM_JSON_* variables are read as Marzban reads them
// (true/1/yes/on and their opposites, any case); unset ones are absent so
// the stored setting holds; a value that is no boolean is reported with
// the other problems.
func TestCustomJSONVariables(t *testing.T) {
	c, err := parseWith(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CustomJSON) != 0 {
		t.Fatalf("nothing set, got %v", c.CustomJSON)
	}
	for v, want := range map[string]bool{
		"true": true, "True": true, "TRUE": true, "1": true, "yes": true, "Yes": true, "on": true, "y": true, "t": true, " true ": true,
		"false": false, "False": false, "0": false, "no": false, "off": false, "OFF": false, "n": false, "f": false,
	} {
		for _, name := range CustomJSONVars {
			c, err := parseWith(t, nil, map[string]string{name: v})
			if err != nil {
				t.Fatalf("%s=%q: %v", name, v, err)
			}
			got, set := c.CustomJSON[name]
			if !set || got != want || len(c.CustomJSON) != 1 {
				t.Errorf("%s=%q: %v, want only %s=%v", name, v, c.CustomJSON, name, want)
			}
		}
	}
	c, err = parseWith(t, nil, map[string]string{"USE_CUSTOM_JSON_FOR_HAPP": "1", "USE_CUSTOM_JSON_FOR_V2RAYN": "false", "USE_CUSTOM_JSON_FOR_STREISAND": ""})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CustomJSON) != 2 || !c.CustomJSON["USE_CUSTOM_JSON_FOR_HAPP"] || c.CustomJSON["USE_CUSTOM_JSON_FOR_V2RAYN"] {
		t.Fatalf("%v", c.CustomJSON)
	}
	_, err = parseWith(t, nil, map[string]string{"USE_CUSTOM_JSON_FOR_V2RAYNG": "enabled", "USE_CUSTOM_JSON_DEFAULT": "2", "NOTIFY_DAYS_LEFT": "-1"})
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, want := range []string{`USE_CUSTOM_JSON_FOR_V2RAYNG="enabled"`, `USE_CUSTOM_JSON_DEFAULT="2"`, "NOTIFY_DAYS_LEFT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
