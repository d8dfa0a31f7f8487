// A counter: the smallest stateful canister (update, query, update with an argument).
persistent actor Counter {
  var count : Nat = 0;

  public func inc() : async Nat {
    count += 1;
    count
  };

  public query func get() : async Nat {
    count
  };

  public func add(n : Nat) : async Nat {
    count += n;
    count
  };
};
