// XNet over a real nats-server: two subnets (a node each, on its own NATS connection) exchange
// certified stream slices by request/reply; the trace context of the messages travels in NATS
// headers, so the callee's execution on the other subnet is in the caller's trace. When NATS goes
// away nothing is lost: the messages wait in their stream and the call completes once NATS is
// back. A subnet that nobody serves yields nothing (no responders), without an error.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Actor, type ActorSubclass } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { headers, type NatsConnection } from 'nats';
import type { Node } from '../replica/src/node/index.js';
import { NatsXNet, streamEnd, xnetNewsSubject, xnetSubject } from '../replica/src/index.js';
import { ATTR, SPAN } from '../replica/src/telemetry/attributes.js';
import { RoundTracer } from '../replica/src/telemetry/tracing.js';
import { setupTelemetry, type Telemetry } from '../replica/src/telemetry/setup.js';
import { NatsServer } from './support/nats-server.js';
import { callerIdl, installOn, startTwoNodes, tracingAgent, warningLog, type Caller } from './support/two-nodes.js';

/** NATS transport whose pulls can be held back (the subnet then inducts nothing). */
class PausableNatsXNet extends NatsXNet {
  paused = false;
  override async pull(...args: Parameters<NatsXNet['pull']>) {
    return this.paused ? undefined : super.pull(...args);
  }
}

