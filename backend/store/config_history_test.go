package store

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/outpost-panel/outpost/backend/model"
)

func TestConfigHistoryKeepsNewest(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		at := time.Unix(1_800_000_000, 0).UTC()
		var ids []int64
		for i := range ConfigHistoryKept + 3 {
			mustTx(t, s, func(tx *Tx) error {
				id, err := tx.AddConfigVersion("root", []byte(fmt.Sprintf(`{"n":%d}`, i)), at.Add(time.Duration(i)*time.Second))
				ids = append(ids, id)
				return err
			})
		}
		mustRead(t, s, func(tx *Tx) error {
			list, err := tx.ConfigHistory()
			if err != nil {
				return err
			}
			if len(list) != ConfigHistoryKept || list[0].ID != ids[len(ids)-1] || list[len(list)-1].ID != ids[3] {
				t.Fatalf("kept %d, newest %d, oldest %d; ids %v", len(list), list[0].ID, list[len(list)-1].ID, ids)
			}
			if list[0].Size != int64(len(`{"n":52}`)) || list[0].Admin != "root" || !list[0].CreatedAt.Equal(at.Add(52*time.Second)) {
				t.Fatalf("newest listed as %+v", list[0])
			}
			v, err := tx.ConfigVersionByID(ids[3])
			if err != nil || string(v.Data) != `{"n":3}` {
				t.Fatalf("oldest kept: %+v, %v", v, err)
			}
			if _, err := tx.ConfigVersionByID(ids[2]); !errors.Is(err, model.ErrNotFound) {
				t.Fatalf("trimmed version: %v", err)
			}
			return nil
		})
	})
}
