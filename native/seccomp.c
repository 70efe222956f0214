/*
 * Installing the seccomp filter, and handing its listener fd (SCMP_ACT_NOTIFY)
 * to the seccomp agent at the profile's listenerPath, as runc does:
 *
 *   E, before joining any namespace: connects to the agent (a host path) and
 *      makes the hand-over socketpair; C inherits one end.
 *   C, after installing the filter with NEW_LISTENER: writes the listener's fd
 *      number to E and waits for one byte back. Only write(2), which a profile
 *      may not notify on, must get through before the agent has the fd.
 *   E, which stayed after releasing C: takes the fd out of C with
 *      pidfd_getfd, sends the process state JSON (pid written in) and the fd in
 *      one sendmsg, answers C and exits. On failure it kills C and reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
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

static int g_agent = -1; /* E: connected to the agent */
static int g_handover[2] = { -1, -1 }; /* [0] E's end, [1] C's end */

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

int seccomp_listener_prepare(const struct plan *p)
{
	const char *path;
	struct sockaddr_un sa;

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
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, g_handover) < 0)
		return fail_errno(errno, "seccomp listener socketpair");
	return 0;
}

void seccomp_listener_in_child(void)
{
	close_quiet(g_agent);
	close_quiet(g_handover[0]);
	g_agent = g_handover[0] = -1;
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

int seccomp_listener_forward(const struct plan *p, pid_t child)
{
	const struct rec *r = p->seccomp_listener;
	uint8_t num[4];
	uint32_t child_fd;
	long pidfd, fd;
	size_t len;
	char *json;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t sent;
	int err;

	if (!r)
		return 0;
	/* EOF: C failed before installing the filter and has reported it. */
	if (read_full(g_handover[0], num, sizeof num) < 0) {
		if (errno)
			return fail_errno(errno, "receive seccomp fd number");
		return 1;
	}
	child_fd = (uint32_t)num[0] | (uint32_t)num[1] << 8 | (uint32_t)num[2] << 16 | (uint32_t)num[3] << 24;
	pidfd = syscall(SYS_pidfd_open, child, 0);
	if (pidfd < 0)
		return fail_errno(errno, "performing SYS_PIDFD_OPEN syscall");
	fd = syscall(SYS_pidfd_getfd, (int)pidfd, (int)child_fd, 0);
	close((int)pidfd);
	if (fd < 0)
		return fail_errno(errno, "performing SYS_PIDFD_GETFD syscall");

	json = state_json(r, child, &len);
	memset(&ctl, 0, sizeof ctl);
	iov.iov_base = json;
	iov.iov_len = len;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof ctl.buf;
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &(int){ (int)fd }, sizeof(int));
	do
		sent = sendmsg(g_agent, &mh, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	/* The agent reads the document in one go: a short send is a failure. */
	err = sent < 0 ? errno : EMSGSIZE;
	free(json);
	close((int)fd);
	if (sent < 0 || (size_t)sent != len)
		return fail_errno(err, "cannot send seccomp fd to %s", r->u.listener.path);
	close_quiet(g_agent);
	g_agent = -1;
	if (write_all(g_handover[0], "1", 1) < 0)
		return fail_errno(errno, "seccomp fd hand-over");
	close_quiet(g_handover[0]);
	g_handover[0] = -1;
	return 0;
}
