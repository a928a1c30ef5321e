package state

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/nodes/protocol"
)

const benchUsers = 100_000

func benchBolt(b *testing.B, users []protocol.User) *Bolt {
	b.Helper()
	s, err := OpenBolt(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if users != nil {
		if err := s.SaveSnapshot(1, protocol.ComputeStateHash(testConfig, users), testConfig, users); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func BenchmarkSaveSnapshot100k(b *testing.B) {
	users := testUsers(benchUsers)
	hash := protocol.ComputeStateHash(testConfig, users)
	s := benchBolt(b, nil)
	b.ResetTimer()
	for i := range b.N {
		if err := s.SaveSnapshot(int64(i+1), hash, testConfig, users); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadDesired100k(b *testing.B) {
	s := benchBolt(b, testUsers(benchUsers))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		d, ok, err := s.LoadDesired()
		if err != nil || !ok || len(d.Users) != benchUsers {
			b.Fatalf("LoadDesired: %d users, %v, %v", len(d.Users), ok, err)
		}
	}
}

// BenchmarkOpen100k is the agent's cold start: open the file (which loads
// the usage counters) and load the desired state.
func BenchmarkOpen100k(b *testing.B) {
	dir := b.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		b.Fatal(err)
	}
	users := testUsers(benchUsers)
	if err := s.SaveSnapshot(1, protocol.ComputeStateHash(testConfig, users), testConfig, users); err != nil {
		b.Fatal(err)
	}
	s.Close()
	b.ResetTimer()
	for range b.N {
		s, err := OpenBolt(dir)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.LoadDesired(); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

func BenchmarkAppendUsage1k(b *testing.B) {
	users := testUsers(benchUsers)
	s := benchBolt(b, users)
	traffic := make(map[string]Traffic, 1000)
	for i := range 1000 {
		traffic[users[i*(benchUsers/1000)].Email] = Traffic{Up: 123456, Down: 7654321}
	}
	at := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.AppendUsage(at, traffic); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplyDelta1(b *testing.B) {
	users := testUsers(benchUsers)
	s := benchBolt(b, users)
	u := users[benchUsers/2]
	b.ResetTimer()
	for i := range b.N {
		u.Expire = int64(i)
		if err := s.ApplyDelta(int64(i+2), protocol.StateHash{}, nil, []protocol.User{u}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeUsers100k is why records are not JSON.
func BenchmarkDecodeUsers100k(b *testing.B) {
	users := testUsers(benchUsers)
	binRecs := make([][]byte, len(users))
	jsonRecs := make([][]byte, len(users))
	var binSize, jsonSize int
	for i, u := range users {
		binRecs[i] = encodeUser(nil, u)
		jsonRecs[i], _ = json.Marshal(u)
		binSize += len(binRecs[i])
		jsonSize += len(jsonRecs[i])
	}
	for _, c := range []struct {
		name   string
		size   int
		decode func(i int) error
	}{
		{"binary", binSize, func(i int) error { _, err := decodeUser(users[i].Email, binRecs[i]); return err }},
		{"json", jsonSize, func(i int) error { var u protocol.User; return json.Unmarshal(jsonRecs[i], &u) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportMetric(float64(c.size)/benchUsers, "bytes/user")
			for range b.N {
				for i := range users {
					if err := c.decode(i); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
