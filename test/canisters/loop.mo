// Long-running messages: `spin` never ends (it must hit the instruction limit);
// `work(n)` runs n loop iterations (for deterministic time slicing).
persistent actor Loop {
  public func spin() : async () {
    var x : Nat64 = 0;
    loop {
      x +%= 1;
    };
  };

  public func work(n : Nat) : async Nat {
    var i = 0;
    var acc = 0;
    while (i < n) {
      acc += i % 7;
      i += 1;
    };
    acc
  };
};
