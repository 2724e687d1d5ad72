import { describe, expect, it } from 'vitest';
import { Events, Interest, Poll, backend } from '../src/index';
import { expectEvents, tcpPair } from './util';
import { expectedBackend } from './platform';

describe('smoke', () => {
  it('loads the backend for this platform', () => {
    expect(backend).toBe(expectedBackend);
  });

  it('reports a readable stream', () => {
    const poll = new Poll();
    const events = new Events(8);
    const { client, server } = tcpPair();
    poll.register(server, 7, Interest.READABLE);
    client.write(Buffer.from('x'));
    expectEvents(poll, events, [{ token: 7, readable: true }]);
    client.close();
    server.close();
    poll.close();
  });
});
