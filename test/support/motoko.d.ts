/** The repository root, found from this file rather than from the working directory. */
export declare const REPO_ROOT: string;
/** Where the Motoko test canisters live. */
export declare const CANISTERS_DIR: string;
/** Where compiled canisters are cached. */
export declare const MOTOKO_CACHE_DIR: string;
/**
 * The flags every compile uses; part of the cache key. `classicOP` selects 32-bit classic
 * orthogonal persistence: the default (enhanced orthogonal persistence) emits memory64, which
 * Node 20 rejects.
 */
export declare const MOTOKO_FLAGS: {
    readonly mode: "ic";
    readonly gc: "classicOP";
};
export interface MotokoCompilation {
    readonly wasm: Uint8Array;
    /** The canister's Candid service description, as `moc --idl` prints it. */
    readonly candid: string;
    /** True when the result was read from `.cache/motoko` rather than compiled now. */
    readonly fromCache: boolean;
    /** sha256 (hex) of sources + compiler version + flags; names the cache files. */
    readonly cacheKey: string;
    /** Absolute path of the cached wasm (the Candid text sits next to it as `<key>.did`). */
    readonly wasmPath: string;
}
export interface CompileMotokoOptions {
    /** Read and write `.cache/motoko`. Default true; false always compiles (in a fresh worker). */
    readonly cache?: boolean;
}
/** One error the compiler reported: 1-based line and column. */
export interface MotokoDiagnostic {
    readonly source: string;
    readonly line: number;
    readonly column: number;
    readonly code: string;
    readonly message: string;
}
export declare class MotokoCompileError extends Error {
    readonly canister: string;
    readonly diagnostics: readonly MotokoDiagnostic[];
    readonly name = "MotokoCompileError";
    constructor(canister: string, diagnostics: readonly MotokoDiagnostic[], detail?: string);
}
/**
 * Compiles a Motoko canister.
 *
 * - `compileMotoko('counter')` compiles `test/canisters/counter.mo` together with the local files
 *   it imports (`import Child "child"` → `test/canisters/child.mo`), transitively.
 * - `compileMotoko('inline', source)` compiles one source text as `inline.mo`.
 * - `compileMotoko('main', { 'main.mo': …, 'lib.mo': … })` compiles the given files; the entry is
 *   `<name>.mo` (or `name` itself if that is a key).
 */
export declare function compileMotoko(name: string, sources?: Record<string, string> | string, options?: CompileMotokoOptions): Promise<MotokoCompilation>;
/** The cache key for a set of sources: sha256 over sources, compiler version and flags. */
export declare function motokoCacheKey(files: Readonly<Record<string, string>>, entry: string): string;
/** Absolute path of a fixture under test/canisters. */
export declare function fixturePath(name: string): string;
