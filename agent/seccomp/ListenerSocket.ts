// The unix socket runc hands seccomp listeners to: an FdSocketServer configured for runc 1.1,
// which sends its state JSON and the fd in one sendmsg but never closes the connection (only when
// runc exits, which for a foreground `runc exec` is when the process ends). So a message is
// complete as soon as it carries an fd and its bytes parse as JSON, not at EOF. Received fds
// belong to the message handler.
import { FdSocketServer, type FdMessage } from '../../addon/fdsocket.js';

export type ListenerMessage = FdMessage;

const MAX_BYTES = 64 * 1024;
const MAX_FDS = 8;

function parsesAsJson(data: Buffer): boolean {
  try {
    JSON.parse(data.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

export const ListenerSocket = {
  /** Listens on path (mode 0600: only root may hand us listeners). */
  listen(path: string, onMessage: (m: ListenerMessage) => void, onError: (e: Error) => void, timeoutMs = 10_000, listenFd?: number): FdSocketServer {
    return FdSocketServer.listen(
      path,
      onMessage,
      onError,
      {
        mode: 0o600,
        maxBytes: MAX_BYTES,
        maxFds: MAX_FDS,
        timeoutMs,
        complete: (data, fds) => fds > 0 && parsesAsJson(data),
      },
      listenFd,
    );
  },
};
