// Login form, shown when the hub requires a password and the session cookie is missing or expired.
import { el } from '../dom.js';
import { login } from '../api.js';

export function showLogin(main: HTMLElement, onDone: () => void): void {
  const password = el('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: '', 'data-testid': 'password' });
  // The hub has one password; the name is only what acknowledgements record (default "admin").
  const name = el('input', { type: 'text', name: 'username', autocomplete: 'username', maxlength: '64', placeholder: 'admin', 'data-testid': 'login-name' });
  const message = el('div', { class: 'muted' });
  const form = el('form', { class: 'login' }, el('h2', {}, 'Log in'), el('label', {}, 'Password ', password),
    el('label', {}, 'Your name (recorded on acknowledgements) ', name), el('button', { type: 'submit' }, 'Log in'), message);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    message.textContent = '…';
    login(password.value, name.value).then(onDone, (err: Error) => { message.textContent = err.message; password.select(); });
  });
  main.replaceChildren(form);
  password.focus();
}