describe('XNet over NATS', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  let nats: NatsServer;
  let connections: NatsConnection[];
  const { warnings, logger } = warningLog();
  let a: Node;
  let b: Node;
  let callerId: Principal;
  let caller: ActorSubclass<Caller>;
  let echo: Principal;
  let bTransport: PausableNatsXNet;

  before(async () => {
    telemetry = setupTelemetry({ serviceName: 'icpk-test', spanExporter: exporter, spanProcessor: 'simple' });
    nats = await NatsServer.start();
    connections = await Promise.all([nats.connect(), nats.connect()]);
    bTransport = new PausableNatsXNet(connections[1]!, { timeoutMs: 500 });
    ({ a, b } = await startTwoNodes([new NatsXNet(connections[0]!, { timeoutMs: 500 }), bTransport], {
      logger, tracer: new RoundTracer(telemetry.tracerProvider),
    }));
    echo = await installOn(b, 'echo');
    callerId = await installOn(a, 'caller', new Uint8Array(IDL.encode([IDL.Principal], [echo])));
    caller = Actor.createActor<Caller>(callerIdl, { agent: await tracingAgent(a.url, `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`), canisterId: callerId });
  });

  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    for (const nc of connections ?? []) await nc.close();
    await nats?.close();
    await telemetry?.shutdown();
  });

  it('a call across subnets replies and fans out, with the trace in NATS headers', async () => {
    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const traced = Actor.createActor<Caller>(callerIdl, { agent: await tracingAgent(a.url, `00-${traceId}-00f067aa0ba902b7-01`), canisterId: callerId });
    assert.equal(await traced.call_echo('over NATS'), 'over NATS');
    const spans = exporter.getFinishedSpans().filter((s) => s.name === SPAN.executeMessage && s.spanContext().traceId === traceId);
    const callerSpan = spans.find((s) => s.attributes[ATTR.messageMethod] === 'call_echo');
    const calleeSpan = spans.find((s) => s.attributes[ATTR.canisterId] === echo.toText());
    assert.ok(callerSpan && calleeSpan, 'caller and callee executions are in the ingress trace');
    assert.equal(calleeSpan.parentSpanContext?.spanId, callerSpan.spanContext().spanId);
    assert.equal(await caller.fanout(40n), 40n);
  });

  it('the slice carries each message\'s traceparent in a header of its own', async () => {
    bTransport.paused = true;
    const traceId = 'c0ffee00c0ffee00c0ffee00c0ffee00';
    const traced = Actor.createActor<Caller>(callerIdl, { agent: await tracingAgent(a.url, `00-${traceId}-00f067aa0ba902b7-01`), canisterId: callerId });
    const reply = traced.call_echo('held');
    const stream = a.replica.state.streams.get(b.subnetId.toText())!;
    const inducted = streamEnd(stream);
    while (streamEnd(stream) === inducted) await a.round();
    await a.round(); // certified
    // A request for A's stream to B, made by hand as B would: the reply's headers are the transport's.
    const h = headers();
    h.set('Icpk-To', b.subnetId.toText());
    h.set('Icpk-From', String(inducted));
    h.set('Icpk-Acked', '0');
    h.set('Icpk-Max-Messages', '1000');
    h.set('Icpk-Max-Bytes', '1000000');
    const slice = await connections[1]!.request(xnetSubject(a.subnetId), new Uint8Array(0), { headers: h, timeout: 1000 });
    assert.equal(slice.headers?.get('Icpk-From'), String(inducted));
    assert.equal(slice.headers?.get('Icpk-Count'), '1');
    assert.match(slice.headers?.get('traceparent-0') ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    assert.ok(slice.data.length > 0, 'the certificate is the payload');
    bTransport.paused = false;
    assert.equal(await reply, 'held');
    // Malformed requests are answered with an error, not served.
    const bad = headers();
    bad.set('Icpk-To', 'not a principal');
    const refused = await connections[1]!.request(xnetSubject(a.subnetId), new Uint8Array(0), { headers: bad, timeout: 1000 });
    assert.equal(refused.headers?.hasError, true);
  });

  it('a subnet hears over NATS when another certified something for it', async () => {
    const news: string[] = [];
    const sub = connections[1]!.subscribe(xnetNewsSubject(b.subnetId), { callback: (_, m) => news.push(m.headers?.get('Icpk-From') ?? '') });
    assert.equal(await caller.call_echo('news'), 'news');
    await connections[1]!.flush();
    sub.unsubscribe();
    assert.ok(news.includes(a.subnetId.toText()), `news: ${news.join(', ')}`);
  });

  it('NATS going away loses nothing: the call completes when it is back', async () => {
    await nats.stop();
    const reply = caller.call_echo('after the outage');
    // Rounds go on; the request waits in A's stream to B.
    for (let i = 0; i < 5; i++) await Promise.all([a.round(), b.round()]);
    const stream = a.replica.state.streams.get(b.subnetId.toText())!;
    assert.ok(stream.messages.length >= 1, 'the request waits in the stream');
    assert.ok(warnings.some((w) => w.message === 'XNet slice not received'), 'the failed pulls are logged');
    await nats.restart();
    assert.equal(await reply, 'after the outage');
  });

  it('a subnet nobody serves yields nothing, without an error', async () => {
    const transport = new NatsXNet(connections[0]!, { timeoutMs: 500 });
    const nobody = Principal.fromUint8Array(new Uint8Array(29).fill(3));
    assert.equal(await transport.pull(nobody, a.subnetId, { from: 0n, acked: 0n }, 10), undefined);
  });

  it('a reply that does not fit the request is refused before anything is read from it', async () => {
    const impostor = Principal.fromUint8Array(new Uint8Array(29).fill(4));
    const sub = connections[1]!.subscribe(xnetSubject(impostor), {
      callback: (_, m) => {
        const h = headers();
        h.set('Icpk-From', '0');
        h.set('Icpk-Count', m.headers?.get('Icpk-Max-Messages') === '10' ? '1000000000' : 'many');
        m.respond(new Uint8Array(0), { headers: h });
      },
    });
    await connections[1]!.flush();
    const transport = new NatsXNet(connections[0]!, { timeoutMs: 500 });
    await assert.rejects(transport.pull(impostor, a.subnetId, { from: 0n, acked: 0n }, 10), /sent 1000000000 messages where 10 were asked for/);
    await assert.rejects(transport.pull(impostor, a.subnetId, { from: 0n, acked: 0n }, 11), /not a natural number/);
    sub.unsubscribe();
  });
});
