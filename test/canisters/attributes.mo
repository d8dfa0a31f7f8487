// Caller info (spec `sender_info`): the attributes a trusted canister signed about the caller,
// read with the core library's CallerAttributes, which trusts the signers listed in the
// canister's environment variable `trusted_attribute_signers`.
import CallerAttributes "mo:core/CallerAttributes";

persistent actor {
  public shared func attributes() : async ?Blob {
    CallerAttributes.getAttributes<system>()
  };
};
