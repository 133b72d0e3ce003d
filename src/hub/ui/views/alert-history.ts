// Placeholder for rule-based alerting's history (src/hub/alerting/, built separately). When the hub
// serves GET /api/alerts/history, this module is where it is rendered; until then it says so quietly.
import { el } from '../dom.js';
import { getJson, ApiError } from '../api.js';

export function alertHistorySection(): HTMLElement {
  const section = el('section', { class: 'alert-history', 'data-testid': 'alert-history' }, el('h2', {}, 'History'));
  const body = el('div', { class: 'muted' }, 'loading…');
  section.append(body);
  getJson<{ events?: unknown[] }>('/api/alerts/history').then(
    (r) => { body.textContent = `${r.events?.length ?? 0} alert events (rendering to come with rule-based alerting).`; },
    (err: Error) => {
      body.textContent = err instanceof ApiError && err.status === 404
        ? 'Rule-based alerting is not enabled on this hub: its history (fired, resolved, notified) will appear here.'
        : `Could not load the alert history: ${err.message}`;
    });
  return section;
}
