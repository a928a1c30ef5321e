import { Badge } from '@mantine/core';
import { useTranslation } from 'react-i18next';

const colors: Record<string, string> = { active: 'teal', disabled: 'gray', limited: 'orange', expired: 'red', on_hold: 'blue' };

export function StatusBadge({ status }: { status: string }) {
  const { t } = useTranslation();
  return (
    <Badge color={colors[status] ?? 'gray'} variant="light" data-status={status}>
      {t(`status.${status}`)}
    </Badge>
  );
}
