// Where the outputs of executions go: requests to local canisters straight into their input
// queues (they may run in the same round), calls to the management canister into the subnet
// queue, responses to their originators, ingress results into the ingress history, and messages
// to canisters of other subnets (by the registry's routing table) into the stream to that subnet.
// A request that cannot be delivered comes back to its sender as a reject with its cycles:
// guaranteed responses are never lost.

import { Principal } from '@icp-sdk/core/principal';
import { CanisterError, ErrorCode, RejectCode, formatErrorCode } from '../errors.js';
import { rejectOf } from '../execution/environment.js';
import { effectiveCanisterId } from '../management/management-canister.js';
import { textOf } from '../execution/ids.js';
import type { IngressOrigin, MessageSink } from '../execution/types.js';
import type { XNetSlice } from '../consensus/types.js';
import type { Registry } from '../registry/index.js';
import { attachedCycles, streamEnd, streamOf, type CanisterMessage, type CanisterState, type ReplicatedState, type Request, type Response, type ResponsePayload } from '../state/index.js';

const MANAGEMENT = Principal.managementCanister();

export interface RouterLimits {
  /** Requests one canister may have queued from one sender. */
  readonly maxQueueSlots: number;
  /** Messages a stream to another subnet may hold unacknowledged. */
  readonly maxStreamMessages: number;
}

export class Router implements MessageSink {
  /** Messages put into streams to other subnets, by subnet id (text). */
  readonly sent = new Map<string, number>();
  /** Messages inducted from other subnets' streams, by subnet id (text). */
  readonly received = new Map<string, number>();

  constructor(
    private readonly state: ReplicatedState,
    /** Calls to the management canister, executed between canister messages. */
    private readonly subnetQueue: Request[],
    private readonly limits: RouterLimits,
    private readonly registry?: Registry,
  ) {}

  request(request: Request): void {
    if (request.receiver.compareTo(MANAGEMENT) === 'eq') {
      // A canister's call about a canister of another subnet goes to that subnet's management canister.
      const target = this.registry && request.origin.kind === 'canister' ? effectiveCanisterId(request.method, request.arg) : undefined;
      const remote = target && this.remoteSubnet(target);
      if (remote !== undefined) this.sendRemote(remote, request);
      else this.subnetQueue.push(request);
      return;
    }
    const callee = this.state.canister(textOf(request.receiver));
    if (!callee) {
      const remote = this.remoteSubnet(request.receiver);
      if (remote === undefined) this.bounce(request, new CanisterError(ErrorCode.CanisterNotFound, `Canister ${request.receiver.toText()} not found`));
      else this.sendRemote(remote, request);
      return;
    }
    // A stopping or stopped canister takes no new requests (responses still come in), as on the IC:
    // nothing can be left in the queue of a canister that is then deleted.
    if (callee.status !== 'running') {
      this.bounce(request, callee.status === 'stopped'
        ? new CanisterError(ErrorCode.CanisterStopped, `Canister ${callee.idText} is stopped`)
        : new CanisterError(ErrorCode.CanisterStopping, `Canister ${callee.idText} is stopping`));
      return;
    }
    if (queueFull(callee, request.sender, this.limits.maxQueueSlots)) {
      this.bounce(request, new CanisterError(ErrorCode.CanisterQueueFull,
        `Canister ${callee.idText} has no room for another message from ${request.sender.toText()}: its input queue is full (${this.limits.maxQueueSlots} messages)`));
      return;
    }
    callee.inputQueue.push(request);
  }

  response(response: Response): void {
    // On the IC a slot is reserved for the response when the call is made: it always fits.
    const originator = this.state.canister(textOf(response.originator));
    if (originator) {
      originator.inputQueue.push(response);
      return;
    }
    const remote = this.remoteSubnet(response.originator);
    if (remote !== undefined) this.toStream(remote, response);
    else this.state.cyclesBurned += response.refund; // the caller was deleted: nobody to refund
  }

  ingressResult(ingress: IngressOrigin, payload: ResponsePayload, receiver: Principal): void {
    const state = this.state;
    const base = { sender: ingress.sender, receiver, time: state.time };
    state.ingressHistory.set(ingress.messageId, payload.kind === 'reply'
      ? { status: 'replied', reply: payload.data, ...base }
      : { status: 'rejected', code: payload.code, message: payload.message, errorCode: payload.errorCode ?? formatErrorCode(defaultErrorCode(payload.code)), ...base });
  }

