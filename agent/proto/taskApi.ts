// TypeScript shapes of the shim v2 Task API and the types around it (the .proto files in
// agent/proto/containerd/), as the typed TTRPC layer produces and accepts them: camelCase
// fields, int64 as number, enums as number, bytes as Buffer/Uint8Array, an absent nested message
// as null. When encoding, omitted fields take their proto3 defaults.
import { loadProtos } from './load.js';

/** Every .proto file of the shim API, relative to agent/proto. */
export const SHIM_PROTO_FILES = [
  'ttrpc.proto',
  'containerd/types.proto',
  'containerd/taskTypes.proto',
  'containerd/taskShim.proto',
  'containerd/taskEvents.proto',
  'containerd/eventsTtrpc.proto',
  'containerd/runcOptions.proto',
  'containerd/runtimeOptions.proto',
] as const;

/** The protobufjs root with all shim API definitions (loaded once). */
export const shimProtos = (): ReturnType<typeof loadProtos> => loadProtos(...SHIM_PROTO_FILES);

export const TASK_SERVICE = 'containerd.task.v2.Task';
export const EVENTS_SERVICE = 'containerd.services.events.ttrpc.v1.Events';

/** google.protobuf.Any. protobufjs's bundled copy keeps the snake_case field name type_url. */
export interface Any {
  type_url: string;
  value: Uint8Array;
}
export interface Timestamp {
  seconds: number;
  nanos: number;
}
export type Empty = Record<string, never>;

export interface Mount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

/** containerd.v1.types.Status */
export const TaskStatus = { UNKNOWN: 0, CREATED: 1, RUNNING: 2, STOPPED: 3, PAUSED: 4, PAUSING: 5 } as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export interface ProcessInfo {
  pid: number;
  info?: Any | null;
}


export interface CreateTaskRequest {
  id: string;
  bundle: string;
  rootfs: Mount[];
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  checkpoint: string;
  parentCheckpoint: string;
  options?: Any | null;
}
export interface CreateTaskResponse {
  pid: number;
}
export interface DeleteRequest {
  id: string;
  execId: string;
}
export interface DeleteResponse {
  pid: number;
  exitStatus: number;
  exitedAt?: Timestamp | null;
}
export interface ExecProcessRequest {
  id: string;
  execId: string;
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  spec?: Any | null;
}
export interface ResizePtyRequest {
  id: string;
  execId: string;
  width: number;
  height: number;
}
export interface StateRequest {
  id: string;
  execId: string;
}
export interface StateResponse {
  id: string;
  bundle: string;
  pid: number;
  status: TaskStatus;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  exitStatus: number;
  exitedAt?: Timestamp | null;
  execId: string;
}
export interface KillRequest {
  id: string;
  execId: string;
  signal: number;
  all: boolean;
}
export interface CloseIORequest {
  id: string;
  execId: string;
  stdin: boolean;
}
export interface PidsRequest {
  id: string;
}
export interface PidsResponse {
  processes: ProcessInfo[];
}
export interface CheckpointTaskRequest {
  id: string;
  path: string;
  options?: Any | null;
}
export interface UpdateTaskRequest {
  id: string;
  resources?: Any | null;
  annotations: Record<string, string>;
}
export interface StartRequest {
  id: string;
  execId: string;
}
export interface StartResponse {
  pid: number;
}
export interface WaitRequest {
  id: string;
  execId: string;
}
export interface WaitResponse {
  exitStatus: number;
  exitedAt?: Timestamp | null;
}
export interface StatsRequest {
  id: string;
}
export interface StatsResponse {
  stats?: Any | null;
}
export interface ConnectRequest {
  id: string;
}
export interface ConnectResponse {
  shimPid: number;
  taskPid: number;
  version: string;
}
export interface ShutdownRequest {
  id: string;
  now: boolean;
}
export interface PauseRequest {
  id: string;
}
export interface ResumeRequest {
  id: string;
}

/** containerd.task.v2.Task, method by method. */
// A type alias, not an interface: only aliases fit Record<string, ...> (the typed layer's ServiceShape).
export type TaskApi = {
  State: { request: StateRequest; response: StateResponse };
  Create: { request: CreateTaskRequest; response: CreateTaskResponse };
  Start: { request: StartRequest; response: StartResponse };
  Delete: { request: DeleteRequest; response: DeleteResponse };
  Pids: { request: PidsRequest; response: PidsResponse };
  Pause: { request: PauseRequest; response: Empty };
  Resume: { request: ResumeRequest; response: Empty };
  Checkpoint: { request: CheckpointTaskRequest; response: Empty };
  Kill: { request: KillRequest; response: Empty };
  Exec: { request: ExecProcessRequest; response: Empty };
  ResizePty: { request: ResizePtyRequest; response: Empty };
  CloseIO: { request: CloseIORequest; response: Empty };
  Update: { request: UpdateTaskRequest; response: Empty };
  Wait: { request: WaitRequest; response: WaitResponse };
  Stats: { request: StatsRequest; response: StatsResponse };
  Connect: { request: ConnectRequest; response: ConnectResponse };
  Shutdown: { request: ShutdownRequest; response: Empty };
};

