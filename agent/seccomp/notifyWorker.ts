// Entry of a notification worker thread: runs a NotifyLoop for the listeners the agent hands it.
import { rawCloseQuietly } from '../../addon/rawfd.js';
import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerData } from './agentProtocol.js';
import { NotifyLoop } from './NotifyLoop.js';
import { collectGarbage } from '../common/gc.js';

const data = workerData as WorkerData;
const port = parentPort!;
const post = (m: FromWorker): void => port.postMessage(m);

const loop = new NotifyLoop(data.loop, (connId, reason) => post({ t: 'released', connId, reason }));

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'attach':
      try {
        loop.attach(m.connId, m.fd, m.target, m.statePid);
        post({ t: 'attached', connId: m.connId });
      } catch (e) {
        rawCloseQuietly(m.fd);
        post({ t: 'attachFailed', connId: m.connId, error: (e as Error).message });
      }
      break;
    case 'stats':
      post({ t: 'stats', req: m.req, stats: loop.currentStats() });
      break;
    case 'drainCalls':
      post({ t: 'calls', req: m.req, calls: loop.drainCalls() });
      break;
    case 'gc':
      post({ t: 'gcDone', heapKb: collectGarbage() });
      break;
    case 'stop':
      loop.stopAll();
      post({ t: 'stopped' });
      port.close();
      break;
  }
});
post({ t: 'ready' });
