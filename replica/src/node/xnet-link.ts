// A node's side of XNet: it serves this subnet's streams from the latest certified state, pulls
// and verifies what the other subnets' streams hold for it before each block, tells the others
// when it certified something for them, and counts what crossed (messages, acknowledgement lag).

import { Principal } from '@icp-sdk/core/principal';
import type { Span } from '@opentelemetry/api';
import type { CanisterRange } from '../certification/index.js';
import type { XNetSlice } from '../consensus/index.js';
import type { Registry } from '../registry/index.js';
import type { RoundSummary } from '../scheduler/index.js';
import { streamEnd, type ReplicatedState } from '../state/index.js';
import { ATTR, SPAN } from '../telemetry/attributes.js';
import type { ReplicaMetrics } from '../telemetry/metrics.js';
import { recordError, type RoundTracer } from '../telemetry/tracing.js';
import { certifiedSlice, verifySlice, XNetSliceError, type BlsVerifier } from '../xnet/certified-slice.js';
import { DEFAULT_SLICE_MESSAGES } from '../xnet/slice.js';
import type { XNetTransport } from '../xnet/transport.js';
import type { CertifiedSnapshot, StateCertification } from './certification.js';
import type { NodeLogger } from './node.js';

export interface NodeXNetOptions {
  readonly registry: Registry;
  readonly transport: XNetTransport;
  /** Messages a slice of one stream carries at most (default 1000). */
  readonly maxSliceMessages?: number;
}

export interface XNetLinkHost {
  readonly subnetId: Principal;
  readonly certification: StateCertification;
  readonly state: ReplicatedState;
  latest(): CertifiedSnapshot | undefined;
  /** Another subnet certified something for this one: run a round soon. */
  wake(): void;
  /** BLS signature checks (off the main thread). */
  readonly verify: BlsVerifier;
  readonly logger: NodeLogger;
  readonly tracer?: RoundTracer;
  readonly metrics?: ReplicaMetrics;
}

export class XNetLink {
  /** Per stream (remote subnet id): its end and signals end when last announced to that subnet. */
  readonly #announced = new Map<string, { end: bigint; signalsEnd: bigint }>();
  /**
   * Per stream (remote subnet id), for the lag: its end at the last round, and [end, height] of
   * every round it grew in whose messages are not all acknowledged yet.
   */
  readonly #marks = new Map<string, { end: bigint; readonly marks: [end: bigint, height: bigint][] }>();

  constructor(private readonly options: NodeXNetOptions, private readonly host: XNetLinkHost) {
    options.transport.serve(host.subnetId, {
      slice: (to, position, limits) => {
        const latest = host.latest();
        return latest ? certifiedSlice(host.certification, latest, host.state, to, position, limits) : undefined;
      },
      news: () => host.wake(),
    });
  }

  close(): void {
    this.options.transport.withdraw(this.host.subnetId);
  }

  /**
   * What every other subnet's stream holds for this one beyond what it inducted, verified against
   * that subnet's key in the registry, in subnet id order. A subnet that cannot be reached or
   * sends a slice that fails verification contributes nothing this round (logged); its messages
   * wait in its stream until a later round.
   */
  async pull(): Promise<XNetSlice[]> {
    const { registry, transport } = this.options;
    const { subnetId, state, tracer } = this.host;
    const slices: XNetSlice[] = [];
    for (const source of registry.subnets()) {
      if (source.subnetId.compareTo(subnetId) === 'eq') continue;
      const subnet = source.subnetId.toText();
      const stream = state.streams.get(subnet);
      const position = { from: stream?.signalsEnd ?? 0n, acked: stream?.begin ?? 0n };
      const pull = async (span?: Span): Promise<void> => {
        try {
          const envelope = await transport.pull(source.subnetId, subnetId, position, this.options.maxSliceMessages ?? DEFAULT_SLICE_MESSAGES);
          if (envelope === undefined) return;
          const slice = await verifySlice(envelope, source, subnetId, registry, this.host.verify);
          if (slice.header.begin > position.from) {
            // Only this subnet's signals let the sender drop messages: these were never inducted here.
            throw new XNetSliceError(`subnet ${subnet}'s stream begins at message ${slice.header.begin}, but message ${position.from} was never inducted here: messages were lost`);
          }
          span?.setAttributes({
            [ATTR.xnetMessages]: slice.messages.length,
            [ATTR.xnetStreamBegin]: Number(slice.header.begin),
            [ATTR.xnetStreamEnd]: Number(slice.header.end),
          });
          slices.push(slice);
        } catch (e) {
          if (span) recordError(span, e);
          this.host.logger.warn({ component: 'xnet', subnet, err: e }, e instanceof XNetSliceError ? 'XNet slice refused' : 'XNet slice not received');
        }
      };
      await (tracer ? tracer.phase(SPAN.xnetReceive, pull, { [ATTR.xnetRemoteSubnet]: subnet }) : pull());
    }
    return slices;
  }

