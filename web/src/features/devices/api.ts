// The HWID device registry of a user: GET /api/user/{username}/devices,
// rename (PUT) and remove (DELETE) one device.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../../lib/api/client';
import { keys } from '../../lib/queryKeys';

export type Device = Schemas['DeviceJSON'];
export type Devices = Schemas['DevicesResponse'];

export function useDevices(username: string) {
  return useQuery({
    queryKey: keys.userDevices(username),
    queryFn: ({ signal }) => unwrap(api.GET('/api/user/{username}/devices', { params: { path: { username } }, signal })),
  });
}

const devicePath = (username: string, id: number) => ({ params: { path: { username, id } } });

export function useRenameDevice(username: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, name }: { id: number; name: string }) =>
      unwrap(api.PUT('/api/user/{username}/devices/{id}', { ...devicePath(username, id), body: { name } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: keys.userDevices(username) }),
  });
}

export function useRemoveDevice(username: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => unwrap(api.DELETE('/api/user/{username}/devices/{id}', devicePath(username, id))),
    onSuccess: () => void client.invalidateQueries({ queryKey: keys.userDevices(username) }),
  });
}

/** What the table calls a device: its given name, else its model, else null (unknown). */
export function deviceLabel(d: Device): string | null {
  return d.name || d.model || null;
}
