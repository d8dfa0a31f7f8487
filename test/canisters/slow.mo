// A long update next to a query: `bump(n)` marks its state half done, runs n loop iterations
// (many DTS slices), then finishes; `read` must only ever see the state before or after.
persistent actor Slow {
  var value : Nat = 0;
  var phase : Text = "idle";

  public func set(v : Nat) : async () {
    value := v;
  };

  public func bump(n : Nat) : async Nat {
    value += 1000;
    phase := "half-done";
    var i = 0;
    var acc = 0;
    while (i < n) {
      acc += i % 7;
      i += 1;
    };
    value += 1;
    phase := "done";
    value
  };

  public query func read() : async (Nat, Text) {
    (value, phase)
  };
};
