// A certified variable (interface spec, "Certified data"): an update sets up to 32 bytes of
// certified data, a query returns them with the subnet's certificate that covers them.
import CertifiedData "mo:core/CertifiedData";

persistent actor Certified {
  var data : Blob = "";

  public func set(value : Blob) : async () {
    CertifiedData.set(value); // traps above 32 bytes, before `data` changes
    data := value;
  };

  public query func get() : async { data : Blob; certificate : ?Blob } {
    { data; certificate = CertifiedData.getCertificate() }
  };
};