  /** After a round: messages sent and received per remote subnet, and the acknowledgement lag. */
  recordRound(summary: RoundSummary): void {
    const metrics = this.host.metrics;
    if (!metrics) return;
    for (const [subnet, n] of summary.xnet.received) metrics.recordXnet('received', subnet, n);
    for (const [subnet, n] of summary.xnet.sent) metrics.recordXnet('sent', subnet, n);
    // Rounds from messages entering a stream to the remote subnet acknowledging them (it inducted
    // them and its signals came back), as streams are acknowledged.
    for (const [subnet, stream] of this.host.state.streams) {
      let s = this.#marks.get(subnet);
      if (s === undefined) this.#marks.set(subnet, (s = { end: stream.begin, marks: [] }));
      const end = streamEnd(stream);
      if (end > s.end) s.marks.push([end, summary.height]);
      s.end = end;
      let acknowledged: bigint | undefined;
      while (s.marks.length > 0 && s.marks[0]![0] <= stream.begin) acknowledged = s.marks.shift()![1];
      if (acknowledged !== undefined) metrics.setXnetLag(subnet, Number(summary.height - acknowledged));
    }
  }

  /** After certification: tells the subnets whose streams got messages or signals in this round. */
  announce(): void {
    const to: Principal[] = [];
    for (const [subnet, stream] of this.host.state.streams) {
      const end = streamEnd(stream);
      const last = this.#announced.get(subnet);
      if (last !== undefined && last.end === end && last.signalsEnd === stream.signalsEnd) continue;
      this.#announced.set(subnet, { end, signalsEnd: stream.signalsEnd });
      to.push(Principal.fromText(subnet));
    }
    if (to.length > 0) this.options.transport.announce(this.host.subnetId, to);
  }
}

/** The registry must know this node's subnet as the node is: its key and its canister range. */
export function checkRegistry(registry: Registry, subnetId: Principal, keyDer: Uint8Array, ranges: readonly CanisterRange[]): void {
  const record = registry.subnet(subnetId);
  if (record === undefined) throw new Error(`the registry has no subnet ${subnetId.toText()} (this node's subnet): add it, with its public key and canister range`);
  if (record.publicKeyDer !== undefined && Buffer.compare(record.publicKeyDer, keyDer) !== 0) {
    throw new Error(`the registry's public key of subnet ${subnetId.toText()} is not this node's subnet key`);
  }
  for (const [start, end] of ranges) {
    const first = registry.route(Principal.fromUint8Array(start));
    const last = registry.route(Principal.fromUint8Array(end));
    if (first?.compareTo(subnetId) !== 'eq' || last?.compareTo(subnetId) !== 'eq') {
      throw new Error(`the registry does not route this node's canister range ${Principal.fromUint8Array(start).toText()}..${Principal.fromUint8Array(end).toText()} to subnet ${subnetId.toText()}`);
    }
  }
}
