// The annotations containerd's CRI plugin puts on every sandbox and container spec (and passes to
// CNI as a capability), by the names containerd 1.6 to 2.x use (pkg/cri/annotations): the one
// place vNode spells them.
export const CRI_ANNOTATIONS = {
  /** "sandbox" or "container". */
  containerType: 'io.kubernetes.cri.container-type',
  /** The sandbox (pod) id a container belongs to. */
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxUid: 'io.kubernetes.cri.sandbox-uid',
  /** On a sandbox: kubelet's log directory for the pod. */
  sandboxLogDirectory: 'io.kubernetes.cri.sandbox-log-directory',
  /** On a container: its name in its pod. */
  containerName: 'io.kubernetes.cri.container-name',
  /** The CNI runtimeConfig capability that carries the pod's annotations. */
  podAnnotations: 'io.kubernetes.cri.pod-annotations',
} as const;
