// Non-replicated execution on the latest certified state: concurrent with rounds, on query worker
// threads, composite queries included. The replicated state never sees what a query does.

export { QueryExecutor } from './executor.js';
export { QueryStatePublisher, type PublishedCanister } from './publisher.js';
export { createQueryService, InProcessQueries, QueryWorkerPool, type QueryService, type QueryServiceOptions } from './service.js';
export { QueryStore } from './store.js';
export { DEFAULT_QUERY_LIMITS, type QueryLimits, type QueryRequest, type QueryResult, type QueryStateUpdate } from './types.js';
