// A callee for inter-canister tests: replies with its argument, or rejects.
import Error "mo:core/Error";

persistent actor Echo {
  public func echo(t : Text) : async Text {
    t
  };

  public func fail() : async () {
    throw Error.reject("fail");
  };
};
