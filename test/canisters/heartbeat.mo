// `canister_heartbeat`, run by the scheduler every round.
persistent actor Heartbeat {
  var count : Nat = 0;

  system func heartbeat() : async () {
    count += 1;
  };

  public query func beats() : async Nat {
    count
  };
};
