/*
 * `containerd-shim-tsrun-v2 idmap-mount SOURCE TARGET UIDMAP GIDMAP`: attaches an id-mapped,
 * read-only clone of SOURCE at TARGET. containerd 2 asks for a user-namespaced pod's image with
 * `uidmap=`/`gidmap=` options on its overlay mount ("ctr:host:size[,...]"); the shim mounts the
 * overlay over id-mapped lower directories made here. Node cannot make the user namespace that
 * mount_setattr(MOUNT_ATTR_IDMAP) takes (unshare needs a single-threaded process), so this C
 * process forks a child into a new user namespace, writes its maps, and uses its namespace.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int idmap_mount_main(int argc, char **argv);

static int fail(const char *what, const char *arg) {
  fprintf(stderr, "idmap-mount: %s %s: %s\n", what, arg, strerror(errno));
  return 1;
}

/* "c:h:s,c:h:s" -> "c h s\nc h s\n" as /proc/PID/[ug]id_map takes it */
static int write_map(pid_t pid, const char *file, const char *spec) {
  char buf[4096], path[64];
  size_t n = 0;
  for (const char *p = spec; *p && n < sizeof buf - 2; p++) buf[n++] = *p == ':' ? ' ' : *p == ',' ? '\n' : *p;
  buf[n++] = '\n';
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t w = write(fd, buf, n);
  int e = errno;
  close(fd);
  errno = e;
  return w == (ssize_t)n ? 0 : -1;
}

int idmap_mount_main(int argc, char **argv) {
  const char *src = NULL, *dst = NULL, *uidmap = NULL, *gidmap = NULL;
  int k = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "idmap-mount") == 0 && k == 0) { k = 1; continue; }
    if (k == 1) src = argv[i]; else if (k == 2) dst = argv[i]; else if (k == 3) uidmap = argv[i]; else if (k == 4) gidmap = argv[i];
    if (k) k++;
  }
  if (!src || !dst || !uidmap || !gidmap) {
    fprintf(stderr, "usage: containerd-shim-tsrun-v2 idmap-mount SOURCE TARGET UIDMAP GIDMAP\n");
    return 2;
  }
  int ready[2], hold[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0) return fail("pipe", "");
  pid_t child = fork();
  if (child < 0) return fail("fork", "");
  if (child == 0) {
    close(hold[1]);
    char c = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'e';
    if (write(ready[1], &c, 1) != 1) _exit(1);
    /* waits until the parent holds the namespace and closes its end */
    (void)read(hold[0], &c, 1);
    _exit(0);
  }
  close(ready[1]);
  close(hold[0]);
  char c = 0;
  int rc = 1, userns = -1, tree = -1;
  if (read(ready[0], &c, 1) != 1 || c != 'u') { errno = EPERM; fail("unshare(CLONE_NEWUSER)", ""); goto out; }
  if (write_map(child, "uid_map", uidmap) < 0) { fail("uid_map", uidmap); goto out; }
  if (write_map(child, "setgroups", "deny") < 0 && errno != ENOENT) { fail("setgroups", ""); goto out; }
  if (write_map(child, "gid_map", gidmap) < 0) { fail("gid_map", gidmap); goto out; }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
  userns = open(path, O_RDONLY | O_CLOEXEC);
  if (userns < 0) { fail("open", path); goto out; }
  tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) { fail("open_tree", src); goto out; }
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY, .userns_fd = (uint64_t)userns };
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) { fail("mount_setattr(MOUNT_ATTR_IDMAP)", src); goto out; }
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0) { fail("move_mount", dst); goto out; }
  rc = 0;
out:
  if (tree >= 0) close(tree);
  if (userns >= 0) close(userns);
  close(hold[1]);
  waitpid(child, NULL, 0);
  return rc;
}
