import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../../lib/api/client';
import { keys } from '../../lib/queryKeys';

export type AuditEntry = Schemas['AuditEntryJSON'];

/** The audit filters as the URL and GET /api/audit name them. */
export interface AuditFilter {
  admin?: string;
  target?: string;
  action?: string;
  since?: string;
  until?: string;
  before?: number;
}

export function useAudit(filter: AuditFilter) {
  return useQuery({
    queryKey: keys.audit(filter),
    queryFn: ({ signal }) => unwrap(api.GET('/api/audit', { params: { query: { ...filter, limit: 50 } }, signal })),
    placeholderData: keepPreviousData,
  });
}

/** GET /api/audit/export as a file the browser saves. */
export async function exportAudit(filter: AuditFilter): Promise<void> {
  // The export is every matching entry, not the page on screen.
  const query = { ...filter };
  delete query.before;
  const text = await unwrap(api.GET('/api/audit/export', { params: { query }, parseAs: 'text' }));
  const url = URL.createObjectURL(new Blob([text], { type: 'application/x-ndjson' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = 'outpost-audit.jsonl';
  a.click();
  URL.revokeObjectURL(url);
}
