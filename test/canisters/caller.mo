// Calls an `echo.mo` canister given at installation: one call, a caught reject, and n concurrent
// calls awaited together (several outstanding callbacks at once).
import Error "mo:core/Error";
import List "mo:core/List";
import Nat "mo:core/Nat";

persistent actor class Caller(callee : Principal) {
  type Echo = actor {
    echo : Text -> async Text;
    fail : () -> async ();
  };

  func target() : Echo = actor (debug_show callee);

  public func call_echo(t : Text) : async Text {
    await target().echo(t)
  };

  // Returns the reject message the callee sent, proving the reject reached the callback.
  public func call_fail() : async Text {
    try {
      await target().fail();
      "no reject"
    } catch (e) {
      "caught: " # Error.message(e)
    }
  };

  public func fanout(n : Nat) : async Nat {
    let e = target();
    let pending = List.empty<async Text>();
    for (i in Nat.range(0, n)) {
      List.add(pending, e.echo(Nat.toText(i)));
    };
    var replies = 0;
    for (reply in List.values(pending)) {
      ignore await reply;
      replies += 1;
    };
    replies
  };
};
