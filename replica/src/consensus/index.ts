export * from './types.js';
export { LocalBlockMaker, ManualClock, systemClock, type Clock } from './local-block-maker.js';
export { FileBlockLog, BlockLogCorruptError, type FileBlockLogOptions } from './block-log.js';
