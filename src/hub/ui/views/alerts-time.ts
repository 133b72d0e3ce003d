// Relative times that stay true: each is a <time> carrying its instant, re-rendered by one timer
// while the view is mounted, with the local date and time in its title.
import { el, ago, localTime } from '../dom.js';

export function timeAgo(iso: string): HTMLElement {
  return el('time', { datetime: iso, title: localTime(iso), 'data-ago': iso }, ago(iso));
}

/** Keeps every timeAgo() under `root` current; returns the stop function. */
export function keepAgesLive(root: HTMLElement, everyMs = 1000): () => void {
  const timer = setInterval(() => {
    for (const node of root.querySelectorAll<HTMLElement>('time[data-ago]')) {
      const next = ago(node.dataset.ago!);
      if (node.textContent !== next) node.textContent = next;
    }
  }, everyMs);
  return () => clearInterval(timer);
}
