/**
 * The layers above the loop: codecs and serve().
 *
 * @packageDocumentation
 */
export { FrameError, LineCodec, RawCodec, type ByteSink, type Codec, type Decoded, type LineCodecOptions } from './codec';
export { serve, serveStream, type ServeOptions, type Service, type ServiceContext } from './serve';
