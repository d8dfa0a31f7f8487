// A trap rolls back the message's state changes: `read` must still return the old value.
import Runtime "mo:core/Runtime";

persistent actor Trap {
  var value : Nat = 0;

  public func write_then_trap() : async () {
    value += 1;
    Runtime.trap("boom");
  };

  public query func read() : async Nat {
    value
  };
};
