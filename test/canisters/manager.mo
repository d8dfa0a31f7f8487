// Manages another canister through the management canister (it must be one of its controllers):
// its status and a deposit of cycles. The other canister may be on another subnet.
persistent actor {
  type Management = actor {
    canister_status : ({ canister_id : Principal }) -> async { cycles : Nat; memory_size : Nat };
    deposit_cycles : ({ canister_id : Principal }) -> async ();
  };
  transient let ic : Management = actor "aaaaa-aa";

  public func status(p : Principal) : async Nat {
    (await ic.canister_status({ canister_id = p })).cycles
  };

  public func deposit(p : Principal, amount : Nat) : async () {
    await (with cycles = amount) ic.deposit_cycles({ canister_id = p });
  };
};
