// XNet over NATS (cluster mode): a subnet serves slices of its streams as request/reply on
// `icpk.xnet.<subnet id>.slice`; a subnet pulls by request. The certificate is the payload; the
// slice's position and the trace context of its messages travel in NATS headers
// (`traceparent-<i>` for message i, W3C format), so a remote execution's span is a child of the
// call that sent it. A subnet nobody serves (no responders) or that does not answer in time
// yields nothing this round; its messages wait in its stream.

import { headers, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import { Principal } from '@icp-sdk/core/principal';
import { SLICE_OVERHEAD_BYTES, type StreamPosition, type XNetEndpoint, type XNetEnvelope, type XNetTransport } from './transport.js';

export const xnetSubject = (subnet: Principal) => `icpk.xnet.${subnet.toText()}.slice`;
/** Where subnet <id> hears that another subnet certified something new for it (header `Icpk-From`). */
export const xnetNewsSubject = (subnet: Principal) => `icpk.xnet.${subnet.toText()}.news`;

const H = { to: 'Icpk-To', from: 'Icpk-From', acked: 'Icpk-Acked', messages: 'Icpk-Max-Messages', bytes: 'Icpk-Max-Bytes', count: 'Icpk-Count', none: 'Icpk-None' } as const;
const traceHeader = (i: number) => `traceparent-${i}`;

export interface NatsXNetOptions {
  /** How long a pull waits for the serving subnet (default 2 s). */
  readonly timeoutMs?: number;
  /** Called when a request to serve a slice fails (a malformed request, a bug): it is answered with an error. */
  readonly onServeError?: (error: unknown) => void;
}

export class NatsXNet implements XNetTransport {
  readonly #subscriptions = new Map<string, Subscription[]>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: NatsXNetOptions = {},
  ) {}

  serve(subnet: Principal, endpoint: XNetEndpoint): void {
    this.withdraw(subnet);
    const sub = this.nc.subscribe(xnetSubject(subnet), {
      callback: (err, msg) => {
        if (err) return;
        try {
          const h = msg.headers;
          const to = Principal.fromText(required(h, H.to));
          const position = { from: nat(required(h, H.from)), acked: nat(required(h, H.acked)) };
          const limits = { messages: Number(nat(required(h, H.messages))), bytes: Number(nat(required(h, H.bytes))) };
          const envelope = endpoint.slice(to, position, limits);
          const out = headers();
          if (envelope === undefined) {
            out.set(H.none, '1');
            msg.respond(new Uint8Array(0), { headers: out });
            return;
          }
          out.set(H.from, String(envelope.from));
          out.set(H.count, String(envelope.count));
          envelope.traceparents?.forEach((t, i) => {
            if (t !== undefined) out.set(traceHeader(i), t);
          });
          msg.respond(envelope.certificate, { headers: out });
        } catch (e) {
          this.options.onServeError?.(e);
          msg.respond(new Uint8Array(0), { headers: headers(400, e instanceof Error ? e.message : String(e)) });
        }
      },
    });
    const news = this.nc.subscribe(xnetNewsSubject(subnet), {
      callback: (err, msg) => {
        const from = msg?.headers?.get(H.from);
        if (err || !from || !endpoint.news) return;
        try {
          endpoint.news(Principal.fromText(from));
        } catch {
          // Not a subnet id: nothing to pull from.
        }
      },
    });
    this.#subscriptions.set(subnet.toText(), [sub, news]);
  }

  withdraw(subnet: Principal): void {
    for (const sub of this.#subscriptions.get(subnet.toText()) ?? []) sub.unsubscribe();
    this.#subscriptions.delete(subnet.toText());
  }

  announce(from: Principal, to: readonly Principal[]): void {
    const h = headers();
    h.set(H.from, from.toText());
    for (const subnet of to) this.nc.publish(xnetNewsSubject(subnet), new Uint8Array(0), { headers: h });
  }

  async pull(source: Principal, to: Principal, position: StreamPosition, maxMessages: number): Promise<XNetEnvelope | undefined> {
    const h = headers();
    h.set(H.to, to.toText());
    h.set(H.from, String(position.from));
    h.set(H.acked, String(position.acked));
    h.set(H.messages, String(maxMessages));
    // The reply must fit in one NATS message.
    h.set(H.bytes, String(Math.max(SLICE_OVERHEAD_BYTES, this.nc.info?.max_payload ?? 1024 * 1024) - SLICE_OVERHEAD_BYTES));
    let reply;
    try {
      reply = await this.nc.request(xnetSubject(source), new Uint8Array(0), { timeout: this.options.timeoutMs ?? 2000, headers: h });
    } catch (e) {
      // Nobody serves that subnet now (it is down or restarting): nothing this round.
      if ((e as { code?: string }).code === '503') return undefined;
      throw e;
    }
    const rh = reply.headers;
    if (rh?.hasError) throw new Error(`subnet ${source.toText()} could not serve a slice: ${rh.code} ${rh.description}`);
    if (rh?.get(H.none)) return undefined;
    const count = Number(nat(required(rh, H.count)));
    if (count > maxMessages) throw new Error(`subnet ${source.toText()} sent ${count} messages where ${maxMessages} were asked for`);
    const traceparents: (string | undefined)[] = [];
    for (let i = 0; i < count; i++) traceparents.push(rh!.get(traceHeader(i)) || undefined);
    return {
      certificate: reply.data, from: nat(required(rh, H.from)), count,
      ...(traceparents.some((t) => t !== undefined) ? { traceparents } : {}),
    };
  }
}

function required(h: MsgHdrs | undefined, name: string): string {
  const v = h?.get(name);
  if (!v) throw new Error(`an XNet message without its ${name} header`);
  return v;
}

function nat(s: string): bigint {
  if (!/^\d{1,20}$/.test(s)) throw new Error(`not a natural number: ${JSON.stringify(s.slice(0, 40))}`);
  return BigInt(s);
}
