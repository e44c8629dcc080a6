/**
 * go-connlimit's per-client connection cap (consul-semantics §7): sockets are counted per client IP, and one
 * over the cap gets the raw 429 and is closed.
 * @module
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';

// consul-semantics §7: go-connlimit writes this raw response and closes the connection.
const CONNLIMIT_RESPONSE =
  'HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n' +
  'Your IP is issuing too many concurrent connections, please rate limit your calls\n';

/** Maps `::ffff:1.2.3.4` to `1.2.3.4`, so one client counts once for the per-client cap. */
function clientIp(socket: Socket): string {
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Tracks accepted sockets per client IP; refuses those over the cap with go-connlimit's raw 429 (consul-semantics §7). */
export class ConnectionTracker {
  /** Connections accepted since start, refused ones included. */
  total = 0;
  /** Connections refused over the cap. */
  rejected = 0;
  readonly #served = new Set<Socket>();
  readonly #refused = new Set<Socket>();
  readonly #perClient = new Map<string, number>();
  readonly #maxPerClient: number;
  #closed = false;

  constructor(maxPerClient: number) {
    this.#maxPerClient = maxPerClient;
  }

  /** Connections being served now. */
  get open(): number {
    return this.#served.size;
  }

  /** Returns whether the socket may be served; refuses it (and returns false) over the cap or after close. */
  admit(socket: Socket): boolean {
    this.total++;
    if (this.#closed) {
      socket.destroy();
      return false;
    }
    const ip = clientIp(socket);
    const current = this.#perClient.get(ip) ?? 0;
    if (this.#maxPerClient > 0 && current >= this.#maxPerClient) {
      this.rejected++;
      this.#refuse(socket);
      return false;
    }
    this.#perClient.set(ip, current + 1);
    this.#served.add(socket);
    socket.once('close', () => {
      this.#served.delete(socket);
      const left = (this.#perClient.get(ip) ?? 1) - 1;
      if (left === 0) this.#perClient.delete(ip);
      else this.#perClient.set(ip, left);
    });
    return true;
  }

  /** Destroys every socket and refuses new ones; resolves once every socket has closed. */
  async destroyAll(): Promise<void> {
    this.#closed = true;
    const sockets = [...this.#served, ...this.#refused];
    const closed = sockets.map((socket) => (socket.closed ? undefined : once(socket, 'close')));
    for (const socket of sockets) socket.destroy();
    await Promise.all(closed);
  }

  #refuse(socket: Socket): void {
    this.#refused.add(socket);
    socket.once('close', () => this.#refused.delete(socket));
    socket.on('error', () => {});
    // Keep reading (and discarding) what the client sends, so closing does not reset the connection
    // before the client has read the 429.
    socket.resume();
    socket.end(CONNLIMIT_RESPONSE);
    socket.setTimeout(2_000, () => socket.destroy());
  }
}
