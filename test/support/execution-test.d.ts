import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';
import { ManualClock, Replica, type CanisterState, type IngressStatus, type ReplicaConfig, type RoundSummary } from '../../replica/src/index.js';
/** A rejected call, as a client would see it. */
export declare class CallRejected extends Error {
    readonly rejectCode: number;
    readonly errorCode: string;
    readonly name = "CallRejected";
    constructor(rejectCode: number, errorCode: string, message: string);
}
export declare const ANONYMOUS: Principal;
/** A self-authenticating-looking user id (ends in 0x02). */
export declare const TEST_USER: Principal;
export interface ExecutionTestOptions extends Partial<ReplicaConfig> {
    /** Nanoseconds the clock moves per round (default 1 s). */
    readonly roundTime?: bigint;
}
export declare class ExecutionTest {
    readonly clock: ManualClock;
    readonly replica: Replica;
    readonly rounds: RoundSummary[];
    private messageCount;
    private readonly roundTime;
    constructor(options?: ExecutionTestOptions);
    get state(): import("../../replica/src/index.js").ReplicatedState;
    canister(id: Principal): CanisterState;
    /** Submits an ingress message; returns its message id. */
    submit(receiver: Principal, method: string, arg: Uint8Array, sender?: Principal): Promise<string>;
    tick(): RoundSummary;
    /** Runs rounds until the message has a terminal status. */
    awaitStatus(messageId: string, maxRounds?: number): IngressStatus;
    /** An update call; resolves with the reply bytes or throws CallRejected. */
    update(canister: Principal, method: string, arg?: Uint8Array, sender?: Principal): Promise<Uint8Array>;
    query(canister: Principal, method: string, arg?: Uint8Array, sender?: Principal): Uint8Array;
    createCanister(options?: {
        cycles?: bigint;
        controllers?: Principal[];
        sender?: Principal;
    }): Promise<Principal>;
    install(canister: Principal, wasm: Uint8Array, arg?: Uint8Array, mode?: 'install' | 'reinstall' | 'upgrade', sender?: Principal, upgradeOptions?: {
        skip_pre_upgrade?: boolean;
    }): Promise<void>;
    createAndInstall(wasm: Uint8Array, arg?: Uint8Array, cycles?: bigint): Promise<Principal>;
    /** Calls a management canister method with Candid values; returns the decoded reply. */
    management(method: string, arg: Record<string, unknown> | undefined, sender?: Principal): Promise<unknown[]>;
}
export declare function emptySettings(): Record<string, unknown[]>;
/** Candid-encodes values of the given types (no arguments: the empty argument list). */
export declare function candid(types?: IDL.Type[], values?: unknown[]): Uint8Array;
export declare function decode<T = unknown>(types: IDL.Type[], bytes: Uint8Array): T[];
