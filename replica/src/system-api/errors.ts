import { CanisterError, ErrorCode } from '../errors.js';

/** A trap raised by the host during execution; unwinds the Wasm stack and rolls the message back. */
export class CanisterTrap extends CanisterError {
  static calledTrap(message: string): CanisterTrap {
    return new CanisterTrap(ErrorCode.CanisterCalledTrap, `Canister called \`ic0.trap\` with message: '${message}'`);
  }
  static trapped(what: string): CanisterTrap {
    return new CanisterTrap(ErrorCode.CanisterTrapped, `Canister trapped: ${what}`);
  }
  static contract(message: string): CanisterTrap {
    return new CanisterTrap(ErrorCode.CanisterContractViolation, `Canister violated contract: ${message}`);
  }
}
