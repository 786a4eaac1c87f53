/*
 * vnode: the multi-call front of the install tree.
 *
 * containerd runs containerd-shim-vnode-v2, vnode-cni and (through the runc shim) vnode-runc
 * several times per pod. Starting Node.js costs ~50 ms here, so these entries are this small C
 * program: it hands the call to the long-running vnode-manager over a unix socket and prints
 * what the manager answers, or execs what the manager tells it to. All policy lives in the
 * TypeScript manager; this program only moves bytes, fds and exit codes. This file holds main()'s
 * dispatch; each entry's program is in a file of its own (launcher.h lists them).
 *
 * Names it acts on (basename of argv[0], or argv[1] when started as "vnode"):
 *   containerd-shim-vnode-v2              start/delete: exec the stock runc shim (shim_exec);
 *                                         -v/-info: forwarded (fallback: run the JS entry)
 *   vnode-cni                             forwarded to the manager (fallback: run the JS entry)
 *   vnode-runc, runc                      forwarded for hooked commands, else exec runc
 *   vnode-holder                          the per-vNode namespace holder (pid 1 of the vNode)
 *   vnode-nsexec                          enter a process's namespaces and exec a command
 *   vnode-manager, vnode (CLI)            exec the bundled node with the JS entry
 *
 * Wire format of one call (all integers little-endian u32, strings as u32 length + bytes):
 *   request : magic "VNL1", entry, cwd, argc, argv[argc], envc, env[envc], stdin
 *   answer  : magic "VNA1", kind
 *             kind 0 (exit): code, stdout, stderr
 *             kind 1 (exec): path, argc, argv[argc], envc, env[envc]   (env is added to ours)
 */
#include <string.h>

#include "launcher.h"

#include <stdlib.h>

static const char *base(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

int main(int argc, char **argv) {
  const char *name = base(argv[0]);
  /* "vnode <entry> args..." is the same as calling the entry's link. */
  if (strcmp(name, "vnode") == 0 && argc > 1 &&
      (strcmp(argv[1], "containerd-shim-vnode-v2") == 0 || strcmp(argv[1], "vnode-cni") == 0 ||
       strcmp(argv[1], "vnode-runc") == 0 || strcmp(argv[1], "vnode-holder") == 0 ||
       strcmp(argv[1], "vnode-nsexec") == 0 || strcmp(argv[1], "vnode-manager") == 0)) {
    name = argv[1];
    argv++;
    argc--;
  }
  prog = name;
  find_tree();

  if (strcmp(name, "vnode-holder") == 0) return holder_main(argc, argv);
  if (strcmp(name, "vnode-nsexec") == 0) return nsexec_main(argc, argv);
  if (strcmp(name, "vnode-runc") == 0 || strcmp(name, "runc") == 0) runc_main(argc, argv);
  if (strcmp(name, "containerd-shim-vnode-v2") == 0) {
    /* start and delete are the stock runc shim's, with vnode-runc as its runc: containerd talks
       to the pod's runc shim directly, so no task connection depends on the manager. */
    const char *action = argc > 1 ? argv[argc - 1] : "";
    if (strcmp(action, "start") == 0 || strcmp(action, "delete") == 0) shim_exec(argv);
    /* -v, -info: the manager answers within 2 s, or the JS entry does (the socket outlives the
       manager, so a connection alone says nothing). -info reports the features of the runc
       this launcher runs. */
    const char *runc = runc_path();
    if (runc) setenv("VNODE_RUNC", runc, 1);
    forward(name, argc, argv, 2000);
    exec_node(name, argc, argv);
  }
  if (strcmp(name, "vnode-cni") == 0) {
    /* DEL (and VERSION) fall back to the JS entry when no manager answers within 10 s; ADD needs
       the manager and waits for it (containerd bounds the call). */
    const char *cni = getenv("CNI_COMMAND");
    int alone = cni && (strcmp(cni, "DEL") == 0 || strcmp(cni, "VERSION") == 0);
    forward(name, argc, argv, alone ? 10000 : 0);
    /* No manager: the JS entry handles what it can alone (CNI DEL). */
    exec_node(name, argc, argv);
  }
  exec_node(strcmp(name, "vnode-manager") == 0 ? "vnode-manager" : "vnode", argc, argv);
  return 70;
}