/** Names of the Task methods, in the service's order. */
export const TASK_METHODS = [
  'State', 'Create', 'Start', 'Delete', 'Pids', 'Pause', 'Resume', 'Checkpoint', 'Kill', 'Exec', 'ResizePty', 'CloseIO',
  'Update', 'Wait', 'Stats', 'Connect', 'Shutdown',
] as const satisfies readonly (keyof TaskApi)[];

/** containerd.runc.v1.Options: the runc shim's task options. */
export interface RuncOptions {
  noPivotRoot: boolean;
  noNewKeyring: boolean;
  shimCgroup: string;
  ioUid: number;
  ioGid: number;
  binaryName: string;
  root: string;
  criuPath: string;
  systemdCgroup: boolean;
  criuImagePath: string;
  criuWorkPath: string;
}
export interface RuncCheckpointOptions {
  exit: boolean;
  openTcp: boolean;
  externalUnixSockets: boolean;
  terminal: boolean;
  fileLocks: boolean;
  emptyNamespaces: string[];
  cgroupsMode: string;
  imagePath: string;
  workPath: string;
}
export interface RuncProcessDetails {
  execId: string;
}
/** runtimeoptions.v1.Options: what CRI sends for a non-runc runtime entry with an options table. */
export interface RuntimeOptions {
  typeUrl: string;
  configPath: string;
}

// Task events (package containerd.events).
export interface TaskIO {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}
export interface TaskCreate {
  containerId: string;
  bundle: string;
  rootfs: Mount[];
  io?: TaskIO | null;
  checkpoint: string;
  pid: number;
}
export interface TaskStart {
  containerId: string;
  pid: number;
}
export interface TaskDelete {
  containerId: string;
  pid: number;
  exitStatus: number;
  exitedAt?: Timestamp | null;
  id: string;
}
export interface TaskExit {
  containerId: string;
  id: string;
  pid: number;
  exitStatus: number;
  exitedAt?: Timestamp | null;
}
export interface TaskOOM {
  containerId: string;
}
export interface TaskExecAdded {
  containerId: string;
  execId: string;
}
export interface TaskExecStarted {
  containerId: string;
  execId: string;
  pid: number;
}
export interface TaskPaused {
  containerId: string;
}
export interface TaskResumed {
  containerId: string;
}
export interface TaskCheckpointed {
  containerId: string;
  checkpoint: string;
}

/** Each task event with its message name and the topic containerd files it under. */
export interface TaskEvents {
  TaskCreate: TaskCreate;
  TaskStart: TaskStart;
  TaskDelete: TaskDelete;
  TaskIO: TaskIO;
  TaskExit: TaskExit;
  TaskOOM: TaskOOM;
  TaskExecAdded: TaskExecAdded;
  TaskExecStarted: TaskExecStarted;
  TaskPaused: TaskPaused;
  TaskResumed: TaskResumed;
  TaskCheckpointed: TaskCheckpointed;
}

/** containerd's topics (runtime/events.go); TaskIO is a part of TaskCreate, never sent alone. */
export const TASK_EVENT_TOPICS: Record<Exclude<keyof TaskEvents, 'TaskIO'>, string> = {
  TaskCreate: '/tasks/create',
  TaskStart: '/tasks/start',
  TaskDelete: '/tasks/delete',
  TaskExit: '/tasks/exit',
  TaskOOM: '/tasks/oom',
  TaskExecAdded: '/tasks/exec-added',
  TaskExecStarted: '/tasks/exec-started',
  TaskPaused: '/tasks/paused',
  TaskResumed: '/tasks/resumed',
  TaskCheckpointed: '/tasks/checkpointed',
};

export interface Envelope {
  timestamp?: Timestamp | null;
  namespace: string;
  topic: string;
  event?: Any | null;
}
export interface ForwardRequest {
  envelope?: Envelope | null;
}
export type EventsApi = {
  Forward: { request: ForwardRequest; response: Empty };
};

export function timestampFromDate(d: Date = new Date()): Timestamp {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1e6 };
}

export function dateFromTimestamp(t: Timestamp): Date {
  return new Date(t.seconds * 1000 + Math.floor(t.nanos / 1e6));
}
