/*
 * The executor's (E's) side of namespace and cgroup setup. Every host path is
 * opened before the first setns(): once E has joined a mount namespace, host
 * paths would resolve in the container's view, and /proc there belongs to
 * another pid namespace where C's host pid means nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/nsfs.h>

#include "executor.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const char *ns_name(uint32_t flag)
{
	switch (flag) {
	case CLONE_NEWNS: return "mnt";
	case CLONE_NEWUTS: return "uts";
	case CLONE_NEWIPC: return "ipc";
	case CLONE_NEWUSER: return "user";
	case CLONE_NEWPID: return "pid";
	case CLONE_NEWNET: return "net";
	case CLONE_NEWCGROUP: return "cgroup";
	case CLONE_NEWTIME: return "time";
	default: return "unknown";
	}
}

/* ---- user namespaces for id-mapped mounts -------------------------------- */

/* An id-mapped mount takes its mapping from a user namespace. A namespace
 * with given maps needs a process to exist in: a helper child is cloned into
 * a new one, E writes its maps (E is root in the parent namespace, so
 * setgroups can stay "allow"), keeps an fd of the namespace and lets the
 * helper exit. The helper blocks on a pipe, so it also exits if E dies. */
static int make_mapped_userns(const struct rec *r, struct e_state *st)
{
	char path[64];
	int pp[2], fd = -1, e = 0, status;
	const char *step = "clone";
	long pid;
	char b;

	if (pipe2(pp, O_CLOEXEC) < 0)
		return fail_errno(errno, "create user namespace for id-mapped mounts: pipe");
	pid = syscall(SYS_clone, (unsigned long)CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		close(pp[1]);
		while (read(pp[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(pp[0]);
	if (pid < 0) {
		close(pp[1]);
		return fail_errno(errno, "create user namespace for id-mapped mounts: clone");
	}
	snprintf(path, sizeof path, "%ld/uid_map", pid);
	if (write_file_at(st->procfd, path, r->u.idmap_userns.uid_map,
			  strlen(r->u.idmap_userns.uid_map)) < 0) {
		e = errno;
		step = "write uid_map";
	}
	snprintf(path, sizeof path, "%ld/gid_map", pid);
	if (!e && write_file_at(st->procfd, path, r->u.idmap_userns.gid_map,
				strlen(r->u.idmap_userns.gid_map)) < 0) {
		e = errno;
		step = "write gid_map";
	}
	snprintf(path, sizeof path, "%ld/ns/user", pid);
	if (!e && (fd = openat(st->procfd, path, O_RDONLY | O_CLOEXEC)) < 0) {
		e = errno;
		step = "open ns/user";
	}
	close(pp[1]);
	if (e)
		kill((pid_t)pid, SIGKILL);
	while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR)
		;
	if (e)
		return fail_errno(e, "create user namespace for id-mapped mounts: %s", step);
	st->idmap_userns_fds[st->nidmap++] = fd;
	return 0;
}

static int open_userns(const char *path, struct e_state *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), type;
	if (fd < 0)
		return fail_errno(errno, "open user namespace %s", path);
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type != CLONE_NEWUSER) {
		close(fd);
		return fail("open user namespace %s: not a user namespace", path);
	}
	st->idmap_userns_fds[st->nidmap++] = fd;
	return 0;
}

/* Propagation the detached copy gets: what a bind made in C's namespace
 * would have. An open_tree clone of a shared mount is a peer of it, and
 * anything mounted beneath it in the container would reach the host. */
static uint64_t tree_propagation(const struct plan *p)
{
	uint64_t root = p->rootfs ? p->rootfs->u.rootfs.propagation : 0;
	if (root & MS_SHARED)
		return 0;
	if (root & (MS_PRIVATE | MS_UNBINDABLE))
		return MS_PRIVATE;
	return MS_SLAVE;
}

/* The id-mapped copy of one MOUNT's source, made while E is still root in
 * the initial user namespace: MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the
 * filesystem's user namespace (the host's, for ext4 and the like), which C
 * does not have inside a user namespace of its own. C only moves the tree
 * into place, which its own namespace allows. */
static int make_idmap_tree(const struct plan *p, struct rec *r, const struct r_mount *m,
			   struct e_state *st)
{
	struct tsrun_mount_attr a;
	int recursive = (m->flags & MS_REC) != 0, fd;
	uint64_t prop = tree_propagation(p);

	fd = (int)syscall(SYS_open_tree, AT_FDCWD, m->source,
			  OPEN_TREE_CLONE | O_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
	if (fd < 0)
		return fail_errno(errno, "open_tree(OPEN_TREE_CLONE) %s", m->source);
	if (prop) {
		memset(&a, 0, sizeof a);
		a.propagation = prop;
		if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a,
			    sizeof a) < 0) {
			int e = errno;
			close(fd);
			return fail_errno(e, "set propagation of id-mapped mount %s", m->source);
		}
	}
	memset(&a, 0, sizeof a);
	a.attr_set = MOUNT_ATTR_IDMAP;
	a.userns_fd = (uint64_t)st->idmap_userns_fds[r->u.idmap_mount.userns];
	if (syscall(SYS_mount_setattr, fd, "",
		    AT_EMPTY_PATH | ((r->u.idmap_mount.flags & MOUNT_IDMAP_RECURSIVE) ? AT_RECURSIVE : 0),
		    &a, sizeof a) < 0) {
		int e = errno;
		close(fd);
		/* runc's wording, the hint after the error. */
		return fail("failed to set MOUNT_ATTR_IDMAP on %s: %s%s", m->source, errno_text(e),
			    e == EINVAL ? " (maybe the filesystem used doesn't support idmap mounts on this kernel?)" : "");
	}
	r->u.idmap_mount.tree_fd = fd;
	return 0;
}

