// The callee of composite queries: a value, a query that reads it, one that changes it (a query's
// changes are discarded), one that costs `n` loop iterations, and an update (not callable from a
// composite query).
persistent actor Leaf {
  var value : Nat = 0;

  public func set(v : Nat) : async () {
    value := v;
  };

  public query func get() : async Nat {
    value
  };

  public query func bump() : async Nat {
    value += 1;
    value
  };

  public shared query ({ caller }) func whocalls() : async Principal {
    caller
  };

  public query func burn(n : Nat) : async Nat {
    var i = 0;
    var acc = 0;
    while (i < n) {
      acc += i % 7;
      i += 1;
    };
    acc
  };

  public func upd() : async Nat {
    value
  };
};
