// The ttrpc services tsrun serves or calls, by the name that travels in requests.
import { Task } from './generated/containerd.task.v2.js';
import { Events } from './generated/containerd.services.events.ttrpc.v1.js';
import { renameService } from './runtime.js';

/** containerd 2.x's task API v3: the same methods and messages under another service name. */
export const TaskV3 = renameService(Task, 'containerd.task.v3.Task');

export const SERVICES = {
  'containerd.task.v2.Task': Task,
  'containerd.task.v3.Task': TaskV3,
  'containerd.services.events.ttrpc.v1.Events': Events,
} as const;

export type ServiceName = keyof typeof SERVICES;
