// Readiness of any fd (socket, seccomp listener, pidfd) on Node's own event loop (uv_poll), so the
// non-blocking calls that follow never wait.
import { native } from './native.js';

interface NativeFdWatcher {
  stop(): void;
  pause(): void;
  resume(): void;
  setRef(ref: boolean): void;
  readonly active: boolean;
}
type NativeFdWatcherCtor = new (fd: number, events: number, cb: (status: number, events: number) => void) => NativeFdWatcher;

const constants = native.fdwatchConstants as { UV_READABLE: number; UV_WRITABLE: number; UV_DISCONNECT: number };

export const Readiness = {
  readable: constants.UV_READABLE,
  writable: constants.UV_WRITABLE,
  disconnect: constants.UV_DISCONNECT,
} as const;

/** Calls `onReady(events)` while fd is ready for `events`; `onError(status)` with a negative
 * libuv status (the watcher keeps running until stopped). */
export class FdWatcher {
  private readonly w: NativeFdWatcher;

  constructor(
    readonly fd: number,
    events: number,
    onReady: (events: number) => void,
    onError: (status: number) => void = () => undefined,
  ) {
    const Ctor = native.FdWatcher as NativeFdWatcherCtor;
    this.w = new Ctor(fd, events, (status, ev) => (status < 0 ? onError(status) : onReady(ev)));
  }

  get active(): boolean {
    return this.w.active;
  }

  /** Stops watching; the fd itself stays open (its owner closes it). */
  stop(): void {
    this.w.stop();
  }

  /** No callbacks until resume(); the fd stays registered with the loop. */
  pause(): void {
    this.w.pause();
  }

  resume(): void {
    this.w.resume();
  }

  /** unref(): the watcher no longer keeps the process alive. */
  unref(): this {
    this.w.setRef(false);
    return this;
  }

  ref(): this {
    this.w.setRef(true);
    return this;
  }
}
