// Every string the dashboard shows goes through i18next. English is the
// source; the other languages are typed against it, so a missing key fails
// to compile, and src/i18n/i18n.test.ts fails on a key used in the code
// that English lacks.

import i18n from 'i18next';
import { initReactI18next } from 'react-i18next';
import { en } from './locales/en';
import { fa } from './locales/fa';
import { ru } from './locales/ru';
import { zh } from './locales/zh';

export const languages = [
  { code: 'en', label: 'English', dir: 'ltr' },
  { code: 'fa', label: 'فارسی', dir: 'rtl' },
  { code: 'ru', label: 'Русский', dir: 'ltr' },
  { code: 'zh', label: '中文', dir: 'ltr' },
] as const;

export type Language = (typeof languages)[number]['code'];

const languageKey = 'outpost.language';

export function storedLanguage(): Language {
  let saved: string | null = null;
  try {
    saved = window.localStorage.getItem(languageKey);
  } catch {
    /* storage disabled: English */
  }
  return languages.find((l) => l.code === saved)?.code ?? 'en';
}

export function rememberLanguage(code: Language): void {
  try {
    window.localStorage.setItem(languageKey, code);
  } catch {
    /* storage disabled: this page only */
  }
}

export function directionOf(code: string): 'ltr' | 'rtl' {
  return languages.find((l) => l.code === code)?.dir ?? 'ltr';
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, fa: { translation: fa }, ru: { translation: ru }, zh: { translation: zh } },
  lng: typeof window === 'undefined' ? 'en' : storedLanguage(),
  fallbackLng: 'en',
  interpolation: { escapeValue: false }, // React escapes
  returnNull: false,
});

export default i18n;
