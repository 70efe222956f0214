/*
 * The executor's (E's) side of namespace and cgroup setup. Every host path is
 * opened before the first setns(): once E has joined a mount namespace, host
 * paths would resolve in the container's view, and /proc there belongs to
 * another pid namespace where C's host pid means nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	return 0;
}

/* E is root in the initial user namespace, so it may enter any namespace
 * while it is still there. Entering the user namespace last keeps that right
 * for namespaces owned by other user namespaces (a container joining the
 * host's network namespace, say). */
int e_join_namespaces(const struct plan *p, struct e_state *st)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < st->nns; i++) {
			int is_user = st->ns_flags[i] == CLONE_NEWUSER;
			if (is_user != pass)
				continue;
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
	/* setgroups stays "allow": E writes the maps with CAP_SETGID in the parent
	 * namespace, which is what the kernel asks for before gid_map may be
	 * written without "deny", and the container may need setgroups(2). */
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

void e_close_all(struct e_state *st)
{
	for (size_t i = 0; i < st->nns; i++)
		close_quiet(st->ns_fds[i]);
	for (size_t i = 0; i < st->ncgroups; i++)
		close_quiet(st->cgroup_fds[i]);
	close_quiet(st->procfd);
	st->nns = st->ncgroups = 0;
	st->procfd = -1;
}
