// ttrpc for the shim: see shim/README.md.
export { TtrpcServer, NAMESPACE_METADATA_KEY, type CallContext, type ServiceImpl, type ServerOptions } from './server.js';
export { TtrpcClient, socketPath, type CallOptions } from './client.js';
export { Code, codeName, TtrpcError, TtrpcClosedError, statusFromError } from './status.js';
export { MAX_MESSAGE_LENGTH, HEADER_LENGTH, FrameDecoder, encodeFrame } from './frame.js';
