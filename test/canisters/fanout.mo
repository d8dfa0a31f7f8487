// Composite queries calling other canisters' queries on the same subnet: a fan-out to two leaves,
// a chain of hops through other `Fanout` canisters (call graph depth), many calls in sequence
// (call graph instructions), calls that must be rejected, and local state changed before an await
// (seen by the callback, never persisted).
import Array "mo:core/Array";
import Error "mo:core/Error";

persistent actor Fanout {
  type Leaf = actor {
    get : shared query () -> async Nat;
    bump : shared query () -> async Nat;
    whocalls : shared query () -> async Principal;
    burn : shared query Nat -> async Nat;
  };
  // `upd` is an update of the leaf, typed as a query here: the call is made and must be rejected.
  type Liar = actor {
    upd : shared query () -> async Nat;
  };
  type Hop = actor {
    hop : shared composite query [Principal] -> async Nat;
  };

  var own : Nat = 0;

  func leaf(p : Principal) : Leaf = actor (debug_show p);

  public composite query func sum(a : Principal, b : Principal) : async Nat {
    (await leaf(a).get()) + (await leaf(b).get())
  };

  // Each hop adds one; the last canister of the list answers 0.
  public composite query func hop(rest : [Principal]) : async Nat {
    if (rest.size() == 0) return 0;
    let next : Hop = actor (debug_show (rest[0]));
    let tail = Array.tabulate<Principal>(rest.size() - 1, func(i : Nat) : Principal { rest[i + 1] });
    1 + (await next.hop(tail))
  };

  // `times` sequential calls of the leaf's `burn(n)`.
  public composite query func many(p : Principal, times : Nat, n : Nat) : async Nat {
    var i = 0;
    var total = 0;
    while (i < times) {
      total += await leaf(p).burn(n);
      i += 1;
    };
    total
  };

  // A call whose reject is caught and described: to an update method, to a canister that is not
  // on this subnet, and so on.
  public composite query func try_get(p : Principal) : async Text {
    try {
      let v = await leaf(p).get();
      "ok " # debug_show v
    } catch (e) {
      debug_show (Error.code(e)) # " " # Error.message(e)
    }
  };

  public composite query func try_upd(p : Principal) : async Text {
    try {
      let liar : Liar = actor (debug_show p);
      let v = await liar.upd();
      "ok " # debug_show v
    } catch (e) {
      debug_show (Error.code(e)) # " " # Error.message(e)
    }
  };

  // Changes its own state before awaiting and reads it in the callback; changes the leaf's too.
  public composite query func bump_both(p : Principal) : async (Nat, Nat, Nat) {
    own += 1;
    let first = await leaf(p).bump();
    let second = await leaf(p).bump();
    (own, first, second)
  };

  public composite query func whocalls(p : Principal) : async Principal {
    await leaf(p).whocalls()
  };

  public query func own_value() : async Nat {
    own
  };
};
