// Names shared by spans, metrics and logs, in one place (OTel: attribute names are constants in one
// module). Span attributes are namespaced `icpk.*`; metric labels are short Prometheus names.

/** Span names: one per round phase, named after the phase, not the function. */
export const SPAN = {
  round: 'round',
  induct: 'induct',
  iteration: 'iteration',
  executeMessage: 'execute_message',
  route: 'route',
  certify: 'certify',
  commit: 'commit',
  checkpoint: 'checkpoint',
  xnetSend: 'xnet.send',
  xnetReceive: 'xnet.receive',
  query: 'execute_query',
  httpRequest: 'http.request',
  reconcile: 'reconcile',
} as const;

export type SpanName = (typeof SPAN)[keyof typeof SPAN];

/** The phases of a round (children of the `round` span). */
export type PhaseName =
  | typeof SPAN.induct
  | typeof SPAN.iteration
  | typeof SPAN.route
  | typeof SPAN.certify
  | typeof SPAN.commit
  | typeof SPAN.checkpoint
  | typeof SPAN.xnetSend
  | typeof SPAN.xnetReceive;

/** Span attribute names. */
export const ATTR = {
  subnetId: 'icpk.subnet.id',
  replicaId: 'icpk.replica.id',

  roundHeight: 'icpk.round.height',
  roundInstructions: 'icpk.round.instructions',
  roundMessages: 'icpk.round.messages',
  roundWorkLeft: 'icpk.round.work_left',
  iterationIndex: 'icpk.iteration.index',
  inductedMessages: 'icpk.induct.messages',

  canisterId: 'icpk.canister.id',
  messageMethod: 'icpk.message.method',
  /** `ingress`, `request`, `response`, `heartbeat`, `global_timer`, ... (see MessageKind). */
  messageKind: 'icpk.message.kind',
  /** Hex request id of an ingress message. */
  messageId: 'icpk.message.id',
  messageCaller: 'icpk.message.caller',
  messageInstructions: 'icpk.message.instructions',
  messageCycles: 'icpk.message.cycles',
  /** See MessageOutcome. */
  messageOutcome: 'icpk.message.outcome',
  /** 0 for the first slice of a deterministic time slicing execution, then 1, 2, ... */
  dtsSlice: 'icpk.dts.slice',

  checkpointHeight: 'icpk.checkpoint.height',
  checkpointBytes: 'icpk.checkpoint.bytes',
  checkpointPages: 'icpk.checkpoint.pages',

  xnetRemoteSubnet: 'icpk.xnet.remote_subnet',
  xnetMessages: 'icpk.xnet.messages',
  xnetStreamBegin: 'icpk.xnet.stream.begin',
  xnetStreamEnd: 'icpk.xnet.stream.end',

  queryKind: 'icpk.query.kind',

  k8sKind: 'icpk.k8s.kind',
  k8sNamespace: 'icpk.k8s.namespace',
  k8sName: 'icpk.k8s.name',
} as const;

/** Kinds of message execution (span attribute `icpk.message.kind`). */
export type MessageKind = 'ingress' | 'request' | 'response' | 'heartbeat' | 'global_timer' | 'subnet' | 'install_code';

/**
 * How one message execution ended (span attribute `icpk.message.outcome`, metric label `outcome`).
 * `completed`: finished without replying (the call context stays open, or a task with nobody
 * waiting); `paused`: a DTS slice ended, the message continues next round; `aborted`: a paused
 * execution was dropped (checkpoint, install_code) and will restart from scratch.
 */
export const MESSAGE_OUTCOMES = ['replied', 'rejected', 'trapped', 'completed', 'paused', 'aborted'] as const;
export type MessageOutcome = (typeof MESSAGE_OUTCOMES)[number];

/**
 * Cycles burn categories (metric label `category`): the names the state passes to
 * `CanisterState.burn`. Anything else is reported as `other`, which keeps the label bounded.
 */
export const CYCLES_BURN_CATEGORIES = [
  'execution',
  'ingress_induction',
  'call',
  'canister_creation',
  'storage',
  'compute_allocation',
  'http_outcall',
  'cycles_burn',
  'deletion',
  'other',
] as const;
export type CyclesBurnCategory = (typeof CYCLES_BURN_CATEGORIES)[number];

export type QueryKind = 'query' | 'composite_query';
export type QueryOutcome = 'replied' | 'rejected' | 'trapped';
export type XnetDirection = 'sent' | 'received';

/** Metric label names. */
export const LABEL = {
  outcome: 'outcome',
  category: 'category',
  queue: 'queue',
  direction: 'direction',
  remoteSubnet: 'remote_subnet',
  kind: 'kind',
  /** The resource attribute `icpk.subnet.id` as the scrape endpoint labels every series. */
  subnet: 'icpk_subnet_id',
} as const;

/** Queues reported by `icpk_canister_queue_length` (label `queue`). */
export type QueueName = 'input' | 'output' | 'subnet' | 'ingress_pool';

/** Log record field names (pino). */
export const LOG_FIELD = {
  component: 'component',
  traceId: 'trace_id',
  spanId: 'span_id',
  traceFlags: 'trace_flags',
  round: 'round',
  canisterId: 'canister_id',
} as const;
