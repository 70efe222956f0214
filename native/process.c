/*
 * Process attributes of the container init: limits, scheduling, identity.
 * Credentials are changed with raw syscalls: C was created by a raw clone,
 * so glibc's per-thread bookkeeping (used by its setxid broadcast) still
 * describes E.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "executor.h"

int proc_rlimit(const struct rec *r)
{
	struct rlimit rl = { .rlim_cur = r->u.rlimit.soft, .rlim_max = r->u.rlimit.hard };
	if (syscall(SYS_prlimit64, 0, r->u.rlimit.resource, &rl, NULL) < 0)
		/* runc's words: callers such as Podman classify the error by them. */
		return fail_errno(errno, "error during container init: error setting rlimits for ready process: error setting rlimit type %u",
				  r->u.rlimit.resource);
	return 0;
}

int proc_personality(uint64_t persona)
{
	if (syscall(SYS_personality, (unsigned long)persona) < 0)
		return fail_errno(errno, "personality 0x%llx", (unsigned long long)persona);
	return 0;
}

struct sched_attr_v0 {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

int proc_scheduler(const struct r_sched *s)
{
	struct sched_attr_v0 a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.sched_policy = s->policy;
	a.sched_flags = s->flags;
	a.sched_nice = s->nice;
	a.sched_priority = s->priority;
	a.sched_runtime = s->runtime;
	a.sched_deadline = s->deadline;
	a.sched_period = s->period;
	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
		return fail_errno(errno, "sched_setattr");
	return 0;
}

int proc_ioprio(uint32_t class, uint32_t level)
{
	if (syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (int)(class << 13 | level)) < 0)
		return fail_errno(errno, "ioprio_set");
	return 0;
}

int proc_oom_score_adj(int procfd, int32_t v)
{
	char buf[16];
	int n = snprintf(buf, sizeof buf, "%d", v);
	if (write_file_at(procfd, "self/oom_score_adj", buf, (size_t)n) < 0)
		return fail_errno(errno, "write oom_score_adj");
	return 0;
}

#define KEYCTL_SETPERM_ 5
#define KEYCTL_DESCRIBE_ 6
#define KEYCTL_JOIN_SESSION_KEYRING_ 1

int proc_session_keyring(const char *name)
{
	char desc[512];
	long id, n;
	unsigned long perm;
	char *semi;

	id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING_, name[0] ? name : NULL);
	if (id < 0) {
		/* Kernels without keyrings: runc carries on, so do we. */
		if (errno == ENOSYS)
			return 0;
		return fail_errno(errno, "join session keyring %s", name);
	}
	/* A fresh keyring is only usable by its possessor; add search for the
	 * possessor and everything for the user, as runc does, so a process
	 * that later switches uid still reaches it. */
	n = syscall(SYS_keyctl, KEYCTL_DESCRIBE_, id, desc, sizeof desc - 1);
	if (n < 0)
		return fail_errno(errno, "describe session keyring");
	desc[n < (long)sizeof desc ? n : (long)sizeof desc - 1] = 0;
	semi = desc;
	for (int i = 0; i < 3 && semi; i++) {
		semi = strchr(semi, ';');
		if (semi)
			semi++;
	}
	if (!semi)
		return fail("describe session keyring: unexpected answer");
	perm = strtoul(semi, NULL, 16);
	perm |= 0x080f0000ul;
	if (syscall(SYS_keyctl, KEYCTL_SETPERM_, id, perm) < 0)
		return fail_errno(errno, "set session keyring permissions");
	return 0;
}

int proc_sysctl(const char *key, const char *value, int rootfd)
{
	char path[4200];
	int fd;
	ssize_t w;
	size_t n = strlen(value);

	snprintf(path, sizeof path, "/proc/sys/%s", key);
	for (char *c = path + 10; *c; c++)
		if (*c == '.')
			*c = '/';
	fd = open_in_root(rootfd, path, O_WRONLY);
	if (fd < 0)
		return fail_errno(errno, "write sysctl %s", key);
	if (check_procfs_fd(fd, path) < 0) {
		close(fd);
		return err_wrap("write sysctl %s", key);
	}
	w = write(fd, value, n);
	if (w < 0 || (size_t)w != n) {
		int e = w < 0 ? errno : EIO;
		close(fd);
		return fail_errno(e, "write sysctl %s", key);
	}
	close(fd);
	return 0;
}

int proc_become_ns_root(void)
{
	if (syscall(SYS_setresgid, 0, 0, 0) < 0)
		return fail_errno(errno, "setresgid 0");
	if (syscall(SYS_setresuid, 0, 0, 0) < 0)
		return fail_errno(errno, "setresuid 0");
	return 0;
}

int proc_switch_user(const struct r_user *u)
{
	/* As runc: no supplementary groups to set where the kernel denies it. */
	if ((u->ngids || !c_setgroups_skipped()) && syscall(SYS_setgroups, (size_t)u->ngids, u->gids) < 0)
		return fail_errno(errno, "setgroups");
	if (syscall(SYS_setresgid, u->gid, u->gid, u->gid) < 0)
		return fail_errno(errno, "setresgid %u", u->gid);
	if (syscall(SYS_setresuid, u->uid, u->uid, u->uid) < 0)
		return fail_errno(errno, "setresuid %u", u->uid);
	return 0;
}

int proc_affinity(const uint8_t *mask, uint32_t len)
{
	/* The kernel copies the mask in units of longs. */
	size_t padded = (len + sizeof(long) - 1) / sizeof(long) * sizeof(long);
	uint8_t *buf = xcalloc(1, padded);
	long rc;
	memcpy(buf, mask, len);
	rc = syscall(SYS_sched_setaffinity, 0, padded, buf);
	free(buf);
	if (rc < 0)
		return fail_errno(errno, "sched_setaffinity");
	return 0;
}