/* As runc: with a user namespace, host bind sources are opened while E still
 * has the host's root, so a source the container's root could not reach (a
 * directory under a 0700 one) can still be bound. A plain O_PATH fd of the
 * host's mount namespace cannot be bound from C's, so it is a detached copy
 * (open_tree), which C attaches like an id-mapped tree. */
static int open_bind_sources(const struct plan *p)
{
	int userns = ((p->clone_flags | p->joined_flags) & CLONE_NEWUSER) != 0;
	uint64_t prop = tree_propagation(p);
	for (size_t i = 0; userns && i < p->nrecs; i++) {
		struct rec *r = &p->recs[i];
		struct r_mount *m = &r->u.mount;
		int recursive = (m->flags & MS_REC) != 0;
		if (r->tag != T_MOUNT || !(m->options & MOUNT_OPT_BIND) || (m->options & MOUNT_OPT_SRC_IN_ROOT) ||
		    (i > 0 && p->recs[i - 1].tag == T_MOUNT_IDMAP))
			continue;
		m->src_fd = (int)syscall(SYS_open_tree, AT_FDCWD, m->source,
					 OPEN_TREE_CLONE | O_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
		if (m->src_fd < 0) {
			/* An unprivileged E (rootless) may not clone trees of its mount
			 * namespace: C then binds the source by its path, as before. */
			if (errno == EPERM) {
				m->src_fd = -1;
				continue;
			}
			return fail_errno(errno, "mount %s to %s: open source", m->source, m->target);
		}
		if (prop) {
			struct tsrun_mount_attr a;
			memset(&a, 0, sizeof a);
			a.propagation = prop;
			if (syscall(SYS_mount_setattr, m->src_fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0),
				    &a, sizeof a) < 0)
				return fail_errno(errno, "set propagation of bind source %s", m->source);
		}
	}
	return 0;
}

static int make_idmap_trees(const struct plan *p, struct e_state *st)
{
	if (open_bind_sources(p) < 0)
		return -1;
	for (size_t i = 0; i + 1 < p->nrecs; i++) {
		struct rec *r = &p->recs[i];
		if (r->tag == T_MOUNT_IDMAP && make_idmap_tree(p, r, &p->recs[i + 1].u.mount, st) < 0)
			return -1;
	}
	/* The trees hold on to their mappings; C never gets these fds. */
	for (size_t k = 0; k < st->nidmap; k++)
		close_quiet(st->idmap_userns_fds[k]);
	st->nidmap = 0;
	return 0;
}

void e_close_idmap_trees(const struct plan *p)
{
	for (size_t i = 0; i < p->nrecs; i++) {
		struct rec *r = &p->recs[i];
		if (r->tag == T_MOUNT_IDMAP && r->u.idmap_mount.tree_fd >= 0) {
			close(r->u.idmap_mount.tree_fd);
			r->u.idmap_mount.tree_fd = -1;
		}
		if (r->tag == T_MOUNT && r->u.mount.src_fd >= 0) {
			close(r->u.mount.src_fd);
			r->u.mount.src_fd = -1;
		}
	}
}

/* ---- a joined user namespace's expected maps --------------------------------- */

/* The numbers of a map, whitespace aside (the kernel pads its columns). */
static size_t map_numbers(const char *s, unsigned long *out, size_t max)
{
	size_t n = 0;
	while (*s && n < max) {
		char *end;
		if (*s < '0' || *s > '9') {
			s++;
			continue;
		}
		out[n++] = strtoul(s, &end, 10);
		s = end;
	}
	return n;
}

static int same_map(const char *want, const char *have)
{
	unsigned long a[3 * 340], b[3 * 340];
	size_t na = map_numbers(want, a, sizeof a / sizeof a[0]);
	size_t nb = map_numbers(have, b, sizeof b / sizeof b[0]);
	return na == nb && memcmp(a, b, na * sizeof a[0]) == 0;
}

