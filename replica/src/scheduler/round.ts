// One round: take a block, induct its messages, run heartbeats and due timers, then execute in
// iterations until no work is left or the round's instruction budget is spent. Canisters are
// visited in canister-id order, so the result depends only on the block and the state.

import { Principal } from '@icp-sdk/core/principal';
import { sha256 } from '@noble/hashes/sha2.js';
import { CanisterError, ErrorCode, RejectCode, formatErrorCode } from '../errors.js';
import type { Block, IngressMessage } from '../consensus/types.js';
import { rejectOf, type ExecutionEnvironment } from '../execution/environment.js';
import type { MessageSink } from '../execution/types.js';
import type { ManagementCanister } from '../management/index.js';
import type { ReplicatedState, Request, Response, ResponsePayload } from '../state/index.js';
import { DEFAULT_SCHEDULER_CONFIG, type RoundSummary, type SchedulerConfig } from './types.js';

const MANAGEMENT = Principal.managementCanister();

export class Scheduler {
  constructor(
    private readonly env: ExecutionEnvironment,
    private readonly management: ManagementCanister,
    readonly config: SchedulerConfig = DEFAULT_SCHEDULER_CONFIG,
  ) {}

  executeRound(state: ReplicatedState, block: Block): RoundSummary {
    const subnetQueue: Request[] = [];
    const sink = this.router(state, subnetQueue);
    state.height = block.height;
    state.time = block.time > state.time ? block.time : state.time + 1n;

    this.management.answerRawRand(state, (i) => drawRandom(block.randomness, i), sink);
    this.induct(state, block.ingress, sink, subnetQueue);

    let instructions = 0n;
    let executed = 0;
    for (const canister of state.canisters()) {
      if (canister.execution?.module.info.systemMethods.heartbeat) {
        instructions += this.env.executeTask(state, canister, 'heartbeat', sink);
      }
      if (canister.globalTimer !== 0n && canister.globalTimer <= state.time) {
        canister.globalTimer = 0n; // a timer fires once; the canister sets it again if it wants
        instructions += this.env.executeTask(state, canister, 'global_timer', sink);
      }
    }

    // Iterations: management calls first (as the IC runs subnet messages first), then one message
    // per canister. Outputs become inputs of the next iteration.
    for (;;) {
      let progress = false;
      for (const request of subnetQueue.splice(0)) {
        instructions += this.management.execute(state, request, sink);
        executed++;
        progress = true;
      }
      for (const canister of state.canisters()) {
        if (instructions >= this.config.roundInstructions) break;
        const message = canister.inputQueue.shift();
        if (!message) continue;
        instructions += this.env.executeMessage(state, canister, message, sink);
        executed++;
        progress = true;
      }
      this.management.completeStops(state, sink);
      if (!progress || instructions >= this.config.roundInstructions) break;
    }
    const workLeft = subnetQueue.length > 0 || state.canisters().some((c) => c.inputQueue.length > 0);
    // Management calls that arrived after the budget ran out are kept for the next round.
    if (subnetQueue.length > 0) state.pendingSubnetCalls.push(...subnetQueue);
    return { height: block.height, instructions, messagesExecuted: executed, workLeft };
  }

  /** Ingress induction: charge the receiver, queue the message, record its status. */
  private induct(state: ReplicatedState, ingress: readonly IngressMessage[], sink: MessageSink, subnetQueue: Request[]): void {
    subnetQueue.push(...state.pendingSubnetCalls.splice(0));
    for (const m of ingress) {
      if (state.ingressHistory.has(m.messageId)) continue; // duplicates are executed once
      const request: Request = {
        kind: 'request', sender: m.sender, receiver: m.receiver, method: m.method, arg: m.arg, cycles: 0n,
        origin: { kind: 'ingress', messageId: m.messageId, sender: m.sender }, traceparent: m.traceparent,
      };
      state.ingressHistory.set(m.messageId, { status: 'received', sender: m.sender, receiver: m.receiver, time: state.time });
      if (m.receiver.compareTo(MANAGEMENT) === 'eq') {
        state.ingressHistory.set(m.messageId, { status: 'processing', sender: m.sender, receiver: m.receiver, time: state.time });
        subnetQueue.push(request);
        continue;
      }
      const canister = state.canister(m.receiver);
      if (!canister) {
        sink.ingressResult(m.messageId, rejectOf(new CanisterError(ErrorCode.CanisterNotFound, `Canister ${m.receiver.toText()} not found`)), m.receiver);
        continue;
      }
      const fee = this.env.fees.ingressInductionCost(BigInt(m.arg.length + m.method.length));
      if (canister.balance - fee < this.env.fees.freezingThreshold(canister)) {
        sink.ingressResult(m.messageId, rejectOf(new CanisterError(ErrorCode.CanisterOutOfCycles,
          `Canister ${canister.idText} is out of cycles: please top up the canister with at least ${fee + this.env.fees.freezingThreshold(canister) - canister.balance} additional cycles`)), m.receiver);
        continue;
      }
      canister.balance -= fee;
      canister.burn('ingress_induction', fee);
      state.cyclesBurned += fee;
      state.ingressHistory.set(m.messageId, { status: 'processing', sender: m.sender, receiver: m.receiver, time: state.time });
      canister.inputQueue.push(request);
    }
  }

  /** Routing of outputs: local canisters, the management canister, and the ingress history. */
  private router(state: ReplicatedState, subnetQueue: Request[]): MessageSink {
    return {
      request: (request: Request) => {
        if (request.receiver.compareTo(MANAGEMENT) === 'eq') {
          subnetQueue.push(request);
          return;
        }
        const callee = state.canister(request.receiver);
        if (callee) {
          callee.inputQueue.push(request);
          return;
        }
        const caller = state.canister(request.sender);
        if (caller && request.origin.kind === 'canister') {
          const e = new CanisterError(ErrorCode.CanisterNotFound, `Canister ${request.receiver.toText()} not found`);
          caller.inputQueue.push({
            kind: 'response', originator: request.sender, respondent: request.receiver,
            callbackId: request.origin.callbackId, payload: rejectOf(e), refund: request.cycles,
          });
        }
      },
      response: (response: Response) => {
        state.canister(response.originator)?.inputQueue.push(response);
      },
      ingressResult: (messageId: string, payload: ResponsePayload, receiver: Principal) => {
        const prior = state.ingressHistory.get(messageId);
        const sender = prior?.sender ?? MANAGEMENT;
        const base = { sender, receiver: prior?.receiver ?? receiver, time: state.time };
        state.ingressHistory.set(messageId, payload.kind === 'reply'
          ? { status: 'replied', reply: payload.data, ...base }
          : { status: 'rejected', code: payload.code, message: payload.message, errorCode: payload.errorCode ?? formatErrorCode(defaultErrorCode(payload.code)), ...base });
      },
    };
  }
}

function defaultErrorCode(code: RejectCode): ErrorCode {
  return code === RejectCode.CanisterReject ? ErrorCode.CanisterRejectedMessage : ErrorCode.CanisterTrapped;
}

/** 32 bytes for the i-th raw_rand answer of a round, derived from the round's randomness. */
function drawRandom(randomness: Uint8Array, i: number): Uint8Array {
  const input = new Uint8Array(randomness.length + 4);
  input.set(randomness);
  new DataView(input.buffer).setUint32(randomness.length, i);
  return sha256(input);
}
