/*
 * A container that joins another's pid namespace (PIDNS_LATE): the two-stage
 * init. See "Joined pid namespace" in PLAN-FORMAT.md.
 *
 * The init that sets up the rootfs holds the host's root and cwd (and dir fds
 * of host paths) until the root change, and a process of the other container
 * with CAP_SYS_PTRACE in the initial user namespace may follow
 * /proc/<pid>/root, /cwd and /fd/N of anything visible in its pid namespace,
 * dumpable or not. So C1 does that work from the host's pid namespace, where
 * the other container cannot see it, and only C2, cloned into the joined
 * namespace once C1's root and cwd are the container's, is visible there.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"

static int g_pidns_fd = -1; /* J, C1: the pid namespace to join */
static int g_host_proc = -1; /* C1: the host's /proc, where C1 is visible */
static int c1_report[2] = { -1, -1 }; /* C1 -> E: C2's host pid */
static int c2_go[2] = { -1, -1 }; /* E -> C2: INIT_PID has been sent */

int pidns_prepare(const struct plan *p)
{
	if (!p->pidns_late)
		return 0;
	if (pipe2(c1_report, O_CLOEXEC) < 0 || pipe2(c2_go, O_CLOEXEC) < 0)
		return fail_errno(errno, "pipe");
	return 0;
}

void pidns_in_joiner(void)
{
	close_quiet(c1_report[0]);
	close_quiet(c2_go[1]);
	c1_report[0] = c2_go[1] = -1;
}

void pidns_in_executor(void)
{
	close_quiet(c1_report[1]);
	close_quiet(c2_go[0]);
	c1_report[1] = c2_go[0] = -1;
}

void pidns_keep(int fd)
{
	g_pidns_fd = fd;
}

void pidns_keep_proc(int fd)
{
	g_host_proc = fd;
}

/* The container's /proc is now the joined pid namespace's, without C1 in it:
 * the /proc/self/fd/N paths that mounts are made through resolve from the
 * host's /proc instead, as the cwd (C1 is not visible to the container). */
int pidns_after_root_change(void)
{
	if (fchdir(g_host_proc) < 0)
		return fail_errno(errno, "chdir to the host's /proc");
	g_proc_relative = 1;
	return 0;
}

/* MS flags of a MOUNT record as the attributes of a new mount (the
 * superblock flags go through fsconfig). */
static uint64_t ms_to_attr(uint64_t ms)
{
	uint64_t a = 0;
	if (ms & MS_RDONLY)
		a |= MOUNT_ATTR_RDONLY;
	if (ms & MS_NOSUID)
		a |= MOUNT_ATTR_NOSUID;
	if (ms & MS_NODEV)
		a |= MOUNT_ATTR_NODEV;
	if (ms & MS_NOEXEC)
		a |= MOUNT_ATTR_NOEXEC;
	if (ms & MS_NODIRATIME)
		a |= MOUNT_ATTR_NODIRATIME;
	if (ms & MS_NOSYMFOLLOW)
		a |= MOUNT_ATTR_NOSYMFOLLOW;
	if (ms & MS_NOATIME)
		a |= MOUNT_ATTR_NOATIME;
	else if (ms & MS_STRICTATIME)
		a |= MOUNT_ATTR_STRICTATIME;
	return a;
}

static int set_flag(int fsfd, const char *key)
{
	return fsconfig(fsfd, FSCONFIG_SET_FLAG, key, NULL, 0);
}

/* procfs for the joined pid namespace rather than C1's own (the host's):
 * the kernel's `pidns` parameter, checked like setns(2). -1 with errno set;
 * the caller words the error as for any mount. */