  /**
   * Inducts a slice of another subnet's stream: its signals drop the messages of our stream to it
   * that it acknowledged (their cycles have left this subnet), then each of its messages not
   * inducted before goes where it is addressed, in order. A request for a canister that is not
   * here is rejected back to its sender, never forwarded.
   */
  induct(slice: XNetSlice): void {
    const subnet = slice.subnet.toText();
    const stream = streamOf(this.state, subnet);
    const state = this.state;
    const end = streamEnd(stream);
    const acked = slice.header.signalsEnd < end ? slice.header.signalsEnd : end;
    if (acked > stream.begin) {
      for (const m of stream.messages.splice(0, Number(acked - stream.begin))) state.cyclesSent += attachedCycles(m);
      stream.begin = acked;
    }
    if (slice.from > stream.signalsEnd) return; // a gap: nothing can be inducted out of order
    let count = 0;
    for (let i = 0; i < slice.messages.length; i++) {
      const index = slice.from + BigInt(i);
      if (index < stream.signalsEnd) continue; // inducted from an earlier slice
      const m = slice.messages[i]!;
      stream.signalsEnd = index + 1n;
      state.cyclesReceived += attachedCycles(m);
      count++;
      if (m.kind === 'response') {
        const originator = state.canister(textOf(m.originator));
        if (originator) originator.inputQueue.push(m);
        else state.cyclesBurned += m.refund; // the caller is gone (or was never here): nobody to refund
        continue;
      }
      if (m.origin.kind !== 'canister') {
        state.cyclesBurned += m.cycles; // only canisters call across subnets: nobody to answer
        continue;
      }
      const traceparent = slice.traceparents?.[i];
      const request = traceparent === undefined ? m : { ...m, traceparent };
      const target = m.receiver.compareTo(MANAGEMENT) === 'eq' ? effectiveCanisterId(m.method, m.arg) : m.receiver;
      const here = m.receiver.compareTo(MANAGEMENT) === 'eq'
        ? target !== undefined && this.registry?.route(target)?.compareTo(state.subnetId) === 'eq'
        : state.canister(textOf(m.receiver)) !== undefined;
      if (here) this.request(request);
      else this.bounce(request, new CanisterError(ErrorCode.CanisterNotFound, `Canister ${(target ?? m.receiver).toText()} not found`));
    }
    if (count > 0) this.received.set(subnet, (this.received.get(subnet) ?? 0) + count);
  }

  /** The subnet (id text) hosting `canister` if it is another one than this. */
  private remoteSubnet(canister: Principal): string | undefined {
    const subnet = this.registry?.route(canister);
    return subnet === undefined || subnet.compareTo(this.state.subnetId) === 'eq' ? undefined : subnet.toText();
  }

  /** A request into the stream to `remote`, or rejected back (transient) when that stream is full. */
  private sendRemote(remote: string, request: Request): void {
    if (streamOf(this.state, remote).messages.length >= this.limits.maxStreamMessages) {
      this.bounce(request, new CanisterError(ErrorCode.CanisterQueueFull,
        `The stream to subnet ${remote} is full (${this.limits.maxStreamMessages} messages not yet acknowledged): cannot send to ${request.receiver.toText()}`));
    } else {
      this.toStream(remote, request);
    }
  }

  private toStream(subnet: string, message: CanisterMessage): void {
    streamOf(this.state, subnet).messages.push(message);
    this.sent.set(subnet, (this.sent.get(subnet) ?? 0) + 1);
  }

  /** A request that cannot be delivered: its sender gets a reject and the cycles back. */
  private bounce(request: Request, error: CanisterError): void {
    if (request.origin.kind === 'ingress') {
      this.ingressResult(request.origin, rejectOf(error), request.receiver);
      return;
    }
    this.response({
      kind: 'response', originator: request.sender, respondent: request.receiver,
      callbackId: request.origin.callbackId, payload: rejectOf(error), refund: request.cycles,
    });
  }
}

/** Whether `callee` already holds `maxSlots` requests from `sender` (counted only near the limit). */
export function queueFull(callee: CanisterState, sender: Principal, maxSlots: number): boolean {
  if (callee.inputQueue.length < maxSlots) return false;
  let n = 0;
  for (const m of callee.inputQueue) {
    if (m.kind === 'request' && m.sender.compareTo(sender) === 'eq' && ++n >= maxSlots) return true;
  }
  return false;
}

function defaultErrorCode(code: RejectCode): ErrorCode {
  return code === RejectCode.CanisterReject ? ErrorCode.CanisterRejectedMessage : ErrorCode.CanisterTrapped;
}
