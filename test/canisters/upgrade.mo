// Upgrade semantics: `stable_count` is stable (the default in a persistent actor) and survives an
// upgrade; `heap_count` is transient and starts again from 0 after one.
persistent actor Upgrade {
  var stable_count : Nat = 0;
  transient var heap_count : Nat = 0;

  public func bump() : async () {
    stable_count += 1;
    heap_count += 1;
  };

  public query func read() : async { stable_count : Nat; heap_count : Nat } {
    { stable_count; heap_count }
  };

  public query func read_stable() : async Nat { stable_count };

  public query func read_heap() : async Nat { heap_count };
};
