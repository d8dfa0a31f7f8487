// A recurring timer (global timer + `canister_global_timer`) incrementing a counter.
// The timer is installed when the actor initializes; being transient, it is re-installed on upgrade.
import Timer "mo:core/Timer";

persistent actor TimerCanister {
  var count : Nat = 0;

  transient let _timer = Timer.recurringTimer<system>(
    #seconds 1,
    func() : async () { count += 1 },
  );

  public query func ticks() : async Nat {
    count
  };
};
