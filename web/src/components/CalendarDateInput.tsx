import { TextInput } from '@mantine/core';
import { useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { dateInputText, parseDateInput } from '../lib/format';

interface CalendarDateInputProps {
  label: string;
  /** The day as the form keeps it: Gregorian "YYYY-MM-DD" (UTC), "" for none. */
  value: string;
  /** Called with the day typed, or with the raw text when it is no date (the form refuses it then). */
  onChange: (value: string) => void;
  error?: ReactNode;
}

/**
 * A day in the language's calendar. Mantine's pickers draw only Gregorian
 * grids, so in Persian this is a text input that shows and reads Jalali
 * "1405/01/01" (Persian or Latin digits) and says which Gregorian day it is;
 * other languages get the browser's own date input.
 */
export function CalendarDateInput({ label, value, onChange, error }: CalendarDateInputProps) {
  const { t, i18n } = useTranslation();
  // What is being typed; null shows the form's value.
  const [typing, setTyping] = useState<string | null>(null);
  if (!i18n.language.startsWith('fa')) {
    return (
      <TextInput
        label={label}
        type="date"
        value={value}
        error={error}
        onChange={(e) => {
          onChange(e.currentTarget.value);
        }}
      />
    );
  }
  const text = typing ?? dateInputText(value, 'fa');
  const day = parseDateInput(text, 'fa');
  return (
    <TextInput
      label={label}
      dir="ltr"
      inputMode="numeric"
      autoComplete="off"
      placeholder={t('dateInput.placeholder')}
      value={text}
      description={day ? t('dateInput.gregorian', { date: day }) : t('dateInput.hint')}
      error={day === null ? t('dateInput.invalid') : error}
      onChange={(e) => {
        const next = e.currentTarget.value;
        setTyping(next);
        onChange(parseDateInput(next, 'fa') ?? next);
      }}
      onBlur={() => {
        if (day !== null) {
          setTyping(null);
        }
      }}
    />
  );
}
