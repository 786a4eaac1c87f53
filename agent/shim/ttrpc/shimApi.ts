// Ready-made typed definitions of the containerd APIs a shim speaks: the Task service (served to
// containerd, called on runc shims), the events Forward service (called on containerd), and the
// codecs of the option and event messages carried inside Any fields.
import {
  EVENTS_SERVICE,
  shimProtos,
  TASK_SERVICE,
  type EventsApi,
  type RuncOptions,
  type RuntimeOptions,
  type TaskApi,
  type TaskEvents,
} from '../../proto/taskApi.js';
import { MessageCodec, ServiceDefinition } from './typedService.js';

let task: ServiceDefinition<TaskApi> | undefined;
let events: ServiceDefinition<EventsApi> | undefined;

/** containerd.task.v2.Task */
export function taskService(): ServiceDefinition<TaskApi> {
  task ??= ServiceDefinition.fromRoot<TaskApi>(shimProtos(), TASK_SERVICE);
  return task;
}

/** containerd.services.events.ttrpc.v1.Events */
export function eventsService(): ServiceDefinition<EventsApi> {
  events ??= ServiceDefinition.fromRoot<EventsApi>(shimProtos(), EVENTS_SERVICE);
  return events;
}

const codecs = new Map<string, MessageCodec<object>>();

/** The codec of any message in the shim protos, by full name (e.g. "containerd.runc.v1.Options"). */
export function messageCodec<T extends object>(fullName: string): MessageCodec<T> {
  let c = codecs.get(fullName);
  if (!c) {
    c = new MessageCodec<object>(shimProtos().lookupType(fullName));
    codecs.set(fullName, c);
  }
  return c as MessageCodec<T>;
}

/** Type URL and codec of the runc shim's task options (CreateTaskRequest.options). */
export const runcOptionsCodec = (): MessageCodec<Partial<RuncOptions>> => messageCodec('containerd.runc.v1.Options');
/** What CRI sends for a runtime entry with a non-runc options table. */
export const runtimeOptionsCodec = (): MessageCodec<Partial<RuntimeOptions>> => messageCodec('runtimeoptions.v1.Options');

/** Codec of one task event message, e.g. taskEventCodec('TaskExit'). */
export function taskEventCodec<K extends keyof TaskEvents>(name: K): MessageCodec<Partial<TaskEvents[K]>> {
  return messageCodec(`containerd.events.${name}`);
}
