// Every string the dashboard shows goes through i18next. English is the
// source; the other languages are typed against it, so a missing key fails
// to compile, and src/i18n/i18n.test.ts fails on a key used in the code
// that English lacks.

import i18n from 'i18next';
import resourcesToBackend from 'i18next-resources-to-backend';
import { initReactI18next } from 'react-i18next';
import { en } from './locales/en';

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

// English is in the first chunk; every other language is its own chunk,
// fetched when chosen (or remembered), so the first page carries one
// language, not four. ready resolves once the starting language is loaded;
// main.tsx renders after it, so a Persian page never flashes English.
const others = {
  fa: () => import('./locales/fa').then((m) => m.fa),
  ru: () => import('./locales/ru').then((m) => m.ru),
  zh: () => import('./locales/zh').then((m) => m.zh),
} as const;

export const ready = i18n
  .use(initReactI18next)
  .use(
    resourcesToBackend((lng: string) => {
      const load = others[lng as keyof typeof others] as (() => Promise<typeof en>) | undefined;
      return load ? load() : Promise.resolve(en);
    }),
  )
  .init({
    resources: { en: { translation: en } },
    partialBundledLanguages: true,
    lng: typeof window === 'undefined' ? 'en' : storedLanguage(),
    fallbackLng: 'en',
    interpolation: { escapeValue: false }, // React escapes
    returnNull: false,
  });

export default i18n;
