// The actor class `parent.mo` instantiates: created via the management canister with cycles
// and installed with this class's wasm embedded in the parent.
persistent actor class Child(parent : Principal) {
  var greetings : Nat = 0;

  public func hello(name : Text) : async Text {
    greetings += 1;
    "hello " # name
  };

  public query func parent_id() : async Principal {
    parent
  };

  public query func count() : async Nat {
    greetings
  };
};
