/*
 * MODE_WAIT (a foreground `run` or `exec`): E stays the parent of the process
 * it released, reaps it and exits with its status, so that tsrun learns it from
 * its own child's exit instead of becoming a child subreaper and waiting on a
 * thread (which costs tsrun the load of its FFI). As runc's own `run`, E is a
 * child subreaper, so that what the process leaves behind is reaped here too.
 */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"

void wait_become_subreaper(void)
{
	/* Only the reaping of orphans depends on it: not worth failing a container. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		sync_log(LOG_DEBUG, "executor: PR_SET_CHILD_SUBREAPER: %s", errno_text(errno));
}

/* Signals that are the process's, not ours: E shares tsrun's process group, so
 * a Ctrl-C or a hang-up of tsrun's terminal reaches E as well, and tsrun passes
 * each one on to the process itself. Faults and SIGKILL/SIGSTOP keep theirs. */
static void ignore_forwarded_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };

	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		switch (sig) {
		case SIGKILL: case SIGSTOP: case SIGCHLD:
		case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGTRAP: case SIGSYS: case SIGABRT:
			continue;
		}
		/* glibc's own signals refuse: nothing to do about them. */
		(void)sigaction(sig, &sa, NULL);
	}
}

/* Exits as a shell reports a status: the exit code, or 128 + the signal. */
int wait_for_process(pid_t pid)
{
	int status;
	pid_t got;

	ignore_forwarded_signals();
	/* Nothing above stdio is ours to keep: not the sync socket (tsrun no longer
	 * reads it), nor the console socket or the preserved fds, whose other ends
	 * may wait for them to close. The process has its own copies. */
	if (syscall(SYS_close_range, 3, ~0u, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	g_sync_fd = -1;
	for (;;) {
		got = waitpid(-1, &status, __WALL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			/* Not ours any more: nothing to report (tsrun treats 255 as unknown). */
			return 255;
		}
		if (got != pid)
			continue;
		if (WIFEXITED(status))
			return WEXITSTATUS(status);
		if (WIFSIGNALED(status))
			return 128 + WTERMSIG(status);
	}
}
