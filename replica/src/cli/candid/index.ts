// Candid in text form for the CLI: service descriptions (`.did`) to agent IDL types, values in
// Candid text to and from JS values, and the types a message carries on the wire.
//
// `@icp-sdk/core/candid` has no parser for Candid text (its `candid-ui` parses single form
// inputs only), so this covers what a command line needs: every type of the spec (`import` in
// .did files excepted) and values of every type, `func` and `service` references included.

export { CandidSyntaxError, CandidTypeError } from './errors.js';
export { methodsOf, parseArgTypes, parseDid, parseType, TypeEnvironment, type ServiceDescription } from './did.js';
export { encodeArgs, inferType, parseValues, valueOf, type ValueNode } from './values.js';
export { formatValue, formatValues, toJson, valuesToJson, type Json } from './print.js';
export { typesOfMessage } from './wire.js';
