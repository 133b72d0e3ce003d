// Sending one rendered notification over one channel: Slack incoming webhook and generic webhook
// over undici, email over SMTP with nodemailer. Each send has one deadline and returns an outcome
// instead of throwing; the delivery loop decides about retries.

import { request, Agent } from 'undici';
import { createTransport, type Transporter } from 'nodemailer';
import type { Channel, EmailChannel } from './config.js';
import { renderEmail, renderSlack, renderWebhookBody, signBody, type Notification } from './render.js';

export interface SendOutcome {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  /** Retrying cannot help (404 webhook, 400 bad payload, SMTP 5xx). */
  permanent: boolean;
  /** A receiver's Retry-After, in ms. */
  retryAfterMs: number | null;
  /**
   * The start of a failing receiver's reply: for the operator's log only. `error` (stored, and shown
   * to every dashboard viewer) says just `HTTP 503`: a reply may echo a token, an internal host name
   * or the request itself.
   */
  reply?: string;
}

const USER_AGENT = 'observ-alerting/1';

export class ChannelSender {
  private readonly dispatcher: Agent;
  private readonly mailers = new Map<string, Transporter>();

  constructor(private readonly timeoutMs: number) {
    this.dispatcher = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 10_000 });
  }

  async send(channel: Channel, n: Notification): Promise<SendOutcome> {
    try {
      switch (channel.type) {
        case 'slack':
          return await this.post(channel.webhookUrl, JSON.stringify(renderSlack(n)), {});
        case 'webhook': {
          const body = renderWebhookBody(n);
          const headers: Record<string, string> = { ...channel.headers, 'x-observ-event': n.kind, 'idempotency-key': n.idempotencyKey };
          if (channel.secret) headers['x-observ-signature'] = signBody(channel.secret, body);
          return await this.post(channel.url, body, headers);
        }
        case 'email':
          return await this.mail(channel, n);
      }
    } catch (err) {
      return { ok: false, statusCode: null, error: describe(err), permanent: false, retryAfterMs: null };
    }
  }

  private async post(url: string, body: string, headers: Record<string, string>): Promise<SendOutcome> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    const res = await request(url, {
      method: 'POST', body, signal, dispatcher: this.dispatcher,
      headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': USER_AGENT, ...headers },
    });
    const text = (await res.body.text()).slice(0, 300);
    const code = res.statusCode;
    if (code >= 200 && code < 300) return { ok: true, statusCode: code, error: null, permanent: false, retryAfterMs: null };
    const retryAfter = Number(res.headers['retry-after']);
    return {
      ok: false, statusCode: code, error: `HTTP ${code}`, ...(text ? { reply: text } : {}),
      // 408, 425 and 429 are worth retrying; any other 4xx will fail the same way again.
      permanent: code >= 400 && code < 500 && code !== 408 && code !== 425 && code !== 429,
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 3600) * 1000 : null,
    };
  }

  private mailer(channel: EmailChannel): Transporter {
    let t = this.mailers.get(channel.name);
    if (!t) {
      t = createTransport({
        host: channel.host, port: channel.port, secure: channel.secure, requireTLS: !channel.secure && channel.requireTls,
        auth: channel.user !== null ? { user: channel.user, pass: channel.password ?? '' } : undefined,
        tls: { rejectUnauthorized: channel.rejectUnauthorized },
        connectionTimeout: this.timeoutMs, greetingTimeout: this.timeoutMs, socketTimeout: this.timeoutMs,
      });
      this.mailers.set(channel.name, t);
    }
    return t;
  }

  private async mail(channel: EmailChannel, n: Notification): Promise<SendOutcome> {
    const { subject, text, html } = renderEmail(n);
    try {
      await this.mailer(channel).sendMail({
        from: channel.from, to: [...channel.to], subject, text, html,
        // A stable Message-ID: a resend after a takeover is recognisably the same message.
        messageId: `<${n.idempotencyKey}@observ.alerting>`,
        headers: { 'X-Observ-Event': n.kind, 'X-Observ-Alert': String(n.alertId) },
      });
      return { ok: true, statusCode: 250, error: null, permanent: false, retryAfterMs: null };
    } catch (err) {
      const e = err as { responseCode?: number; code?: string };
      const code = typeof e.responseCode === 'number' ? e.responseCode : null;
      return { ok: false, statusCode: code, error: describe(err), permanent: code !== null && code >= 500, retryAfterMs: null };
    }
  }

  async close(): Promise<void> {
    for (const t of this.mailers.values()) t.close();
    this.mailers.clear();
    await this.dispatcher.close().catch(() => {});
  }
}

function describe(err: unknown): string {
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  // A URL in a message may carry a channel's secret (a Slack webhook's path is its token).
  const msg = (e.message || String(err)).split('\n')[0]!.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>').slice(0, 300);
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
}
