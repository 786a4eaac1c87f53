/*
 * launcher.h: what the files of the multi-call launcher (bin/vnode) share. vnode.c says which
 * names it acts on and holds main()'s dispatch; each entry's program is in its own file:
 *   common.c   die, growable buffers, reading/writing fds, the install tree, the run dir, exec of node
 *   forward.c  the wire protocol to the manager: connect, forward a call, idempotency, waits
 *   runc.c     vnode-runc (runc command line, its --root, --ignore-paused, exec of runc) and
 *              containerd-shim-vnode-v2's exec of the stock runc shim
 *   holder.c   vnode-holder, pid 1 of a vNode
 *   nsexec.c   vnode-nsexec, enter a process's namespaces and exec a command
 */
#ifndef VNODE_LAUNCHER_H
#define VNODE_LAUNCHER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

extern char **environ;

/* ---------- common.c ---------- */
/* The entry's name, for messages (set by main). */
extern const char *prog;
__attribute__((noreturn)) void die(int code, const char *fmt, const char *arg);

struct buf {
  char *p;
  size_t len, cap;
};
void buf_put(struct buf *b, const void *data, size_t n);
void buf_u32(struct buf *b, uint32_t v);
void buf_str(struct buf *b, const char *s, size_t n);

int write_all(int fd, const char *p, size_t n);
void read_fd_all(int fd, struct buf *b);

/* The install tree: <tree>/bin/vnode is this program (set by find_tree). */
extern char tree[PATH_MAX];
void find_tree(void);
const char *run_dir(void);
__attribute__((noreturn)) void exec_node(const char *entry, int argc, char **argv);

/* ---------- forward.c ---------- */
void forward(const char *entry, int argc, char **argv, long wait_ms);

/* ---------- runc.c ---------- */
const char *runc_command(int argc, char **argv);
const char *runc_path(void);
int runc_command_is(int argc, char **argv, const char *cmd);
__attribute__((noreturn)) void shim_exec(char **argv);
__attribute__((noreturn)) void runc_main(int argc, char **argv);

/* ---------- holder.c, nsexec.c ---------- */
int holder_main(int argc, char **argv);
int nsexec_main(int argc, char **argv);

#endif
