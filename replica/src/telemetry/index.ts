// Telemetry: spans, metrics and logs of the replica. Library code imports from here and talks to
// `@opentelemetry/api` only; the process entry point installs the SDK with `setupTelemetry` from
// `./setup.js` (not re-exported, so importing telemetry never loads the SDK).

export * from './attributes.js';
export {
  contextFromTraceparent,
  endMessage,
  injectTraceparent,
  linkTo,
  recordError,
  recordMessageResult,
  RoundTracer,
  TRACE_PARENT_HEADER,
  TRACER_NAME,
  traceparentFromHeaders,
  traceparentOf,
  withActiveSpan,
  withSpan,
  type HeaderSource,
  type HeaderTarget,
  type MessageAttributes,
  type MessageResult,
  type MessageTrace,
  type OpenRound,
  type RoundSummaryAttributes,
  type SpanOptions,
  type Textual,
} from './tracing.js';
export {
  METER_NAME,
  METRICS,
  prometheusSeries,
  ReplicaMetrics,
  type CheckpointMetrics,
  type MetricDescriptor,
  type MetricKind,
  type QueryMetrics,
  type RoundEndGauges,
  type RoundMetrics,
} from './metrics.js';
export {
  createLogger,
  parseLogLevels,
  ReplicaLogger,
  withContext,
  type LogContext,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogLevels,
} from './logger.js';
