// When rounds run on the embedded default: right away while there is work (ingress in the pool,
// messages left in queues), otherwise every `intervalMs` so that time advances, timers and
// heartbeats fire and the certified time stays fresh. Never two rounds at once.

export interface RoundOutcome {
  /** Work is waiting: run the next round at once. */
  readonly workLeft: boolean;
}

export interface RoundLoopOptions {
  /** Pause between rounds when there is no work. */
  readonly intervalMs: number;
  /** Called when a round throws: a broken invariant of the replica. The loop stops. */
  readonly onFatal: (error: unknown) => void;
}

export class RoundLoop {
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #timerDue = Infinity;
  #running: Promise<void> | undefined;
  /** Work arrived while a round ran: run again at once. */
  #again = false;
  #started = false;
  #stopped = false;
  #rounds = 0;

  constructor(
    private readonly round: () => Promise<RoundOutcome>,
    private readonly options: RoundLoopOptions,
  ) {}

  get rounds(): number {
    return this.#rounds;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#schedule(this.options.intervalMs);
  }

  /** New work arrived (an ingress message): run a round as soon as possible. */
  wake(): void {
    if (!this.#started || this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#schedule(0);
  }

  /** Resolves when no round is executing (at once between rounds). */
  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** Runs one round now (after the one in progress, if any); for drivers that need a round. */
  async runNow(): Promise<void> {
    while (this.#running) await this.#running;
    if (this.#stopped) return;
    this.#clearTimer();
    await this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clearTimer();
    while (this.#running) await this.#running;
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    if (this.#timerDue === -1) clearImmediate(this.#timer as NodeJS.Immediate);
    else clearTimeout(this.#timer as NodeJS.Timeout);
    this.#timer = undefined;
    this.#timerDue = Infinity;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped || !this.#started) return;
    // setImmediate runs after pending I/O callbacks, so requests that arrived during a round are
    // read and batched into the next block before it is made.
    const due = delayMs === 0 ? -1 : Date.now() + delayMs; // wall-clock-ok: scheduling only
    if (this.#timer !== undefined && this.#timerDue <= due) return;
    this.#clearTimer();
    this.#timerDue = due;
    this.#timer = delayMs === 0 ? setImmediate(() => void this.#fire()) : setTimeout(() => void this.#fire(), delayMs);
  }

  async #fire(): Promise<void> {
    this.#timer = undefined;
    this.#timerDue = Infinity;
    if (this.#running || this.#stopped) return;
    await this.#run();
  }

  async #run(): Promise<void> {
    let outcome: RoundOutcome = { workLeft: false };
    let failed = false;
    this.#again = false;
    const running = (async () => {
      try {
        outcome = await this.round();
        this.#rounds++;
      } catch (e) {
        failed = true;
        this.#stopped = true;
        this.options.onFatal(e);
      }
    })();
    this.#running = running;
    try {
      await running;
    } finally {
      this.#running = undefined;
    }
    if (!failed) this.#schedule(outcome.workLeft || this.#again ? 0 : this.options.intervalMs);
  }
}
