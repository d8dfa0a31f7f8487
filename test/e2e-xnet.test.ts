// Two subnets, each a node with its own subnet key and canister range under one root key, in one
// process over the embedded XNet transport: the real agent calls a Motoko canister on subnet A
// that calls a canister on subnet B. The streams between them are certified every round and each
// subnet verifies the other's slices against the key the registry holds for it; the trace of the
// ingress call reaches the callee's execution on the other subnet. A subnet whose slices do not
// verify gets nothing inducted.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Actor, HttpAgent, type ActorSubclass } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Principal } from '@icp-sdk/core/principal';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { startLocalNetwork, XNetLink, type Node } from '../replica/src/node/index.js';
import { EmbeddedXNet, ReplicatedState, streamEnd, verifySlice, XNetSliceError, type LocalRegistry, type XNetEnvelope } from '../replica/src/index.js';
import { verify as blsVerify } from '../replica/src/certification/index.js';
import { ATTR, SPAN } from '../replica/src/telemetry/attributes.js';
import { RoundTracer } from '../replica/src/telemetry/tracing.js';
import { ReplicaMetrics } from '../replica/src/telemetry/metrics.js';
import { setupTelemetry, type Telemetry } from '../replica/src/telemetry/setup.js';
import { defaultSettings, managementCanister } from '../replica/src/cli/management.js';
import { callerIdl, installOn, startTwoNodes, tracingAgent, warningLog, type Caller } from './support/two-nodes.js';

/** The embedded transport, with switches: flip a byte of every certificate, or carry nothing. */
class FaultyXNet extends EmbeddedXNet {
  tamper = false;
  hold = false;
  override async pull(...args: Parameters<EmbeddedXNet['pull']>): Promise<XNetEnvelope | undefined> {
    if (this.hold) return undefined;
    const envelope = await super.pull(...args);
    if (!this.tamper || envelope === undefined) return envelope;
    const certificate = envelope.certificate.slice();
    certificate[certificate.length - 40]! ^= 1;
    return { ...envelope, certificate };
  }
}

