// Serves a prom-client registry at GET /metrics (node:http). Anything else is 404; a scrape that
// fails answers 500 with the reason and is logged.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/log.js';

export class MetricsServer {
  private readonly server: http.Server;
  private addr: AddressInfo | null = null;

  constructor(
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    this.server = http.createServer((req, res) => void this.serve(req, res));
  }

  /** Binds; rejects with the listen error (EADDRINUSE, EACCES) without throwing later. */
  async listen(address: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (e) => this.log.error('metrics server error', { error: e.message }));
    this.addr = this.server.address() as AddressInfo;
    return this.url!;
  }

  get url(): string | null {
    if (!this.addr) return null;
    const host = this.addr.family === 'IPv6' ? `[${this.addr.address}]` : this.addr.address;
    return `http://${host}:${this.addr.port}/metrics`;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    try {
      const body = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
    } catch (e) {
      this.log.error('metrics scrape failed', { error: (e as Error).stack });
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${(e as Error).message}\n`);
    }
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
