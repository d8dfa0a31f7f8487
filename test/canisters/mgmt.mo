// Calls the management canister, declared as an actor type with just the methods used.
// Candid subtyping lets the reply carry more fields than `CanisterStatus` names.
import Principal "mo:core/Principal";

persistent actor Self {
  type CanisterStatus = {
    cycles : Nat;
    memory_size : Nat;
  };

  type Management = actor {
    canister_status : ({ canister_id : Principal }) -> async CanisterStatus;
    raw_rand : () -> async Blob;
  };

  transient let ic : Management = actor "aaaaa-aa";

  public func self_status() : async Nat {
    let status = await ic.canister_status({ canister_id = Principal.fromActor(Self) });
    status.cycles
  };

  public func raw_rand() : async Blob {
    await ic.raw_rand()
  };
};
