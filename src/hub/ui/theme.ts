// Light / dark / auto (prefers-color-scheme). The choice sits on <html data-theme> and in
// localStorage; every colour is a CSS custom property of style.css. Charts draw on canvas and read
// the properties when they are built: they rebuild on onThemeChange.

export type ThemePref = 'auto' | 'light' | 'dark';

const KEY = 'observ.theme';
const listeners = new Set<() => void>();
const media = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;

export function themePref(): ThemePref {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : 'auto';
  } catch { return 'auto'; }
}

export function applyTheme(p: ThemePref = themePref()): void {
  if (p === 'auto') document.documentElement.removeAttribute('data-theme');
  else document.documentElement.dataset.theme = p;
}

export function setThemePref(p: ThemePref): void {
  try { if (p === 'auto') localStorage.removeItem(KEY); else localStorage.setItem(KEY, p); } catch { /* this page only */ }
  applyTheme(p);
  for (const l of listeners) l();
}

media?.addEventListener('change', () => { if (themePref() === 'auto') for (const l of listeners) l(); });

export function onThemeChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The current value of a colour property (for canvas drawing). */
export function cssColor(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}
