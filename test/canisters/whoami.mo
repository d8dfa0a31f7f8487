// Who is calling: the caller's principal, from an update and from a query (identities, delegations).
persistent actor {
  public shared ({ caller }) func whoami() : async Principal { caller };
  public shared query ({ caller }) func whoami_query() : async Principal { caller };
};