/* containerd (and CRI-O) name the pod's user namespace by path and also give its maps: as runc
 * 1.2+, the maps must be the namespace's own. A helper child joins the namespace (E, single-
 * threaded and root in the initial one, may) and E reads the helper's maps before it joins any
 * namespace itself. */
static int check_joined_userns_maps(const struct plan *p, struct e_state *st)
{
	int fd = -1, pp[2], ok = 1, status;
	char path[64], buf[4096], b = 0;
	long pid;
	for (size_t i = 0; i < st->nns; i++)
		if (st->ns_flags[i] == CLONE_NEWUSER)
			fd = st->ns_fds[i];
	if (fd < 0)
		return fail("invalid plan: UID_MAP/GID_MAP without a user namespace");
	if (pipe2(pp, O_CLOEXEC) < 0)
		return fail_errno(errno, "check the joined user namespace's maps: pipe");
	pid = syscall(SYS_clone, (unsigned long)SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		close(pp[0]);
		b = setns(fd, CLONE_NEWUSER) == 0 ? 'j' : 'e';
		if (write(pp[1], &b, 1) != 1)
			_exit(1);
		/* stays in the namespace until E has read its maps and killed it */
		for (;;)
			pause();
	}
	close(pp[1]);
	if (pid < 0) {
		close(pp[0]);
		return fail_errno(errno, "check the joined user namespace's maps: clone");
	}
	while (read(pp[0], &b, 1) < 0 && errno == EINTR)
		;
	close(pp[0]);
	if (b != 'j')
		ok = -1;
	const char *want[2] = { p->uid_map ? p->uid_map->u.str : NULL, p->gid_map ? p->gid_map->u.str : NULL };
	const char *file[2] = { "uid_map", "gid_map" };
	for (int k = 0; k < 2 && ok == 1; k++) {
		if (!want[k])
			continue;
		snprintf(path, sizeof path, "%ld/%s", pid, file[k]);
		int mfd = openat(st->procfd, path, O_RDONLY | O_CLOEXEC);
		ssize_t n = mfd < 0 ? -1 : read(mfd, buf, sizeof buf - 1);
		if (mfd >= 0)
			close(mfd);
		if (n < 0) {
			ok = -1;
			break;
		}
		buf[n] = 0;
		if (!same_map(want[k], buf))
			ok = 0;
	}
	kill((pid_t)pid, SIGKILL);
	while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ok < 0)
		return fail("check the joined user namespace's maps: cannot join or read it");
	if (!ok)
		return fail("user namespaces enabled, but both namespace path and non-matching mapping specified -- you may only provide one");
	return 0;
}

/* ---- namespaces and cgroups -------------------------------------------------- */