int pidns_mount_proc(const struct r_mount *m, int target_fd)
{
	char *data = NULL, *opt, *save = NULL;
	int fsfd, mfd = -1, e;

	fsfd = fsopen("proc", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -1;
	if (fsconfig(fsfd, FSCONFIG_SET_FD, "pidns", NULL, g_pidns_fd) < 0 ||
	    (m->source[0] && fsconfig(fsfd, FSCONFIG_SET_STRING, "source", m->source, 0) < 0) ||
	    ((m->flags & MS_SYNCHRONOUS) && set_flag(fsfd, "sync") < 0) ||
	    ((m->flags & MS_DIRSYNC) && set_flag(fsfd, "dirsync") < 0) ||
	    ((m->flags & MS_LAZYTIME) && set_flag(fsfd, "lazytime") < 0) ||
	    ((m->flags & MS_MANDLOCK) && set_flag(fsfd, "mand") < 0))
		goto out;
	if (m->data[0] && !(data = strdup(m->data)))
		goto out;
	for (opt = data ? strtok_r(data, ",", &save) : NULL; opt; opt = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(opt, '=');
		if (eq)
			*eq = 0;
		if (fsconfig(fsfd, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, opt, eq ? eq + 1 : NULL, 0) < 0)
			goto out;
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto out;
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, (unsigned int)ms_to_attr(m->flags));
	if (mfd < 0)
		goto out;
	if (move_mount(mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0)
		errno = 0;
out:
	e = errno;
	close_quiet(mfd);
	close(fsfd);
	free(data);
	errno = e;
	return e ? -1 : 0;
}

/* Closes every fd from `from` up except the sorted `keep` ones. */
static void close_except(int from, int *keep, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < from)
			continue;
		if (keep[i] > from)
			syscall(SYS_close_range, from, keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0u, 0);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* C1, after the root change and everything that touches the host: C2 is
 * cloned into the joined pid namespace (as E's child, CLONE_PARENT) and
 * returns; C1 reports C2's pid to E and exits. */
void pidns_enter(const struct plan *p, int fifo_fd)
{
	uint32_t nfds = p->preserve_fds ? p->preserve_fds->u.u32 : 0;
	int keep[4], nk = 0;
	uint8_t num[4];
	long pid;
	char b;

	g_proc_relative = 0;
	if (chdir("/") < 0) {
		fail_errno(errno, "chdir to /");
		die();
	}
	/* Needs CAP_SYS_ADMIN, which the identity switch in C2 drops. */
	if (setns(g_pidns_fd, CLONE_NEWPID) < 0) {
		fail_errno(errno, "setns pid namespace");
		die();
	}
	/* Only what C2 needs: stdio, the preserved fds, the sync socket, the
	 * exec fifo (O_PATH, a fifo: nothing to walk up from) and the two pipes. */
	keep[nk++] = g_sync_fd;
	keep[nk++] = c1_report[1];
	keep[nk++] = c2_go[0];
	if (fifo_fd >= 0)
		keep[nk++] = fifo_fd;
	qsort(keep, (size_t)nk, sizeof keep[0], cmp_int);
	close_except(3 + (int)nfds, keep, (size_t)nk);
	g_pidns_fd = g_host_proc = -1;

	pid = syscall(SYS_clone, (unsigned long)CLONE_PARENT, 0, 0, 0, 0);
	if (pid < 0) {
		fail_errno(errno, "clone into the pid namespace");
		die();
	}
	if (pid == 0) {
		close(c1_report[1]);
		/* EOF: E failed or is gone, and reported it if it could. */
		if (read(c2_go[0], &b, 1) != 1)
			_exit(1);
		close(c2_go[0]);
		/* C2 leads a session of its own, as every init (init.c); the terminal C1
		 * set up on fds 0-2 becomes its controlling one. */
		if (setsid() < 0) {
			fail_errno(errno, "setsid");
			die();
		}
		if (p->console && ioctl(0, TIOCSCTTY, 0) < 0) {
			fail_errno(errno, "ioctl TIOCSCTTY");
			die();
		}
		return;
	}
	for (int i = 0; i < 4; i++)
		num[i] = (uint8_t)((uint32_t)pid >> (8 * i));
	if (write_all(c1_report[1], num, sizeof num) < 0) {
		fail_errno(errno, "report init pid");
		kill((pid_t)pid, SIGKILL);
		die();
	}
	_exit(0);
}

/* The parent of a host pid, from /proc/<pid>/stat; -1 if unknown. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *rp;
	int fd;
	ssize_t n;
	long pp;

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	rp = strrchr(buf, ')');
	if (!rp || sscanf(rp + 1, " %*c %ld", &pp) != 1)
		return -1;
	return (pid_t)pp;
}

/*
 * E, after the release: waits for C1's report of C2's pid, tells tsrun
 * (INIT_PID, before C2 may send anything), lets C2 go and reaps C1. C2 holds
 * the report pipe for a moment and is visible in the other container, which
 * could write to it: the pid is taken only if it is E's child and not C1,
 * which only C2 can be.
 */
int pidns_finish(pid_t c1)
{
	uint8_t num[4], buf[4 + sizeof g_err];
	uint32_t len;
	pid_t c2;
	int got, status, tag;

	got = read_full(c1_report[0], num, sizeof num);
	close(c1_report[0]);
	if (got < 0) {
		/* C1 failed and reported it. */
		while (waitpid(c1, &status, 0) < 0 && errno == EINTR)
			;
		return 1;
	}
	c2 = (pid_t)((uint32_t)num[0] | (uint32_t)num[1] << 8 | (uint32_t)num[2] << 16 |
		     (uint32_t)num[3] << 24);
	if (c2 <= 0 || c2 == c1 || parent_of(c2) != getpid()) {
		fail("container init: reported pid %d is not the init's", (int)c2);
		return -1;
	}
	sync_log(LOG_DEBUG, "executor: init in the joined pid namespace is pid %d", (int)c2);
	if (sync_send_u32(M_INIT_PID, (uint32_t)c2) < 0) {
		fail_errno(errno, "send init pid");
		kill(c2, SIGKILL);
		return -1;
	}
	/* tsrun checks the pid while C2 is still our child, and says CONTINUE. */
	tag = sync_recv(buf, sizeof buf, &len);
	if (tag != M_CONTINUE || len) {
		kill(c2, SIGKILL);
		if (tag == M_ERROR || tag < 0) {
			/* tsrun reported it, or is gone. */
			kill(c1, SIGKILL);
			while (waitpid(c1, &status, 0) < 0 && errno == EINTR)
				;
			return 1;
		}
		fail("init pid: unexpected message %d", tag);
		return -1;
	}
	if (write(c2_go[1], "1", 1) != 1) {
		fail_errno(errno, "release init");
		kill(c2, SIGKILL);
		return -1;
	}
	close(c2_go[1]);
	while (waitpid(c1, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
