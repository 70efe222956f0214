/*
 * tsrun-executor run <sync-fd>
 *
 * E: read and validate the plan, enter/prepare namespaces, clone C, wire it
 * up (id maps, cgroups), report its pid and let it go. See PLAN-FORMAT.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"

static int parse_fd(const char *s)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 3 || v > 65535)
		return -1;
	if (fcntl((int)v, F_GETFD) < 0)
		return -1;
	return (int)v;
}

static __attribute__((noreturn)) void abort_child(pid_t pid)
{
	int st;
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	die();
}

/* tsrun finishes what needs C's pid before C runs anything (a systemd scope
 * takes the pid itself): HOOK_POINT 1, then CONTINUE releases C. */
static void release_barrier(pid_t pid)
{
	uint8_t buf[4 + sizeof g_err];
	uint32_t len;
	int st, tag;

	if (sync_send_u32(M_HOOK_POINT, RELEASE_POINT) < 0) {
		fail_errno(errno, "send release point");
		abort_child(pid);
	}
	tag = sync_recv(buf, sizeof buf, &len);
	if (tag == M_CONTINUE && len == 0)
		return;
	if (tag == M_ERROR || tag < 0) {
		/* tsrun reported the failure itself, or is gone: nothing to add. */
		kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		_exit(1);
	}
	fail("release barrier: unexpected message %d", tag);
	abort_child(pid);
}

int main(int argc, char **argv)
{
	struct plan plan;
	struct e_state st;
	uint8_t *body;
	uint32_t len, nfds;
	int rel[2];
	mode_t orig_umask;
	long pid;

	if (argc != 3 || strcmp(argv[1], "run") != 0) {
		fprintf(stderr, "usage: tsrun-executor run <sync-fd>\n");
		return 2;
	}
	g_sync_fd = parse_fd(argv[2]);
	if (g_sync_fd < 0) {
		fprintf(stderr, "tsrun-executor: bad sync fd %s\n", argv[2]);
		return 2;
	}
	if (ensure_sealed_self(argv) < 0)
		die();
	/* execveat() of a memfd names the process after the fd number. */
	prctl(PR_SET_NAME, "tsrun-executor", 0, 0, 0);
	/* Our reads and writes block; a non-blocking socket from the spawner
	 * would turn them into spurious EAGAIN failures. */
	{
		int fl = fcntl(g_sync_fd, F_GETFL);
		if (fl >= 0 && (fl & O_NONBLOCK))
			fcntl(g_sync_fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	/* The user program must never inherit the socket to tsrun. */
	if (fcntl(g_sync_fd, F_SETFD, FD_CLOEXEC) < 0) {
		fail_errno(errno, "set close-on-exec on the sync fd");
		die();
	}
	/* Keeps processes of the container from ptracing or opening /proc files
	 * of E and C while they hold host resources. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	if (plan_read(g_sync_fd, &body, &len) < 0 || plan_decode(body, len, &plan) < 0)
		die();
	nfds = plan.preserve_fds ? plan.preserve_fds->u.u32 : 0;
	if ((uint32_t)g_sync_fd < 3 + nfds) {
		fail("invalid plan: PRESERVE_FDS %u covers the sync fd %d", nfds, g_sync_fd);
		die();
	}
	if (e_check_console(&plan, g_sync_fd) < 0)
		die();
	sync_log(LOG_DEBUG, "executor: plan of %zu records, mode %u", plan.nrecs, plan.mode);

	orig_umask = umask(0022);
	umask(orig_umask);

	memset(&st, 0, sizeof st);
	st.procfd = st.fifo_fd = -1;
	if (seccomp_check_flags(&plan) < 0 || seccomp_listener_prepare(&plan) < 0 ||
	    e_prepare(&plan, &st) < 0 || e_join_namespaces(&plan, &st) < 0)
		die();
	/* Inherited by C across the clone. Written by E because lowering it
	 * needs CAP_SYS_RESOURCE in the initial user namespace, and C's /proc
	 * entry is not writable for root of a new user namespace. */
	if (plan.oom && proc_oom_score_adj(st.procfd, plan.oom->u.i32) < 0)
		die();
	if (e_rootless_before_clone(&plan) < 0)
		die();
	if (pipe2(rel, O_CLOEXEC) < 0) {
		fail_errno(errno, "pipe");
		die();
	}

	pid = syscall(SYS_clone, (unsigned long)plan.clone_flags | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) {
		fail_errno(errno, "clone");
		die();
	}
	if (pid == 0) {
		prctl(PR_SET_NAME, "tsrun-init", 0, 0, 0);
		close(rel[1]);
		e_close_all(&st);
		seccomp_listener_in_child();
		run_init(&plan, rel[0], st.fifo_fd, orig_umask);
	}
	close(rel[0]);
	seccomp_listener_in_parent();
	close_quiet(st.fifo_fd);
	e_close_idmap_trees(&plan);

	if (e_write_id_maps(&plan, &st, (pid_t)pid) < 0 || e_join_cgroups(&st, (pid_t)pid) < 0)
		abort_child((pid_t)pid);
	sync_log(LOG_DEBUG, "executor: init is pid %ld", pid);
	/* PID goes out before the release so it precedes anything C sends. */
	if (sync_send_u32(M_PID, (uint32_t)pid) < 0) {
		fail_errno(errno, "send pid");
		abort_child((pid_t)pid);
	}
	if (plan.release_barrier)
		release_barrier((pid_t)pid);
	if (write(rel[1], "1", 1) != 1) {
		fail_errno(errno, "release init");
		abort_child((pid_t)pid);
	}
	e_close_all(&st);
	switch (seccomp_listener_forward(&plan, (pid_t)pid)) {
	case 0:
		return 0;
	case 1:
		return 1;
	default:
		abort_child((pid_t)pid);
	}
}