describe('two subnets over the embedded XNet transport', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  const transport = new FaultyXNet();
  const { warnings, logger } = warningLog();
  let registry: LocalRegistry;
  let a: Node;
  let b: Node;
  let caller: ActorSubclass<Caller>;
  let echo: Principal;

  before(async () => {
    telemetry = setupTelemetry({ serviceName: 'icpk-test', spanExporter: exporter, spanProcessor: 'simple', prometheusPort: 0, prometheusHost: '127.0.0.1' });
    await telemetry.ready;
    const tracer = new RoundTracer(telemetry.tracerProvider);
    const metrics = new ReplicaMetrics(telemetry.meterProvider);
    ({ registry, a, b } = await startTwoNodes([transport, transport], { logger, tracer, metrics }));
    echo = await installOn(b, 'echo');
    const callerId = await installOn(a, 'caller', new Uint8Array(IDL.encode([IDL.Principal], [echo])));
    const agent = await HttpAgent.create({ host: a.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
    caller = Actor.createActor<Caller>(callerIdl, { agent, canisterId: callerId });
  });

  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await telemetry?.shutdown();
  });

  it('routes each canister to its subnet and both subnets trust one root key', () => {
    assert.notEqual(a.subnetId.toText(), b.subnetId.toText());
    assert.deepEqual(a.rootKey, b.rootKey);
    assert.equal(registry.route(echo)?.toText(), b.subnetId.toText());
  });

  it('a call across subnets replies, rejects, and fans out, certified on both sides', async () => {
    assert.equal(await caller.call_echo('across subnets'), 'across subnets');
    assert.equal(await caller.call_fail(), 'caught: fail');
    assert.equal(await caller.fanout(30n), 30n);
    const toB = a.replica.state.streams.get(b.subnetId.toText())!;
    assert.ok(streamEnd(toB) >= 32n, 'A sent its requests in its stream to B');
    assert.equal(warnings.length, 0, JSON.stringify(warnings));

    // A management call about a canister of B, from a canister of A, is answered by B's management canister.
    const manager = await installOn(a, 'manager');
    const agentB = await HttpAgent.create({ host: b.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
    const { canister_id: managed } = await managementCanister(agentB).provisional_create_canister_with_cycles({
      amount: [1_000_000_000_000n], settings: [defaultSettings({ controllers: [[manager]] })], specified_id: [], sender_canister_version: [],
    });
    const managerActor = Actor.createActor<{ status(p: Principal): Promise<bigint> }>(
      ({ IDL }) => IDL.Service({ status: IDL.Func([IDL.Principal], [IDL.Nat], []) }), { agent: await HttpAgent.create({ host: a.url, shouldFetchRootKey: true }), canisterId: manager });
    assert.ok((await managerActor.status(managed)) > 900_000_000_000n);

    // Both directions counted per remote subnet, and the rounds until A's messages were acknowledged.
    await Promise.all([a.round(), b.round(), a.round(), b.round()]);
    const text = await (await fetch(telemetry.prometheusUrl!)).text();
    const value = (line: RegExp) => Number(text.split('\n').find((l) => line.test(l))?.split(' ').at(-1) ?? 'NaN');
    const remote = (s: Node) => `remote_subnet="${s.subnetId.toText()}"`;
    assert.ok(value(new RegExp(`^icpk_xnet_messages_total\\{[^}]*direction="sent"[^}]*${remote(b)}`)) >= 32, 'A sent to B');
    assert.ok(value(new RegExp(`^icpk_xnet_messages_total\\{[^}]*direction="received"[^}]*${remote(a)}`)) >= 32, 'B received from A');
    const lag = value(new RegExp(`^icpk_xnet_lag_rounds\\{[^}]*${remote(b)}`));
    assert.ok(lag >= 1 && lag < 20, `lag ${lag} rounds`);
  });

  it("the ingress call's trace reaches the callee's execution on the other subnet", async () => {
    exporter.reset();
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const agent = await tracingAgent(a.url, `00-${traceId}-b7ad6b7169203331-01`);
    const traced = Actor.createActor<Caller>(callerIdl, { agent, canisterId: Actor.canisterIdOf(caller) });
    assert.equal(await traced.call_echo('traced'), 'traced');
    const spans = exporter.getFinishedSpans().filter((s) => s.name === SPAN.executeMessage);
    const callerSpan = spans.find((s) => s.attributes[ATTR.messageMethod] === 'call_echo' && s.spanContext().traceId === traceId);
    assert.ok(callerSpan, "the caller's execution is in the ingress call's trace");
    const calleeSpan = spans.find((s) => s.attributes[ATTR.canisterId] === echo.toText() && s.attributes[ATTR.messageMethod] === 'echo' && s.spanContext().traceId === traceId);
    assert.ok(calleeSpan, "the callee's execution on subnet B is in the same trace");
    assert.equal(calleeSpan.parentSpanContext?.spanId, callerSpan.spanContext().spanId, "the callee's span is a child of the caller's");
    // B's round that pulled the request has an xnet.receive phase saying what came from A.
    const receive = exporter.getFinishedSpans().find((s) => s.name === SPAN.xnetReceive
      && s.attributes[ATTR.xnetRemoteSubnet] === a.subnetId.toText() && Number(s.attributes[ATTR.xnetMessages]) >= 1);
    assert.ok(receive, 'an xnet.receive span with the messages received');
    assert.ok(Number(receive.attributes[ATTR.xnetStreamEnd]) >= Number(receive.attributes[ATTR.xnetStreamBegin]) + 1);
  });

  it('a subnet whose slices do not verify gets nothing inducted; the call completes once they do', async () => {
    transport.tamper = true;
    const inducted = b.replica.state.streams.get(a.subnetId.toText())!.signalsEnd;
    const reply = caller.call_echo('after the storm');
    for (let i = 0; i < 5; i++) await Promise.all([a.round(), b.round()]);
    assert.equal(b.replica.state.streams.get(a.subnetId.toText())!.signalsEnd, inducted, 'B inducted nothing from A');
    const refused = warnings.filter((w) => w.message === 'XNet slice refused');
    assert.ok(refused.length > 0);
    assert.match(String((refused[0]!.fields as { err: Error }).err.message), /signature does not verify|malformed|refused/);
    transport.tamper = false;
    warnings.length = 0;
    assert.equal(await reply, 'after the storm');
  });

  it('a slice whose certificate another key signed, or that was altered, is refused', async () => {
    // B pulls nothing for a while: A's request waits in its stream, certified.
    transport.hold = true;
    const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
    const traced = Actor.createActor<Caller>(callerIdl, { agent: await tracingAgent(a.url, `00-${traceId}-00f067aa0ba902b7-01`), canisterId: Actor.canisterIdOf(caller) });
    const reply = traced.call_echo('held');
    const stream = a.replica.state.streams.get(b.subnetId.toText())!;
    const inducted = b.replica.state.streams.get(a.subnetId.toText())!.signalsEnd;
    while (streamEnd(stream) === inducted) await a.round();
    await a.round();
    transport.hold = false;
    const source = registry.subnet(a.subnetId)!;
    // What B would get: the request, with its trace context beside it.
    const envelope = (await transport.pull(a.subnetId, b.subnetId, { from: inducted, acked: 0n }, 5))!;
    assert.equal(envelope.count, 1);
    const slice = await verifySlice(envelope, source, b.subnetId, registry);
    assert.equal(slice.messages[0]?.kind, 'request');
    assert.match(slice.traceparents?.[0] ?? '', new RegExp(`^00-${traceId}-`));
    // Trace context that is not a W3C traceparent is dropped (it is not certified: anyone could send it).
    assert.equal((await verifySlice({ ...envelope, traceparents: ['not a traceparent'] }, source, b.subnetId, registry)).traceparents, undefined);
    // The same certificate presented as B's: the signature does not verify under B's key.
    await assert.rejects(verifySlice(envelope, registry.subnet(b.subnetId)!, b.subnetId, registry), XNetSliceError);
    // One byte of the certificate changed.
    const altered = envelope.certificate.slice();
    altered[altered.length - 40]! ^= 1;
    await assert.rejects(verifySlice({ ...envelope, certificate: altered }, source, b.subnetId, registry), XNetSliceError);
    // More messages claimed than the certificate reveals.
    await assert.rejects(verifySlice({ ...envelope, count: envelope.count + 1 }, source, b.subnetId, registry), /outside the stream|does not reveal/);
    // For another receiver: the certificate reveals no stream to A itself.
    await assert.rejects(verifySlice(envelope, source, a.subnetId, registry), /does not reveal the stream header/);
    assert.equal(await reply, 'held');
  });

  it("a stream that begins after the messages this subnet still expects is refused: messages were lost", async () => {
    // B as if it had lost its state: it expects A's stream from message 0, which A dropped long ago.
    const forgetful = new ReplicatedState(b.subnetId, b.replica.state.canisterRange);
    const { warnings: seen, logger: log } = warningLog();
    const link = new XNetLink({ registry, transport: { serve() {}, withdraw() {}, announce() {}, pull: (...args) => transport.pull(...args) } }, {
      subnetId: b.subnetId, certification: b.certification, state: forgetful, latest: () => b.latest, wake() {},
      verify: blsVerify, logger: log,
    });
    const acknowledged = a.replica.state.streams.get(b.subnetId.toText())!.begin; // messages A dropped
    assert.notEqual(acknowledged, 0n, 'A dropped messages B acknowledged');
    assert.deepEqual(await link.pull(), []);
    assert.match(String((seen[0]?.fields as { err?: Error } | undefined)?.err?.message), /messages were lost/);
  });
});

describe('a subnet that certified something for another tells it', () => {
  it('the other subnet pulls at once instead of at its next idle round', { timeout: 30_000 }, async () => {
    // Idle rounds a minute apart: without the news, the call could not complete before the timeout.
    const transport = new EmbeddedXNet();
    const { a, b } = await startTwoNodes([transport, transport], { roundIntervalMs: 60_000 });
    try {
      const echo = await installOn(b, 'echo');
      const callerId = await installOn(a, 'caller', new Uint8Array(IDL.encode([IDL.Principal], [echo])));
      const agent = await HttpAgent.create({ host: a.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
      const caller = Actor.createActor<Caller>(callerIdl, { agent, canisterId: callerId });
      assert.equal(await caller.call_echo('woken'), 'woken');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('the embedded transport passes the news to the subnet it is for', () => {
    const transport = new EmbeddedXNet();
    const heard: string[] = [];
    const [x, y, z] = [1, 2, 3].map((n) => Principal.fromUint8Array(new Uint8Array(29).fill(n)));
    transport.serve(y!, { slice: () => undefined, news: (from) => heard.push(`y from ${from.toText()}`) });
    transport.serve(z!, { slice: () => undefined, news: (from) => heard.push(`z from ${from.toText()}`) });
    transport.announce(x!, [y!]);
    assert.deepEqual(heard, [`y from ${x!.toText()}`]);
  });
});


describe('three subnets', () => {
  it('a chain of calls goes round three subnets and back, each hop certified and verified', async () => {
    const { nodes, registry, close } = await startLocalNetwork({ subnets: 3, node: { roundIntervalMs: 20 } });
    try {
      const chain = await Promise.all(nodes.map((n) => installOn(n, 'chain')));
      assert.deepEqual(chain.map((c) => registry.route(c)?.toText()), nodes.map((n) => n.subnetId.toText()));
      const agent = await HttpAgent.create({ host: nodes[0]!.url, shouldFetchRootKey: true, identity: Ed25519KeyIdentity.generate() });
      const first = Actor.createActor<{ ping(hops: bigint, next: Principal[]): Promise<bigint> }>(
        ({ IDL }) => IDL.Service({ ping: IDL.Func([IDL.Nat, IDL.Vec(IDL.Principal)], [IDL.Nat], []) }), { agent, canisterId: chain[0]! });
      // 0 → 1 → 2 → 0 → 1 → 2 → 0: six hops over every pair of subnets in one direction.
      assert.equal(await first.ping(6n, [chain[1]!, chain[2]!, chain[0]!]), 6n);
      const sent = (from: number, to: number) => nodes[from]!.replica.state.streams.get(nodes[to]!.subnetId.toText());
      for (const [from, to] of [[0, 1], [1, 2], [2, 0]] as const) assert.ok((sent(from, to)?.signalsEnd ?? 0n) >= 2n, `responses ${to} → ${from}`);
    } finally {
      await close();
    }
  });
});
