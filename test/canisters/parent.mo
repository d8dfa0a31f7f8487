// Creates a child canister from an imported actor class, paying for it with cycles, then calls it.
// Motoko compiles `Child.Child(…)` into management canister `create_canister` (with the attached
// cycles) followed by `install_code` of the child's wasm, which is embedded in this canister.
import Principal "mo:core/Principal";
import Child "child";

persistent actor Parent {
  var spawned : Nat = 0;

  // Attached to `create_canister`; must cover the canister creation fee (500B on 13 nodes).
  transient let CHILD_CYCLES = 1_000_000_000_000;

  public func spawn() : async Principal {
    let child = await (with cycles = CHILD_CYCLES) Child.Child(Principal.fromActor(Parent));
    spawned += 1;
    Principal.fromActor(child)
  };

  public func spawn_and_call(name : Text) : async Text {
    let child = await (with cycles = CHILD_CYCLES) Child.Child(Principal.fromActor(Parent));
    spawned += 1;
    await child.hello(name)
  };

  public query func count() : async Nat {
    spawned
  };
};
