import { Group, Radio } from '@mantine/core';
import { useTranslation } from 'react-i18next';
import { isPerDeviceChoice, perDeviceChoices, type PerDeviceChoice } from './perDevice';

/**
 * Default / On / Off for a user's or a template's "Credentials per
 * device"; Default follows the global switch in Settings.
 */
export function PerDeviceControl({ value, onChange }: { value: PerDeviceChoice; onChange: (v: PerDeviceChoice) => void }) {
  const { t } = useTranslation();
  return (
    <Radio.Group
      label={t('perDevice.label')}
      description={t('perDevice.choiceHint')}
      value={value}
      onChange={(v) => {
        if (isPerDeviceChoice(v)) {
          onChange(v);
        }
      }}
    >
      <Group gap="md" mt={6}>
        {perDeviceChoices.map((c) => (
          <Radio key={c} value={c} label={t(`perDevice.choice.${c}`)} />
        ))}
      </Group>
    </Radio.Group>
  );
}
