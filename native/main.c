/*
 * tsrun-executor run <sync-fd>
 *
 * E: read and validate the plan, enter/prepare namespaces, clone C, wire it
 * up (id maps, cgroups), report its pid and let it go. See PLAN-FORMAT.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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

/* J failed and has reported it on the sync socket: leave without a second
 * message, reaping H first. */
static __attribute__((noreturn)) void exit_reported(void)
{
	if (g_die_hook)
		g_die_hook();
	_exit(1);
}

/*
 * E never joins a namespace. It forks J, the joiner, which joins the
 * container's namespaces and clones C with CLONE_PARENT, so that C is still
 * E's child. The host fds E needs after the clone (/proc, the cgroup.procs
 * files) then live only in E and J, and neither is in the container's pid
 * namespace; J closes every one of them before it clones, so C is born
 * without any. C's non-dumpability alone would not do: a container process
 * with CAP_SYS_PTRACE in the initial user namespace may open /proc/<C>/fd/N
 * of a non-dumpable C whose memory belongs to that namespace.
 */
static long spawn_init(struct plan *plan, struct e_state *st, int rel[2], mode_t orig_umask)
{
	int report[2], status, got;
	uint8_t num[4];
	pid_t j;
	long pid;

	if (pipe2(report, O_CLOEXEC) < 0) {
		fail_errno(errno, "pipe");
		die();
	}
	j = fork();
	if (j < 0) {
		fail_errno(errno, "fork");
		die();
	}
	if (j == 0) {
		prctl(PR_SET_NAME, "tsrun-join", 0, 0, 0);
		close(report[0]);
		close(rel[1]);
		pidns_in_joiner();
		/* J is not H's parent: H stays E's to reap. */
		seccomp_listener_in_child();
		if (e_join_namespaces(plan, st) < 0)
			die();
		if (plan->pidns_late) {
			pidns_keep_proc(st->procfd);
			st->procfd = -1;
		}
		e_close_all(st);
		pid = syscall(SYS_clone, (unsigned long)plan->clone_flags | CLONE_PARENT, 0, 0, 0, 0);
		if (pid < 0) {
			fail_errno(errno, "clone");
			die();
		}
		if (pid == 0) {
			prctl(PR_SET_NAME, "tsrun-init", 0, 0, 0);
			close(report[1]);
			run_init(plan, rel[0], st->fifo_fd, orig_umask);
		}
		for (int i = 0; i < 4; i++)
			num[i] = (uint8_t)((uint32_t)pid >> (8 * i));
		/* E is gone: C would wait for a release that never comes. */
		if (write_all(report[1], num, sizeof num) < 0)
			kill((pid_t)pid, SIGKILL);
		_exit(0);
	}
	close(report[1]);
	pidns_in_executor();
	seccomp_listener_in_parent();
	close_quiet(st->fifo_fd);
	st->fifo_fd = -1;
	e_close_joined(st);
	got = read_full(report[0], num, sizeof num);
	close(report[0]);
	while (waitpid(j, &status, 0) < 0 && errno == EINTR)
		;
	if (got < 0) {
		if (WIFSIGNALED(status)) {
			fail("namespace joiner killed by signal %d", WTERMSIG(status));
			die();
		}
		exit_reported();
	}
	pid = (long)((uint32_t)num[0] | (uint32_t)num[1] << 8 | (uint32_t)num[2] << 16 | (uint32_t)num[3] << 24);
	return pid;
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
	/* Before anything of the host is opened: a non-dumpable process's
	 * /proc files are its owner's only, so a container process without
	 * CAP_SYS_PTRACE in the initial user namespace cannot open them. That
	 * capability is what spawn_init() guards against. */
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
	/* Before anything is cloned: whatever C leaves behind comes to us. */
	if (plan.mode_flags & MODE_WAIT)
		wait_become_subreaper();
	sync_log(LOG_DEBUG, "executor: plan of %zu records, mode %u", plan.nrecs, plan.mode);

	orig_umask = umask(0022);
	umask(orig_umask);

	memset(&st, 0, sizeof st);
	st.procfd = st.fifo_fd = -1;
	if (seccomp_check_flags(&plan) < 0 || seccomp_listener_prepare(&plan) < 0 ||
	    e_prepare(&plan, &st) < 0 || pidns_prepare(&plan) < 0)
		die();
	/* Inherited by J and C. Written by E, in the initial user namespace,
	 * because lowering it needs CAP_SYS_RESOURCE there, and C's /proc entry
	 * is not writable for root of a new user namespace. */
	if (plan.oom && proc_oom_score_adj(st.procfd, plan.oom->u.i32) < 0)
		die();
	if (e_rootless_before_clone(&plan) < 0)
		die();
	if (pipe2(rel, O_CLOEXEC) < 0) {
		fail_errno(errno, "pipe");
		die();
	}
	pid = spawn_init(&plan, &st, rel, orig_umask);
	close(rel[0]);
	if (e_write_id_maps(&plan, &st, (pid_t)pid) < 0 || e_join_cgroups(&st, (pid_t)pid) < 0)
		abort_child((pid_t)pid);
	sync_log(LOG_DEBUG, "executor: init is pid %ld", pid);
	/* PID goes out before the release so it precedes anything C sends. */
	if (sync_send_u32(M_PID, (uint32_t)pid) < 0) {
		fail_errno(errno, "send pid");
		abort_child((pid_t)pid);
	}
	fault_point("executor:1");
	if (plan.release_barrier)
		release_barrier((pid_t)pid);
	if (write(rel[1], "1", 1) != 1) {
		fail_errno(errno, "release init");
		abort_child((pid_t)pid);
	}
	fault_point("executor:2");
	e_close_all(&st);
	if (plan.pidns_late) {
		int rc = pidns_finish((pid_t)pid);
		if (rc < 0)
			abort_child((pid_t)pid);
		if (rc == 0 && (plan.mode_flags & MODE_WAIT))
			return wait_for_process(pidns_init_pid());
		return rc;
	}
	switch (seccomp_listener_forward(&plan, (pid_t)pid)) {
	case 0:
		if (plan.mode_flags & MODE_WAIT)
			return wait_for_process((pid_t)pid);
		return 0;
	case 1:
		return 1;
	default:
		abort_child((pid_t)pid);
	}
}
