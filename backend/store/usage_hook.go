package store

// usageApplied is called after a usage batch of this replica commits, with
// the batch's user ids (ascending) and the bytes added to each (coefficient
// applied). The user directory keeps its used_traffic sort keys current
// with it.
func (s *Store) usageApplied(ids, used []int64) { s.dir.noteUsage(ids, used) }
