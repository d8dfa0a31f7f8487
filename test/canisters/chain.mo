// A call chain across canisters (A → B → C → A …): each hop calls the first principal in `next`
// with the ring rotated by one, until `hops` runs out. Returns the number of hops made.
import Array "mo:core/Array";

persistent actor Chain {
  type Chain = actor {
    ping : (Nat, [Principal]) -> async Nat;
  };

  public func ping(hops : Nat, next : [Principal]) : async Nat {
    if (hops == 0 or next.size() == 0) return 0;
    let size = next.size();
    let rotated = Array.tabulate<Principal>(size, func i = next[(i + 1) % size]);
    let peer : Chain = actor (debug_show next[0]);
    1 + (await peer.ping(hops - 1 : Nat, rotated))
  };
};
