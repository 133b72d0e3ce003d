// Any route the dashboard does not know: says so (instead of silently showing the fleet).
import { el, stateBox, text, type View } from '../dom.js';

export const notFoundView: View = (main) => {
  document.title = 'Observ — no such page';
  main.replaceChildren(el('h2', {}, 'No such page'), stateBox('notfound', `Nothing lives at ${location.hash || '/'}.`,
    text('The address may be mistyped or from an older version of the dashboard.'), el('a', { href: '#/' }, 'Go to the fleet overview')));
  return () => {};
};
