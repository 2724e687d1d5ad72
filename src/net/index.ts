/**
 * Sockets without libuv streams.
 *
 * @packageDocumentation
 */
export { formatAddress } from './address';
export type { InetAddress, InetAddressLike, UnixAddress, UnixAddressLike } from './address';
export { DatagramSocket, type Received } from './datagram';
export { ListenerSocket } from './listener';
export { Socket } from './socket';
export { StreamSocket, type ShutdownHow } from './stream';
export { TcpListener, TcpStream, type TcpListenerOptions } from './tcp';
export { UdpSocket, type UdpSocketOptions } from './udp';
export { UnixDatagram, UnixListener, UnixStream } from './unix';
