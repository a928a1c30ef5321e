// The subscription User-Agent rules editor: an ordered list (first match
// wins) reordered by drag (pointer or keyboard through dnd-kit) or by the
// up/down buttons, and a tester that asks the panel which rule and format
// a User-Agent gets by the draft rules, before they are saved.

import {
  closestCenter,
  DndContext,
  KeyboardSensor,
  PointerSensor,
  useSensor,
  useSensors,
  type Announcements,
  type DragEndEvent,
  type UniqueIdentifier,
} from '@dnd-kit/core';
import { SortableContext, sortableKeyboardCoordinates, useSortable, verticalListSortingStrategy } from '@dnd-kit/sortable';
import { CSS } from '@dnd-kit/utilities';
import { ActionIcon, Alert, Badge, Button, Code, Group, Paper, Select, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import type { UseFormReturnType } from '@mantine/form';
import { useDebouncedValue } from '@mantine/hooks';
import { IconArrowDown, IconArrowUp, IconGripVertical, IconPlus, IconTrash } from '@tabler/icons-react';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { subFormats, useRuleTest, type CustomJSON, type SubFormat, type SubRule } from './api';

export interface DraftRule {
  /** A stable id for the list (drag and React keys); never sent. */
  key: string;
  pattern: string;
  format: SubFormat;
  min_version: string;
}

export interface SettingsValues {
  /** The global device limit: a whole number, "0" unlimited. */
  deviceLimit: string;
  /** What a fetch without x-hwid gets. */
  hwidMissing: 'allow' | 'refuse';
  /** Credentials per device: the default for users and templates without their own choice. */
  perDevice: boolean;
  title: string;
  support: string;
  interval: string;
  noHtml: boolean;
  /** Marzban's USE_CUSTOM_JSON_* switches, by their API names. */
  customJson: Required<CustomJSON>;
  rules: DraftRule[];
}

/** The switches in the order the page lists them, with their variables. */
export const customJsonSwitches = [
  { key: 'use_custom_json_for_v2rayn', env: 'USE_CUSTOM_JSON_FOR_V2RAYN', client: 'v2rayN ≥ 6.40' },
  { key: 'use_custom_json_for_v2rayng', env: 'USE_CUSTOM_JSON_FOR_V2RAYNG', client: 'v2rayNG ≥ 1.8.29' },
  { key: 'use_custom_json_for_streisand', env: 'USE_CUSTOM_JSON_FOR_STREISAND', client: 'Streisand' },
  { key: 'use_custom_json_for_happ', env: 'USE_CUSTOM_JSON_FOR_HAPP', client: 'Happ ≥ 1.63.1' },
  { key: 'use_custom_json_default', env: 'USE_CUSTOM_JSON_DEFAULT', client: '' },
] as const;

let nextKey = 0;
export function newRuleKey(): string {
  nextKey += 1;
  return `rule-${String(nextKey)}`;
}

/** The rules as the API takes them. */
export function wireRules(rules: DraftRule[]): SubRule[] {
  return rules.map((r) => (r.min_version.trim() === '' ? { pattern: r.pattern, format: r.format } : { pattern: r.pattern, format: r.format, min_version: r.min_version.trim() }));
}

type Form = UseFormReturnType<SettingsValues>;

function RuleRow({ form, index, count, matched }: { form: Form; index: number; count: number; matched: boolean }) {
  const { t } = useTranslation();
  const rule = form.getValues().rules[index];
  const { attributes, listeners, setNodeRef, setActivatorNodeRef, transform, transition, isDragging } = useSortable({ id: rule?.key ?? String(index) });
  if (rule === undefined) {
    return null;
  }
  const n = index + 1;
  const style = { transform: CSS.Transform.toString(transform), transition, zIndex: isDragging ? 2 : undefined, position: 'relative' as const };
  return (
    <Paper
      ref={setNodeRef}
      style={style}
      withBorder
      p="xs"
      component="li"
      data-rule-row={n}
      data-matched={matched ? 'true' : undefined}
      aria-label={t('settings.ruleN', { n })}
      className={matched ? 'rule-row rule-row-matched' : 'rule-row'}
    >
      <Group gap="xs" wrap="nowrap" align="flex-start">
        <ActionIcon
          ref={setActivatorNodeRef}
          variant="subtle"
          color="gray"
          mt={26}
          style={{ cursor: 'grab', touchAction: 'none' }}
          {...attributes}
          {...listeners}
          aria-label={t('settings.dragRule', { n })}
        >
          <IconGripVertical size={16} aria-hidden />
        </ActionIcon>
        <Stack gap={4} style={{ flex: 1, minWidth: 0 }}>
          <Group gap="xs">
            <Text size="sm" fw={600}>
              {t('settings.ruleN', { n })}
            </Text>
            {matched && (
              <Badge size="sm" color="teal" variant="light">
                {t('settings.matched')}
              </Badge>
            )}
          </Group>
          <SimpleGrid cols={{ base: 1, sm: 3 }} spacing="xs">
            <TextInput
              label={t('settings.pattern')}
              placeholder="^v2rayNG/(\d+(?:\.\d+)*)"
              spellCheck={false}
              autoCapitalize="off"
              ff="monospace"
              data-field="pattern"
              key={form.key(`rules.${String(index)}.pattern`)}
              {...form.getInputProps(`rules.${String(index)}.pattern`)}
            />
            <Select
              label={t('settings.format')}
              data={subFormats}
              allowDeselect={false}
              data-field="format"
              comboboxProps={{ withinPortal: true }}
              key={form.key(`rules.${String(index)}.format`)}
              {...form.getInputProps(`rules.${String(index)}.format`)}
            />
            <TextInput
              label={t('settings.minVersion')}
              description={t('settings.minVersionHint')}
              placeholder="1.8.29"
              data-field="min-version"
              key={form.key(`rules.${String(index)}.min_version`)}
              {...form.getInputProps(`rules.${String(index)}.min_version`)}
            />
          </SimpleGrid>
        </Stack>
        <Stack gap={4} mt={26}>
          <ActionIcon variant="default" disabled={index === 0} aria-label={t('settings.moveUp', { n })} onClick={() => { form.reorderListItem('rules', { from: index, to: index - 1 }); }}>
            <IconArrowUp size={16} aria-hidden />
          </ActionIcon>
          <ActionIcon variant="default" disabled={index === count - 1} aria-label={t('settings.moveDown', { n })} onClick={() => { form.reorderListItem('rules', { from: index, to: index + 1 }); }}>
            <IconArrowDown size={16} aria-hidden />
          </ActionIcon>
          <ActionIcon variant="light" color="red" aria-label={t('settings.removeRule', { n })} onClick={() => { form.removeListItem('rules', index); }}>
            <IconTrash size={16} aria-hidden />
          </ActionIcon>
        </Stack>
      </Group>
    </Paper>
  );
}

/** "rule 2: pattern ...": the panel's complaints, one a line. */
function ruleProblems(message: string): string[] {
  return message
    .replace(/^rules:\s*/, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

type RuleTest = ReturnType<typeof useRuleTest>;

function Tester({ ua, setUa, test, tested }: { ua: string; setUa: (v: string) => void; test: RuleTest; tested: SubRule[] }) {
  const { t } = useTranslation();
  const result = ua.trim() !== '' && test.isSuccess && !test.isPlaceholderData ? test.data : null;
  const matched = result?.rule ?? null;
  const matchedRule = matched === null ? undefined : tested[matched];
  return (
    <Stack gap="xs" component="section" aria-label={t('settings.tester')}>
      <Title order={4} size="h6">
        {t('settings.tester')}
      </Title>
      <TextInput
        label={t('settings.testerUa')}
        description={t('settings.testerHint')}
        placeholder="v2rayNG/1.8.30"
        spellCheck={false}
        autoCapitalize="off"
        value={ua}
        onChange={(e) => { setUa(e.currentTarget.value); }}
      />
      <div role="status" aria-live="polite" data-tester-result={result ? result.format : ''} data-tester-rule={matched === null ? '' : String(matched + 1)}>
        {ua.trim() !== '' && test.isError && (
          <Alert color="red" title={t('settings.testerRulesBad')}>
            <Stack gap={2}>
              {ruleProblems(test.error.message).map((p) => (
                <Text key={p} size="sm">
                  {p}
                </Text>
              ))}
            </Stack>
          </Alert>
        )}
        {result?.switch && (
          <Text size="sm" data-tester-switch={result.switch}>
            {t('settings.testerSwitch', { format: result.format })} <Code>{result.switch}</Code>
          </Text>
        )}
        {result && !result.switch && (
          <Text size="sm">
            {matchedRule
              ? t('settings.testerMatched', { format: result.format, n: (matched ?? 0) + 1 })
              : t('settings.testerDefault', { format: result.format })}{' '}
            {matchedRule && <Code>{matchedRule.pattern}</Code>}
          </Text>
        )}
        {ua.trim() !== '' && !result && !test.isError && (
          <Text size="sm" c="dimmed">
            {t('settings.testerWorking')}
          </Text>
        )}
      </div>
    </Stack>
  );
}

export function RuleEditor({ form }: { form: Form }) {
  const { t } = useTranslation();
  const rules = form.getValues().rules;
  const [ua, setUa] = useState('');
  const wire = useMemo(() => wireRules(rules), [rules]);
  // One request per pause in typing, for the User-Agent and the rules alike.
  const customJson = form.getValues().customJson;
  const [debounced] = useDebouncedValue(useMemo(() => ({ ua: ua.trim(), rules: wire, customJson }), [ua, wire, customJson]), 300);
  const test = useRuleTest(debounced.ua, debounced.rules, debounced.customJson);
  const current = ua.trim() !== '' && test.isSuccess && !test.isPlaceholderData;
  const matched = current ? (test.data.rule ?? null) : null;
  const sensors = useSensors(useSensor(PointerSensor, { activationConstraint: { distance: 4 } }), useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }));
  const position = (id: UniqueIdentifier | undefined) => rules.findIndex((r) => r.key === id) + 1;
  const announcements: Announcements = {
    onDragStart: ({ active }) => t('settings.dndPicked', { n: position(active.id) }),
    onDragOver: ({ active, over }) => (over ? t('settings.dndOver', { n: position(active.id), to: position(over.id) }) : undefined),
    onDragEnd: ({ active, over }) => (over ? t('settings.dndDropped', { n: position(active.id), to: position(over.id) }) : undefined),
    onDragCancel: ({ active }) => t('settings.dndCancelled', { n: position(active.id) }),
  };
  function onDragEnd({ active, over }: DragEndEvent) {
    if (!over || active.id === over.id) {
      return;
    }
    const from = rules.findIndex((r) => r.key === active.id);
    const to = rules.findIndex((r) => r.key === over.id);
    if (from >= 0 && to >= 0) {
      form.reorderListItem('rules', { from, to });
    }
  }
  return (
    <Stack gap="sm" component="fieldset" style={{ border: 0, padding: 0, margin: 0, minWidth: 0 }}>
      <Title order={4} size="h6" component="legend">
        {t('settings.uaRules')}
      </Title>
      <Text size="xs" c="dimmed">
        {t('settings.uaRulesHint')}
      </Text>
      {rules.length === 0 && (
        <Text size="sm" c="dimmed">
          {t('settings.noRules')}
        </Text>
      )}
      <DndContext
        sensors={sensors}
        collisionDetection={closestCenter}
        onDragEnd={onDragEnd}
        accessibility={{ announcements, screenReaderInstructions: { draggable: t('settings.dndInstructions') } }}
      >
        <SortableContext items={rules.map((r) => r.key)} strategy={verticalListSortingStrategy}>
          <Stack gap="xs" component="ol" aria-label={t('settings.uaRules')} style={{ listStyle: 'none', padding: 0, margin: 0 }}>
            {rules.map((r, i) => (
              <RuleRow key={r.key} form={form} index={i} count={rules.length} matched={matched === i} />
            ))}
          </Stack>
        </SortableContext>
      </DndContext>
      <Group>
        <Button
          variant="default"
          size="xs"
          leftSection={<IconPlus size={14} aria-hidden />}
          onClick={() => { form.insertListItem('rules', { key: newRuleKey(), pattern: '', format: 'v2ray', min_version: '' }); }}
        >
          {t('settings.addRule')}
        </Button>
      </Group>
      <Tester ua={ua} setUa={setUa} test={test} tested={debounced.rules} />
    </Stack>
  );
}
