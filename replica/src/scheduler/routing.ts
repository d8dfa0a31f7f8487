// Where the outputs of executions go: requests to local canisters straight into their input
// queues (they may run in the same round), calls to the management canister into the subnet
// queue, responses to their originators, ingress results into the ingress history. A request that
// cannot be delivered comes back to its sender as a reject with its cycles: guaranteed responses
// are never lost.

import { Principal } from '@icp-sdk/core/principal';
import { CanisterError, ErrorCode, RejectCode, formatErrorCode } from '../errors.js';
import { rejectOf } from '../execution/environment.js';
import { textOf } from '../execution/ids.js';
import type { MessageSink } from '../execution/types.js';
import type { CanisterState, ReplicatedState, Request, Response, ResponsePayload } from '../state/index.js';

const MANAGEMENT = Principal.managementCanister();

export class Router implements MessageSink {
  constructor(
    private readonly state: ReplicatedState,
    /** Calls to the management canister, executed between canister messages. */
    private readonly subnetQueue: Request[],
    /** Requests one canister may have queued from one sender. */
    private readonly maxQueueSlots: number,
  ) {}

  request(request: Request): void {
    if (request.receiver.compareTo(MANAGEMENT) === 'eq') {
      this.subnetQueue.push(request);
      return;
    }
    const callee = this.state.canister(textOf(request.receiver));
    if (!callee) {
      this.bounce(request, new CanisterError(ErrorCode.CanisterNotFound, `Canister ${request.receiver.toText()} not found`));
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
    if (queueFull(callee, request.sender, this.maxQueueSlots)) {
      this.bounce(request, new CanisterError(ErrorCode.CanisterQueueFull,
        `Canister ${callee.idText} has no room for another message from ${request.sender.toText()}: its input queue is full (${this.maxQueueSlots} messages)`));
      return;
    }
    callee.inputQueue.push(request);
  }

  response(response: Response): void {
    // On the IC a slot is reserved for the response when the call is made: it always fits.
    const originator = this.state.canister(textOf(response.originator));
    if (originator) originator.inputQueue.push(response);
    else this.state.cyclesBurned += response.refund; // the caller was deleted: nobody to refund
  }

  ingressResult(messageId: string, payload: ResponsePayload, receiver: Principal): void {
    const state = this.state;
    const prior = state.ingressHistory.get(messageId);
    const sender = prior?.sender ?? MANAGEMENT;
    const base = { sender, receiver: prior?.receiver ?? receiver, time: state.time };
    state.ingressHistory.set(messageId, payload.kind === 'reply'
      ? { status: 'replied', reply: payload.data, ...base }
      : { status: 'rejected', code: payload.code, message: payload.message, errorCode: payload.errorCode ?? formatErrorCode(defaultErrorCode(payload.code)), ...base });
  }

  /** A request that cannot be delivered: its sender gets a reject and the cycles back. */
  private bounce(request: Request, error: CanisterError): void {
    if (request.origin.kind === 'ingress') {
      this.ingressResult(request.origin.messageId, rejectOf(error), request.receiver);
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
