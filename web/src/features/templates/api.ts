import { useQuery } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../../lib/api/client';
import { keys } from '../../lib/queryKeys';

export type UserTemplate = Schemas['TemplateResponse'];
export type TemplateBody = Schemas['TemplateBody'];

export function useTemplates() {
  return useQuery({
    queryKey: keys.templates,
    queryFn: ({ signal }) => unwrap(api.GET('/api/user_template', { signal })),
  });
}

const path = (id: number) => ({ params: { path: { id } } });

export const templateRequests = {
  create: (body: TemplateBody) => unwrap(api.POST('/api/user_template', { body })),
  modify: (id: number, body: TemplateBody) => unwrap(api.PUT('/api/user_template/{id}', { ...path(id), body })),
  remove: (id: number) => unwrap(api.DELETE('/api/user_template/{id}', path(id))),
};
