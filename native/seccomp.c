/*
 * Installing the seccomp filter, and handing its listener fd (SCMP_ACT_NOTIFY)
 * to the seccomp agent at the profile's listenerPath, as runc does:
 *
 *   E, before opening or joining anything: connects to the agent (a host
 *      path) and forks H, a helper that stays in the host's namespaces.
 *   C, after installing the filter with NEW_LISTENER: writes the listener's fd
 *      number to H and waits for one byte back. Only write(2), which a profile
 *      may not notify on, must get through before the agent has the fd.
 *   H, told C's pid by E after the clone: takes the fd out of C with
 *      pidfd_getfd, sends the process state JSON (pid written in) and the fd in
 *      one sendmsg, answers C, and reports to E, which waits for it and reaps
 *      it before exiting. On failure E kills C and reports.
 *
 * Why H: pidfd_getfd needs CAP_SYS_PTRACE over the user namespace C's memory
 * belongs to, which is the host's (C is a copy of E), since C is not dumpable;
 * E loses that capability when it joins a container's user namespace (exec).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "executor.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static int g_agent = -1; /* H: connected to the agent */
static int g_handover[2] = { -1, -1 }; /* [0] H's end, [1] C's end */
static int g_helper[2] = { -1, -1 }; /* [0] E's end, [1] H's end */
static pid_t g_helper_pid = -1; /* E: H */

static const struct {
	uint32_t bit;
	const char *name;
} flag_names[] = {
	{ SECCOMP_FILTER_FLAG_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC" },
	{ SECCOMP_FILTER_FLAG_LOG, "SECCOMP_FILTER_FLAG_LOG" },
	{ SECCOMP_FILTER_FLAG_SPEC_ALLOW, "SECCOMP_FILTER_FLAG_SPEC_ALLOW" },
	{ SECCOMP_FILTER_FLAG_NEW_LISTENER, "SECCOMP_FILTER_FLAG_NEW_LISTENER" },
	{ 1u << 4, "SECCOMP_FILTER_FLAG_TSYNC_ESRCH" },
	{ 1u << 5, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" },
};

/* A kernel that knows a flag gets as far as reading the (NULL) program:
 * EFAULT; one that does not refuses the flags first: EINVAL. Probed before
 * anything is made, so that an old kernel gives one clear error, not a
 * container that fails at its last step. */
int seccomp_check_flags(const struct plan *p)
{
	uint32_t flags;
	if (!p->seccomp)
		return 0;
	flags = p->seccomp->u.seccomp.flags;
	for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++) {
		uint32_t probe = flag_names[i].bit;
		if (!(flags & probe))
			continue;
		/* The kernel takes these only together with a listener. */
		if (probe & ((1u << 4) | (1u << 5)))
			probe |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, probe, NULL) == 0 || errno != EFAULT)
			return fail("seccomp flag %s is not supported by this kernel", flag_names[i].name);
	}
	return 0;
}

static __attribute__((noreturn)) void helper_main(const struct plan *p);

/* die() in E: H must not outlive E unreaped (an init that does not reap would
 * keep it as a zombie). */
static void kill_helper(void)
{
	int st;
	if (g_helper_pid <= 0)
		return;
	kill(g_helper_pid, SIGKILL);
	while (waitpid(g_helper_pid, &st, 0) < 0 && errno == EINTR)
		;
	g_helper_pid = -1;
}

int seccomp_listener_prepare(const struct plan *p)
{
	const char *path;
	struct sockaddr_un sa;
	pid_t h;

	if (!p->seccomp_listener)
		return 0;
	path = p->seccomp_listener->u.listener.path;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path)
		return fail("failed to connect with seccomp agent specified in the seccomp profile: dial unix %s: connect: %s",
			    path, errno_text(EINVAL));
	memcpy(sa.sun_path, path, strlen(path));
	g_agent = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (g_agent < 0)
		return fail_errno(errno, "seccomp agent socket");
	if (connect(g_agent, (struct sockaddr *)&sa, sizeof sa) < 0)
		return fail("failed to connect with seccomp agent specified in the seccomp profile: dial unix %s: connect: %s",
			    path, errno_text(errno));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, g_handover) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, g_helper) < 0)
		return fail_errno(errno, "seccomp listener socketpair");
	h = fork();
	if (h < 0)
		return fail_errno(errno, "fork seccomp listener helper");
	if (h == 0)
		helper_main(p);
	g_helper_pid = h;
	g_die_hook = kill_helper;
	close_quiet(g_agent);
	close_quiet(g_handover[0]);
	close_quiet(g_helper[1]);
	g_agent = g_handover[0] = g_helper[1] = -1;
	return 0;
}

void seccomp_listener_in_child(void)
{
	/* C is not H's parent. */
	g_die_hook = NULL;
	g_helper_pid = -1;
	close_quiet(g_helper[0]);
	g_helper[0] = -1;
}

void seccomp_listener_in_parent(void)
{
	close_quiet(g_handover[1]);
	g_handover[1] = -1;
}

