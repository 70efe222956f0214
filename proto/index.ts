// tsrun's protobuf messages, one namespace per protobuf package (names repeat across packages:
// cgroups v1 and v2 both have a MemoryStat). See proto/README.md.
export * as google_protobuf from './generated/google.protobuf.js';
export * as google_rpc from './generated/google.rpc.js';
export * as ttrpc from './generated/ttrpc.js';
export * as types from './generated/containerd.types.js';
export * as task_types from './generated/containerd.v1.types.js';
export * as task from './generated/containerd.task.v2.js';
export * as events from './generated/containerd.events.js';
export * as events_ttrpc from './generated/containerd.services.events.ttrpc.v1.js';
export * as runc_options from './generated/containerd.runc.v1.js';
export * as runtimeoptions from './generated/runtimeoptions.v1.js';
export * as bootstrap from './generated/containerd.runtime.bootstrap.v1.js';
export * as cgroups_v1 from './generated/io.containerd.cgroups.v1.js';
export * as cgroups_v2 from './generated/io.containerd.cgroups.v2.js';
export * as criu from './generated/criu.js';
export * as shim_group from './generated/tsrun.shim.v1.js';
export { ProtoError, renameService, type MessageType, type MethodType, type ServiceType } from './runtime.js';
export * from './wellknown.js';
export { TaskV3, SERVICES, type ServiceName } from './services.js';
