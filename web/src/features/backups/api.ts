import { useQuery } from '@tanstack/react-query';
import { api, ApiError, errorDetail, unwrap, type Schemas } from '../../lib/api/client';
import { keys } from '../../lib/queryKeys';

export type BackupList = Schemas['BackupListJSON'];
export type ScheduledBackup = Schemas['ScheduledFile'];
export type BackupSchedule = Schemas['ScheduleStatus'];

/** The scheduled backups in --backup-dir and the schedule's status. */
export function useBackups() {
  return useQuery({ queryKey: keys.backups, queryFn: ({ signal }) => unwrap(api.GET('/api/system/backups', { signal })) });
}

/** The file name the panel gave a download (Content-Disposition). */
function fileNameOf(response: Response, fallback: string): string {
  const m = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') ?? '');
  return m?.[1] ?? fallback;
}

/** Hands a downloaded file to the browser to save. */
function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The browser has started the save by now; a later revoke costs nothing.
  setTimeout(() => { URL.revokeObjectURL(url); }, 60_000);
}

async function download(call: Promise<{ data?: Blob; error?: unknown; response: Response }>, fallback: string): Promise<string> {
  const { data, error, response } = await call;
  if (!response.ok || data === undefined) {
    throw new ApiError(response.status, errorDetail(error, `${String(response.status)} ${response.statusText}`.trim()), error);
  }
  const name = fileNameOf(response, fallback);
  save(data, name);
  return name;
}

export const backupRequests = {
  /** POST /api/system/backup: a fresh backup, sealed with passphrase when given. */
  downloadFresh: (passphrase: string) =>
    download(api.POST('/api/system/backup', { body: passphrase === '' ? {} : { passphrase }, parseAs: 'blob' }), 'outpost.backup'),
  /** GET /api/system/backups/{name}: one scheduled backup. */
  downloadScheduled: (name: string) => download(api.GET('/api/system/backups/{name}', { params: { path: { name } }, parseAs: 'blob' }), name),
  runNow: () => unwrap(api.POST('/api/system/backups/run')),
};