int seccomp_install(const struct plan *p)
{
	const struct rec *r = p->seccomp;
	struct sock_fprog prog = {
		.len = (unsigned short)(r->u.seccomp.len / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)r->u.seccomp.prog,
	};
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, r->u.seccomp.flags, &prog);
	uint8_t num[4], ack;
	if (fd < 0)
		return fail_errno(errno, "error loading seccomp filter into kernel");
	if (!(r->u.seccomp.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER))
		return 0;
	for (int i = 0; i < 4; i++)
		num[i] = (uint8_t)((uint32_t)fd >> (8 * i));
	if (write_all(g_handover[1], num, sizeof num) < 0)
		return fail_errno(errno, "send seccomp fd number");
	/* EOF: E failed and has reported it. */
	if (read(g_handover[1], &ack, 1) != 1)
		_exit(1);
	close((int)fd);
	close_quiet(g_handover[1]);
	g_handover[1] = -1;
	return 0;
}

static char *state_json(const struct rec *r, pid_t pid, size_t *outlen)
{
	const char *json = r->u.listener.json;
	size_t len = strlen(json), at = 0, n = 0;
	char digits[16], *out;
	int dl = snprintf(digits, sizeof digits, "%d", (int)pid);

	out = xmalloc(len + (size_t)dl * r->u.listener.noffsets + 1);
	for (uint32_t k = 0; k < r->u.listener.noffsets; k++) {
		size_t off = r->u.listener.offsets[k];
		memcpy(out + n, json + at, off - at);
		n += off - at;
		memcpy(out + n, digits, (size_t)dl);
		n += (size_t)dl;
		at = off;
	}
	memcpy(out + n, json + at, len - at);
	n += len - at;
	out[n] = 0;
	*outlen = n;
	return out;
}

/* H's report to E: one status byte (0 done, 1 C failed before the
 * hand-over and reported it, 2 failed: the message follows). */
static __attribute__((noreturn)) void helper_exit(uint8_t status)
{
	(void)write_all(g_helper[1], &status, 1);
	if (status == 2)
		(void)write_all(g_helper[1], g_err, strlen(g_err));
	_exit(0);
}

static int send_to_agent(const struct rec *r, pid_t child, uint32_t child_fd)
{
	long pidfd, fd;
	size_t len;
	char *json;
	ssize_t sent;
	int err;

	pidfd = syscall(SYS_pidfd_open, child, 0);
	if (pidfd < 0)
		return fail_errno(errno, "performing SYS_PIDFD_OPEN syscall");
	fd = syscall(SYS_pidfd_getfd, (int)pidfd, (int)child_fd, 0);
	err = errno;
	close((int)pidfd);
	if (fd < 0)
		return fail_errno(err, "performing SYS_PIDFD_GETFD syscall");

	json = state_json(r, child, &len);
	sent = send_with_fd(g_agent, json, len, (int)fd);
	/* The agent reads the document in one go: a short send is a failure. */
	err = sent < 0 ? errno : EMSGSIZE;
	free(json);
	close((int)fd);
	if (sent < 0 || (size_t)sent != len)
		return fail_errno(err, "cannot send seccomp fd to %s", r->u.listener.path);
	return 0;
}

static void helper_main(const struct plan *p)
{
	uint8_t num[4];
	uint32_t pid, child_fd;

	prctl(PR_SET_NAME, "tsrun-seccomp", 0, 0, 0);
	/* Only E and C speak to tsrun. */
	close_quiet(g_sync_fd);
	g_sync_fd = -1;
	close_quiet(g_helper[0]);
	close_quiet(g_handover[1]);
	/* EOF: E failed before the clone. */
	if (read_full(g_helper[1], num, sizeof num) < 0)
		_exit(0);
	pid = (uint32_t)num[0] | (uint32_t)num[1] << 8 | (uint32_t)num[2] << 16 | (uint32_t)num[3] << 24;
	/* EOF: C failed before installing the filter and has reported it. */
	if (read_full(g_handover[0], num, sizeof num) < 0) {
		if (errno) {
			fail_errno(errno, "receive seccomp fd number");
			helper_exit(2);
		}
		helper_exit(1);
	}
	child_fd = (uint32_t)num[0] | (uint32_t)num[1] << 8 | (uint32_t)num[2] << 16 | (uint32_t)num[3] << 24;
	if (send_to_agent(p->seccomp_listener, (pid_t)pid, child_fd) < 0)
		helper_exit(2);
	if (write_all(g_handover[0], "1", 1) < 0) {
		fail_errno(errno, "seccomp fd hand-over");
		helper_exit(2);
	}
	helper_exit(0);
}

int seccomp_listener_forward(const struct plan *p, pid_t child)
{
	uint8_t num[4], status = 2;
	ssize_t n;
	size_t got = 0;
	int st;

	if (!p->seccomp_listener)
		return 0;
	for (int i = 0; i < 4; i++)
		num[i] = (uint8_t)((uint32_t)child >> (8 * i));
	if (write_all(g_helper[0], num, sizeof num) < 0)
		return fail_errno(errno, "seccomp listener helper");
	if (read_full(g_helper[0], &status, 1) < 0)
		return fail("seccomp listener helper: no answer");
	if (status == 2) {
		/* The helper's g_err, to EOF. */
		while (got < sizeof g_err - 1 &&
		       (n = read(g_helper[0], g_err + got, sizeof g_err - 1 - got)) > 0)
			got += (size_t)n;
		g_err[got] = 0;
	}
	close_quiet(g_helper[0]);
	g_helper[0] = -1;
	while (waitpid(g_helper_pid, &st, 0) < 0 && errno == EINTR)
		;
	g_helper_pid = -1;
	g_die_hook = NULL;
	return status == 0 ? 0 : status == 1 ? 1 : -1;
}
