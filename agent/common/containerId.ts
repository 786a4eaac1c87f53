// The one pattern for ids that name files and mounts: containerd's container, sandbox and task
// ids (its identifiers are letters, digits and `._-`, starting with a letter or digit), which
// are also CNI_CONTAINERID and the vNode's netns names. Never `.`, `..` or a path.
export const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A name kubelet puts in a path (a pod uid, a volume's, a pod's, namespace's or container's name):
 * one path component, nothing hidden, never `.` or `..`. */
export const KUBE_PATH_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