int e_prepare(const struct plan *p, struct e_state *st)
{
	st->procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (st->procfd < 0)
		return fail_errno(errno, "open /proc");

	for (size_t i = 0; i < p->nrecs; i++) {
		const struct rec *r = &p->recs[i];
		if (r->tag == T_NS_JOIN) {
			int fd = open(r->u.ns_join.path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				return fail_errno(errno, "open %s namespace %s", ns_name(r->u.ns_join.flag),
						  r->u.ns_join.path);
			st->ns_fds[st->nns] = fd;
			st->ns_flags[st->nns++] = r->u.ns_join.flag;
		} else if (r->tag == T_CGROUP_PROCS) {
			int fd = open(r->u.str, O_WRONLY | O_CLOEXEC);
			if (fd < 0)
				return fail_errno(errno, "open %s", r->u.str);
			st->cgroup_fds[st->ncgroups++] = fd;
		}
	}

	if (p->exec_fifo) {
		const char *path = p->exec_fifo->u.str;
		/* mknod applies the umask; the mode is part of the contract, so set
		 * it explicitly afterwards. */
		if (mknod(path, S_IFIFO | 0622, 0) < 0)
			return fail_errno(errno, "create exec fifo %s", path);
		if (chmod(path, 0622) < 0)
			return fail_errno(errno, "chmod exec fifo %s", path);
		st->fifo_fd = open(path, O_PATH | O_CLOEXEC);
		if (st->fifo_fd < 0)
			return fail_errno(errno, "open exec fifo %s", path);
	}

	/* Before any setns: a helper cloned after joining a pid namespace would
	 * land in the container's. */
	if ((p->uid_map || p->gid_map) && !(p->clone_flags & CLONE_NEWUSER) &&
	    check_joined_userns_maps(p, st) < 0)
		return -1;
	for (size_t i = 0; i < p->nrecs; i++) {
		const struct rec *r = &p->recs[i];
		if (r->tag == T_IDMAP_USERNS && make_mapped_userns(r, st) < 0)
			return -1;
		if (r->tag == T_IDMAP_USERNS_PATH && open_userns(r->u.str, st) < 0)
			return -1;
	}
	return 0;
}

/* E is root in the initial user namespace, so it may enter any namespace
 * while it is still there. Entering the user namespace last keeps that right
 * for namespaces owned by other user namespaces (a container joining the
 * host's network namespace, say). */
int e_join_namespaces(const struct plan *p, struct e_state *st)
{
	int user_pass = e_rootless_user_ns_first() ? 0 : 1;
	for (int pass = 0; pass < 2; pass++) {
		/* Id-mapped sources are resolved in the mount namespace C will copy
		 * (a joined one included), by E still in the initial user namespace. */
		if (pass == 1 && make_idmap_trees(p, st) < 0)
			return -1;
		for (size_t i = 0; i < st->nns; i++) {
			int is_user = st->ns_flags[i] == CLONE_NEWUSER;
			if (is_user != (pass == user_pass))
				continue;
			/* PIDNS_LATE: C1 joins it after the root change (pidns.c). */
			if (p->pidns_late && st->ns_flags[i] == CLONE_NEWPID) {
				pidns_keep(st->ns_fds[i]);
				st->ns_fds[i] = -1;
				continue;
			}
			if (setns(st->ns_fds[i], (int)st->ns_flags[i]) < 0)
				return fail_errno(errno, "setns %s namespace", ns_name(st->ns_flags[i]));
			close(st->ns_fds[i]);
			st->ns_fds[i] = -1;
		}
	}
	if (p->timens) {
		const char *off = p->timens->u.str;
		if (unshare(CLONE_NEWTIME) < 0)
			return fail_errno(errno, "unshare time namespace");
		/* An empty file write is EINVAL: a time namespace without offsets writes nothing. */
		if (off[0] && write_file_at(st->procfd, "self/timens_offsets", off, strlen(off)) < 0)
			return fail_errno(errno, "write timens_offsets");
	}
	return 0;
}

int e_write_id_maps(const struct plan *p, struct e_state *st, pid_t child)
{
	char path[64];
	if (p->idmap_tools)
		return e_rootless_write_id_maps(p, st->procfd, child);
	/* setgroups stays "allow": E writes the maps with CAP_SETGID in the parent
	 * namespace, which is what the kernel asks for before gid_map may be
	 * written without "deny", and the container may need setgroups(2). */
	/* With a joined user namespace they were the maps it has (checked in e_prepare). */
	if (!(p->clone_flags & CLONE_NEWUSER))
		return 0;
	if (p->uid_map) {
		snprintf(path, sizeof path, "%d/uid_map", child);
		if (write_file_at(st->procfd, path, p->uid_map->u.str, strlen(p->uid_map->u.str)) < 0)
			return fail_errno(errno, "write uid_map");
	}
	if (p->gid_map) {
		snprintf(path, sizeof path, "%d/gid_map", child);
		if (write_file_at(st->procfd, path, p->gid_map->u.str, strlen(p->gid_map->u.str)) < 0)
			return fail_errno(errno, "write gid_map");
	}
	return 0;
}

int e_join_cgroups(struct e_state *st, pid_t child)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d", child);
	for (size_t i = 0; i < st->ncgroups; i++) {
		ssize_t w = write(st->cgroup_fds[i], buf, (size_t)n);
		if (w != n) {
			char lnk[64], target[4096];
			ssize_t tl;
			int e = w < 0 ? errno : EIO;
			snprintf(lnk, sizeof lnk, "self/fd/%d", st->cgroup_fds[i]);
			tl = readlinkat(st->procfd, lnk, target, sizeof target - 1);
			target[tl > 0 ? tl : 0] = 0;
			return fail_errno(e, "write pid to %s", tl > 0 ? target : "cgroup.procs");
		}
	}
	return 0;
}

void e_close_joined(struct e_state *st)
{
	for (size_t i = 0; i < st->nns; i++)
		close_quiet(st->ns_fds[i]);
	for (size_t k = 0; k < st->nidmap; k++)
		close_quiet(st->idmap_userns_fds[k]);
	st->nns = st->nidmap = 0;
}

void e_close_all(struct e_state *st)
{
	for (size_t i = 0; i < st->nns; i++)
		close_quiet(st->ns_fds[i]);
	for (size_t i = 0; i < st->ncgroups; i++)
		close_quiet(st->cgroup_fds[i]);
	for (size_t k = 0; k < st->nidmap; k++)
		close_quiet(st->idmap_userns_fds[k]);
	close_quiet(st->procfd);
	st->nns = st->ncgroups = st->nidmap = 0;
	st->procfd = -1;
}
