/*
 * The OCI hooks that run inside the container's namespaces: createContainer
 * (from C, after the mounts, before the root change) and startContainer (from
 * C, after `tsrun start`, right before the user program). tsrun runs the
 * others itself. Behaviour follows runc: the state JSON on stdin, stdout and
 * stderr collected for the error text, the process killed past its timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC 4u
#endif

/* Enough of a hook's output to explain its failure. */
#define HOOK_OUTPUT_MAX 4096

struct capture {
	char buf[HOOK_OUTPUT_MAX + 1];
	size_t len;
	int fd;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drain(struct capture *c)
{
	char tmp[4096];
	ssize_t n = read(c->fd, tmp, sizeof tmp);
	if (n > 0) {
		size_t room = HOOK_OUTPUT_MAX - c->len;
		size_t take = (size_t)n < room ? (size_t)n : room;
		memcpy(c->buf + c->len, tmp, take);
		c->len += take;
		c->buf[c->len] = 0;
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(c->fd);
		c->fd = -1;
	}
}

static char *state_json(const struct r_hook *h)
{
	size_t n = strlen(h->state_head) + strlen(h->state_tail) + 24;
	char *s = xmalloc(n);
	/* Our own pid, as seen in the container's pid namespace: what runc reports here. */
	snprintf(s, n, "%s%d%s", h->state_head, (int)getpid(), h->state_tail);
	return s;
}

/* Go's os/exec wording, which runc's messages carry. */
static void describe_status(char *out, size_t cap, int status)
{
	if (WIFEXITED(status)) {
		snprintf(out, cap, "exit status %d", WEXITSTATUS(status));
	} else {
		const char *name = strsignal(WTERMSIG(status));
		snprintf(out, cap, "signal: %s", name ? name : "unknown");
		char *p = out + strlen("signal: ");
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
}

static void hook_child(const struct r_hook *h, char *const envp[], int in, int out, int err, int report)
{
	uint64_t none = 0;
	int e;

	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		goto fail;
	/* Nothing of the executor's (sync socket, fifo, preserved fds) reaches
	 * the hook; the error pipe goes at execve like the rest. */
	if (syscall(SYS_close_range, 3, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = 3; fd < 65536; fd++)
			if (fd != report)
				close(fd);
	}
	signal(SIGPIPE, SIG_DFL);
	/* C works with umask 0 so that plan modes are literal; a hook gets the usual one. */
	umask(022);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
	execve(h->path, h->argv, envp);
fail:
	e = errno;
	if (write(report, &e, sizeof e) < 0) {
		/* the parent sees EOF and a 127 status */
	}
	_exit(127);
}

int run_hook(const char *kind, const struct r_hook *h, char *const default_envp[])
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 }, rep[2] = { -1, -1 };
	struct capture co = { .fd = -1 }, ce = { .fd = -1 };
	char *json = state_json(h);
	size_t json_len = strlen(json), written = 0;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	char *const *envp = h->env_given ? h->envp : default_envp;
	int64_t deadline = h->timeout ? now_ms() + (int64_t)h->timeout * 1000 : 0;
	int status = 0, exec_errno = 0, exited = 0, timed_out = 0, rc = -1, pidfd = -1;
	char what[64];
	pid_t child;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(rep, O_CLOEXEC) < 0) {
		fail_errno(errno, "error running %s hook #%u: pipe", kind, h->index);
		goto out;
	}
	/* A hook that exits without reading its stdin must not kill us with SIGPIPE. */
	sigaction(SIGPIPE, &ign, &old_pipe);
	child = fork();
	if (child < 0) {
		fail_errno(errno, "error running %s hook #%u: fork", kind, h->index);
		sigaction(SIGPIPE, &old_pipe, NULL);
		goto out;
	}
	if (child == 0)
		hook_child(h, envp, in[0], out[1], errp[1], rep[1]);

	close(in[0]);
	close(out[1]);
	close(errp[1]);
	close(rep[1]);
	in[0] = out[1] = errp[1] = rep[1] = -1;
	if (read(rep[0], &exec_errno, sizeof exec_errno) == (ssize_t)sizeof exec_errno) {
		waitpid(child, &status, 0);
		sigaction(SIGPIPE, &old_pipe, NULL);
		fail("error running %s hook #%u: fork/exec %s: %s", kind, h->index, h->path,
		     errno_text(exec_errno));
		goto out;
	}
	pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	co.fd = out[0];
	ce.fd = errp[0];
	out[0] = errp[0] = -1;

	/* Like Go's exec.Cmd.Wait: done when the hook has exited and its output is closed. */
	while (!exited || co.fd >= 0 || ce.fd >= 0) {
		struct pollfd pf[4];
		int n = 0, wait_ms = -1, ready;
		if (in[1] >= 0)
			pf[n++] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
		if (co.fd >= 0)
			pf[n++] = (struct pollfd){ .fd = co.fd, .events = POLLIN };
		if (ce.fd >= 0)
			pf[n++] = (struct pollfd){ .fd = ce.fd, .events = POLLIN };
		if (!exited && pidfd >= 0)
			pf[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		if (deadline) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				timed_out = 1;
				break;
			}
			wait_ms = left > 1000000 ? 1000000 : (int)left;
		}
		if (pidfd < 0 && !exited && (wait_ms < 0 || wait_ms > 100))
			wait_ms = 100; /* no pidfd: poll for the exit */
		ready = poll(pf, (nfds_t)n, wait_ms);
		if (ready < 0 && errno != EINTR) {
			fail_errno(errno, "error running %s hook #%u: poll", kind, h->index);
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
			goto restore;
		}
		for (int i = 0; i < n && ready > 0; i++) {
			if (!pf[i].revents)
				continue;
			if (pf[i].fd == in[1]) {
				ssize_t w = write(in[1], json + written, json_len - written);
				if (w > 0)
					written += (size_t)w;
				if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == json_len) {
					close(in[1]);
					in[1] = -1;
				}
			} else if (pf[i].fd == co.fd) {
				drain(&co);
			} else if (pf[i].fd == ce.fd) {
				drain(&ce);
			}
		}
		if (!exited && waitpid(child, &status, WNOHANG) == child)
			exited = 1;
	}
	if (timed_out) {
		kill(child, SIGKILL);
		if (!exited)
			waitpid(child, &status, 0);
		/* runc prints the timeout as a Go float with one decimal. */
		fail("error running %s hook #%u: hook ran past specified timeout of %u.0s", kind, h->index,
		     h->timeout);
		goto restore;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = 0;
		goto restore;
	}
	describe_status(what, sizeof what, status);
	fail("error running %s hook #%u: error running hook: %s, stdout: %s, stderr: %s", kind, h->index,
	     what, co.buf, ce.buf);
restore:
	sigaction(SIGPIPE, &old_pipe, NULL);
out:
	close_quiet(in[0]);
	close_quiet(in[1]);
	close_quiet(out[0]);
	close_quiet(out[1]);
	close_quiet(errp[0]);
	close_quiet(errp[1]);
	close_quiet(rep[0]);
	close_quiet(rep[1]);
	close_quiet(co.fd);
	close_quiet(ce.fd);
	close_quiet(pidfd);
	free(json);
	return rc;
}
